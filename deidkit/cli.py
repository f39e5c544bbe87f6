"""The ``deidkit`` command line: a thin Typer layer over the library."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from typing import NoReturn

from deidkit.scrub.workers.prestart import prestart_scrub_workers

# Before the heavy imports below: a `deidkit scrub` run starts its worker server now, so the
# server imports the engine on another core while this process imports the commands.
prestart_scrub_workers()

import typer  # noqa: E402

from deidkit import __version__  # noqa: E402
from deidkit.commands import deface, profiles, pseudonymise, scrub, verify  # noqa: E402

app = typer.Typer(
    name="deidkit",
    help="De-identify medical images: scrub DICOM headers (PS3.15 Annex E), pseudonymise, "
    "deface head scans, and verify a release holds no residual PHI.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold patient data
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deidkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """deidkit: privacy de-identification of medical images."""


for _module in (scrub, profiles, pseudonymise, verify, deface):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as exc:
        _exit_now(exc.code)


def _exit_now(code: object) -> NoReturn:
    """End the process once the command is done, without Python's interpreter teardown.

    Tearing down every imported module (Typer, Rich, the engine) took 80-100 ms after each
    command, longer than some commands themselves. Everything that shutdown must do still
    happens: exit handlers run (they flush and close what libraries registered), logging is
    shut down and the standard streams are flushed; every file deidkit writes is closed (and
    renamed into place) before its command returns.
    """
    status = code if isinstance(code, int) else 0 if code is None else 1
    if not isinstance(code, int | None):
        print(code, file=sys.stderr)  # what sys.exit("message") prints
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe: nothing left to say
            stream.flush()
    os._exit(status)
