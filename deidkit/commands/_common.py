"""Shared CLI plumbing: stderr console, logging set-up, error-to-exit-code mapping."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Final

import typer
from rich.console import Console

from deidkit.core.errors import DeidkitError, UsageError, WorkerLostError

EXIT_OK = 0
EXIT_HELD_BACK = 1  # some files held back / could not read something
EXIT_USAGE = 2
EXIT_PHI_FOUND = 3
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug (or workers lost again and again)

#: Set to 1 to get the traceback of an internal error (as ``--verbose`` does).
DEBUG_ENV_VAR: Final = "DEIDKIT_DEBUG"

stderr_console = Console(stderr=True)
_verbose = False  # the last configure_logging(verbose=...): tracebacks of internal errors


def configure_logging(verbose: bool = False) -> None:
    """Log to stderr; only the CLI configures logging."""
    global _verbose
    _verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def report_internal_error(exc: BaseException) -> int:
    """Say on stderr that ``exc`` is a bug, in one line; return the exit code (70).

    Only the exception's type is printed: its message or a traceback can quote patient
    data. ``--verbose`` or ``DEIDKIT_DEBUG=1`` add the traceback, for whoever debugs it.
    """
    if _verbose or os.environ.get(DEBUG_ENV_VAR, "") not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)
    print(f"internal error (this is a bug): {type(exc).__name__}", file=sys.stderr, flush=True)
    return EXIT_INTERNAL


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn library errors into a one-line message on stderr and an exit code.

    Messages of :class:`DeidkitError` never carry patient values, so they are safe to print.
    Usage-type errors exit 2; workers lost again and again exit 70; other library errors
    exit 1. Any other exception is a bug: one line naming its type, exit 70.
    """
    try:
        yield
    except DeidkitError as exc:
        stderr_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(_exit_code(exc)) from None
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise  # Typer's own ways out (Exit and Abort are RuntimeErrors): not bugs
    except Exception as exc:
        raise typer.Exit(report_internal_error(exc)) from None


def _exit_code(exc: DeidkitError) -> int:
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, WorkerLostError):
        return EXIT_INTERNAL
    return EXIT_HELD_BACK
