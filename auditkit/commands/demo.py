"""CLI command: ``auditkit demo`` (a planted scanner bias, found end to end)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditkit.commands._common import (
    JsonFlag,
    JsonOutOption,
    check_json_out,
    cli_errors,
    configure_logging,
    emit_json,
    json_target,
    stderr_console,
)
from auditkit.errors import OutputPathError

if TYPE_CHECKING:
    from auditkit.demo import DemoResult


def demo(
    outdir: Annotated[Path, typer.Argument(help="Folder for data, models, reports.")],
    device: Annotated[
        str, typer.Option("--device", help="auto, cpu or cuda (training and inference).")
    ] = "auto",
    size: Annotated[
        str, typer.Option("--size", help="tiny, small (about a minute on CPU) or full.")
    ] = "small",
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random step.")] = 0,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --json-out file.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Synthesise DICOM data from three scanner vendors, train a small MONAI model on a
    Siemens-dominated split and on a balanced split, and audit both with the real
    predict -> evaluate -> report -> gate pipeline and the strict pre-deployment policy.

    The biased model misses lesions on the under-represented scanner and fails the gate;
    the balanced model passes. Exit code 0 when both verdicts come out as planted.

    Example: auditkit demo demo-output --size small --device cpu
    """
    from auditkit.demo import run_demo
    from deidkit.core.io import OutputKind, check_output_path

    configure_logging(verbose)
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        check_output_path(
            outdir, option="OUTDIR", kind=OutputKind.TREE, sensitive=True, error=OutputPathError
        )
        check_json_out(target, others={"OUTDIR": outdir}, force=force)
        result = run_demo(
            outdir,
            size=size,
            device=device,
            seed=seed,
            log=lambda line: stderr_console.print(line, highlight=False, markup=False),
        )
        by_name = {run.name: run for run in result.runs}
        as_planted = not by_name["biased"].passed and by_name["balanced"].passed
        emit_json(target, _document(result, as_planted=as_planted))
    if target.text:
        _print_summary(result)
    if not as_planted:
        stderr_console.print(
            "[yellow]warning:[/] the verdicts differ from the planted effect "
            "(biased should fail, balanced should pass)",
            highlight=False,
        )
    raise typer.Exit(0 if as_planted else 1)


def _print_summary(result: DemoResult) -> None:
    for run in result.runs:
        typer.echo(f"== {run.name} model: gate {run.verdict.upper()}")
        typer.echo(run.summary)
        typer.echo(f"   report:  {run.report}")
        typer.echo(f"   results: {run.results}")
        typer.echo(f"   junit:   {run.junit}")
        typer.echo(f"   summary: {run.markdown}")
        typer.echo(f"   model:   {run.model}")
        typer.echo("")


def _document(result: DemoResult, *, as_planted: bool) -> dict[str, Any]:
    runs = [
        {
            "name": run.name,
            "verdict": run.verdict,
            "passed": run.passed,
            "report": str(run.report),
            "results": str(run.results),
            "junit": str(run.junit),
            "markdown": str(run.markdown),
            "model": str(run.model),
        }
        for run in result.runs
    ]
    return {"as_planted": as_planted, "runs": runs}


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("demo")(demo)
