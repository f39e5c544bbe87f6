"""Shared CLI plumbing for auditkit: errors to exit codes, and the machine-output convention
both CLIs share (``--json``, ``--json-out PATH``; see :mod:`deidkit.commands._common`)."""

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
from rich.markup import escape

from auditkit.errors import AuditkitError, OutputPathError, UsageError
from auditkit.optional import missing_dependency
from deidkit.commands._common import (
    JsonFlag,
    JsonOutOption,
    JsonTarget,
    emit_json,
    json_target,
)
from deidkit.commands._common import check_json_out as _check_json_out
from deidkit.core.io import PathMap

__all__ = [
    "DEBUG_ENV_VARS",
    "EXIT_FAIL",
    "EXIT_INSUFFICIENT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "JsonFlag",
    "JsonOutOption",
    "JsonTarget",
    "check_json_out",
    "cli_errors",
    "configure_logging",
    "emit_json",
    "json_target",
    "report_internal_error",
    "stderr_console",
]

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INSUFFICIENT = 4
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug
EXIT_INTERRUPTED = 130  # 128 + SIGINT: stopped by Ctrl-C

#: Set either to 1 to get the traceback of an internal error (as ``--verbose`` does).
DEBUG_ENV_VARS: Final = ("AUDITKIT_DEBUG", "DEIDKIT_DEBUG")

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
    data (a label, an attribute). ``--verbose`` or ``AUDITKIT_DEBUG=1`` / ``DEIDKIT_DEBUG=1``
    add the traceback.

    An import of a missing optional package is no bug but an extra not installed (``eval``
    for evaluate/report/gate, ``audit`` for predict/demo): one line naming it, exit 1.
    """
    missing = missing_dependency(exc)
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr, flush=True)
        return EXIT_FAIL
    debug = any(os.environ.get(name, "") not in ("", "0") for name in DEBUG_ENV_VARS)
    if _verbose or debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"internal error (this is a bug): {type(exc).__name__}", file=sys.stderr, flush=True)
    return EXIT_INTERNAL


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Print library errors on stderr and exit 2 (usage) or 1 (other); anything else: 70."""
    try:
        yield
    except AuditkitError as exc:
        # escape: a message quotes file names and arguments, which may hold markup brackets
        stderr_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAIL) from None
    except KeyboardInterrupt:
        # 130 = 128 + SIGINT, as shells report it; 1 would read as "files held back".
        print("interrupted: run the same command again to resume", file=sys.stderr, flush=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise  # Typer's own ways out (Exit and Abort are RuntimeErrors): not bugs
    except Exception as exc:
        raise typer.Exit(report_internal_error(exc)) from None


def check_json_out(
    target: JsonTarget,
    *,
    inputs: PathMap | None = None,
    others: PathMap | None = None,
    force: bool = False,
) -> None:
    """``--json-out PATH`` by the one output-path rule, as auditkit's usage error (exit 2)."""
    _check_json_out(target, inputs=inputs, others=others, force=force, error=OutputPathError)
