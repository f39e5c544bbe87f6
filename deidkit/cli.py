"""The ``deidkit`` command line: a thin Typer layer over the library."""

from __future__ import annotations

from deidkit.prestart import prestart_scrub_workers

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
    app()
