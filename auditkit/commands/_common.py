"""Shared CLI plumbing for auditkit."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import typer
from rich.console import Console

from auditkit.errors import AuditkitError, UsageError

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INSUFFICIENT = 4

stderr_console = Console(stderr=True)


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr; only the CLI configures logging."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Print library errors on stderr and exit 2 (usage) or 1 (other)."""
    try:
        yield
    except AuditkitError as exc:
        stderr_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAIL) from None
