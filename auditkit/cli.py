"""The ``auditkit`` command line: a thin Typer layer over the library."""

from __future__ import annotations

import sys

import typer

from auditkit import __version__
from auditkit.commands import demo, evaluate, gate, merge, policies, predict, report

app = typer.Typer(
    name="auditkit",
    help="Audit imaging models across patient and scanner subgroups: predict, evaluate with "
    "confidence intervals, report as HTML, gate CI on a policy.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """auditkit: subgroup performance and fairness audits."""


for _module in (predict, merge, evaluate, report, gate, policies, demo):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except Exception as exc:  # escaped a command's cli_errors(): still a bug, still exit 70
        from auditkit.commands._common import report_internal_error

        sys.exit(report_internal_error(exc))
