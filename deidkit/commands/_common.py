"""Shared CLI plumbing: stderr console, logging set-up, error-to-exit-code mapping."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import typer
from rich.console import Console

from deidkit.core.errors import DeidkitError, UsageError

EXIT_OK = 0
EXIT_HELD_BACK = 1  # some files held back / could not read something
EXIT_USAGE = 2
EXIT_PHI_FOUND = 3

stderr_console = Console(stderr=True)


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr; only the CLI configures logging."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn library errors into a one-line message on stderr and an exit code.

    Messages of :class:`DeidkitError` never carry patient values, so they are safe to print.
    Usage-type errors exit 2; other library errors exit 1.
    """
    try:
        yield
    except DeidkitError as exc:
        stderr_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        code = EXIT_USAGE if isinstance(exc, UsageError) else EXIT_HELD_BACK
        raise typer.Exit(code) from None
