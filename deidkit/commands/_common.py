"""Shared CLI plumbing: stderr console, logging set-up, error-to-exit-code mapping, and the
machine-output convention of every command (``--json``, ``--json-out PATH``, ``--show-paths``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.markup import escape

from deidkit.core.errors import DeidkitError, OutputPathError, UsageError, WorkerLostError
from deidkit.core.io import PathMap, atomic_write_text, check_output_path
from deidkit.core.optional import missing_dependency

EXIT_OK = 0
EXIT_HELD_BACK = 1  # some files held back / could not read something
EXIT_USAGE = 2
EXIT_PHI_FOUND = 3
EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug (or workers lost again and again)
EXIT_INTERRUPTED = 130  # 128 + SIGINT: stopped by Ctrl-C; the same command resumes

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

    An import of a missing optional package is no bug but an extra not installed: one line
    naming the extra, exit 1.
    """
    missing = missing_dependency(exc)
    if missing is not None:
        print(f"error: {missing}", file=sys.stderr, flush=True)
        return EXIT_HELD_BACK
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
        # escape: a message quotes paths and arguments, which may hold markup brackets
        stderr_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(_exit_code(exc)) from None
    except KeyboardInterrupt:
        # 130 = 128 + SIGINT, as shells report it; 1 would read as "files held back".
        print("interrupted: run the same command again to resume", file=sys.stderr, flush=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
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


#: ``--json``: the command's JSON document on stdout, instead of its text summary.
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout (no text summary).")
]
#: ``--json-out PATH``: the same document to a file; ``-`` is stdout, as ``--json``.
JsonOutOption = Annotated[
    Path | None,
    typer.Option(
        "--json-out",
        metavar="PATH",
        help="Write the result as JSON to PATH ('-': stdout, as --json); --force replaces a file.",
        show_default=False,
    ),
]
#: ``--show-paths``: name input files by path on stdout/stderr (local debugging only).
ShowPathsFlag = Annotated[
    bool,
    typer.Option(
        "--show-paths",
        help="Name input files by their paths on stdout and stderr, not by number (local "
        "debugging: input paths often carry patient names).",
    ),
]

STDOUT_PATH: Final = "-"


@dataclass(frozen=True)
class JsonTarget:
    """Where a command's JSON document goes: stdout, a file, both or neither."""

    stdout: bool = False
    file: Path | None = None

    @property
    def text(self) -> bool:
        """Whether the text summary goes to stdout (it does unless JSON takes stdout)."""
        return not self.stdout


def json_target(*, as_json: bool, json_out: Path | None) -> JsonTarget:
    """The target of ``--json`` / ``--json-out PATH`` (``-``: stdout)."""
    to_stdout = json_out is not None and str(json_out) == STDOUT_PATH
    file = None if json_out is None or to_stdout else json_out
    return JsonTarget(stdout=as_json or to_stdout, file=file)


def check_json_out(
    target: JsonTarget,
    *,
    inputs: PathMap | None = None,
    releases: PathMap | None = None,
    others: PathMap | None = None,
    sensitive: bool = True,
    force: bool = False,
    error: Callable[[str], Exception] = OutputPathError,
) -> None:
    """``--json-out PATH`` by the one output-path rule (nothing to check for stdout).

    ``error`` is the usage error to raise: auditkit passes its own, so both CLIs exit 2.
    """
    if target.file is not None:
        check_output_path(
            target.file,
            option="--json-out",
            inputs=inputs,
            releases=releases,
            others=others,
            sensitive=sensitive,
            force=force,
            error=error,
        )


def emit_json(
    target: JsonTarget,
    document: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = False,
    private: bool = False,
) -> None:
    """Write ``document`` to the target's file and/or stdout: the same JSON wherever it goes.

    A JSON file is as public as a log (CI keeps it as an artifact), so neither names an
    input path unless the command was asked to (``--show-paths``). ``private``: the file
    is owner-only (re-identified values).
    """
    text = json.dumps(document, indent=indent, sort_keys=sort_keys)
    if target.file is not None:
        atomic_write_text(target.file, text + "\n", permissions=0o600 if private else None)
    if target.stdout:
        typer.echo(text)
