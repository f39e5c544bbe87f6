"""CLI command: ``auditkit report`` (RESULTS.json -> one self-contained HTML file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


def report(
    results: Annotated[
        Path,
        typer.Argument(help="RESULTS.json written by `auditkit evaluate`.", show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="Earlier RESULTS.json: show the change of every metric."),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Policy for the verdict banner: a shipped name (`auditkit policies list`) or a "
            "YAML file.",
        ),
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(
            "--predictions",
            help="Predictions table (CSV/Parquet) the results came from: enables ROC curves and "
            "reliability diagrams by group.",
        ),
    ] = None,
    label: Annotated[str, typer.Option("--label", help="Label column of --predictions.")] = "label",
    score: Annotated[
        str | None,
        typer.Option("--score", help="Score column of --predictions (default: from the results)."),
    ] = None,
    min_cell_size: Annotated[
        int | None,
        typer.Option(
            "--min-cell-size",
            min=1,
            help="Show groups smaller than this as counts-suppressed (default: policy's, else 10).",
        ),
    ] = None,
    title: Annotated[
        str, typer.Option("--title", help="Report title.")
    ] = "Subgroup performance and fairness audit",
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --out or --json-out file.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Write the HTML audit report: verdict, forest plots, ROC and reliability by group,
    intersections, disparities, insufficient evidence and change since a baseline.

    Example: auditkit report results.json --out report.html --policy strict-predeployment
    --predictions predictions.parquet
    """
    configure_logging(verbose)
    from auditkit.gate import resolve_policy
    from auditkit.report.html import report_from_files, write_report
    from deidkit.core.io import check_output_path

    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        inputs = {
            "RESULTS": results,
            "--baseline": baseline,
            "--policy": resolve_policy(policy)[0] if policy is not None else None,
            "--predictions": predictions,
        }
        check_output_path(
            out,
            option="--out",
            inputs=inputs,
            others={"--json-out": target.file},
            sensitive=True,
            force=force,
            error=OutputPathError,
        )
        check_json_out(target, inputs=inputs, others={"--out": out}, force=force)
        html = report_from_files(
            results,
            baseline=baseline,
            policy=policy,
            predictions=predictions,
            label=label,
            score=score,
            min_cell_size=min_cell_size,
            title=title,
        )
        write_report(out, html)
        emit_json(target, {"report": str(out)})
    stderr_console.print(f"report written: {out}", highlight=False, markup=False)
    if target.text:
        typer.echo(str(out))


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("report")(report)
