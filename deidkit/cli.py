"""The ``deidkit`` command line: a thin Typer layer over the library.

Importing this module is cheap and starts nothing. :func:`main` (the console script) first
starts the scrub workers' process server when the command line is a ``deidkit scrub`` run
that uses workers (:mod:`deidkit.scrub.workers.prestart`), so the server imports the engine
on another core while this process imports Typer, Rich and the commands; only then is the
Typer application, :data:`app`, built. ``from deidkit.cli import app`` builds it on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from deidkit.scrub.workers.prestart import prestart_scrub_workers

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]

#: The Typer application (built on first use, see :func:`_build_app`).
app: typer.Typer


def __getattr__(name: str) -> object:
    # PEP 562: ``deidkit.cli.app`` is built when it is first looked up.
    if name == "app":
        return _build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _build_app() -> typer.Typer:
    """Import Typer and the commands and assemble :data:`app` (once)."""
    cached: typer.Typer | None = globals().get("app")
    if cached is not None:
        return cached
    import typer

    from deidkit import __version__
    from deidkit.commands import deface, pixels, profiles, pseudonymise, scrub, verify

    built = typer.Typer(
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

    @built.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ) -> None:
        """deidkit: privacy de-identification of medical images."""

    for module in (scrub, profiles, pseudonymise, verify, deface, pixels):
        module.register(built)
    globals()["app"] = built
    return built


def main() -> None:
    """Console-script entry point."""
    # Before the heavy imports of _build_app: a `deidkit scrub` run starts its worker server
    # now, so the server imports the engine on another core while this process imports the
    # commands. Any other command line starts nothing.
    prestart_scrub_workers()
    try:
        _build_app()()
    except SystemExit as exc:
        _exit_now(exc.code)
    except Exception as exc:  # escaped a command's cli_errors(): still a bug, still exit 70
        from deidkit.commands._common import report_internal_error

        _exit_now(report_internal_error(exc))


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
