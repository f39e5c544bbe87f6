"""CLI command ``auditkit evaluate``: subgroup metrics with CIs and disparities -> RESULTS.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from auditkit.commands._common import (
    JsonFlag,
    JsonOutOption,
    check_json_out,
    cli_errors,
    configure_logging,
    json_target,
    stderr_console,
)
from auditkit.errors import OutputPathError
from auditkit.evaluate.task import Task

HELP = """Evaluate predictions per subgroup: metrics with bootstrap CIs, disparities, RESULTS.json.

One global threshold for every group (score >= threshold is positive); --threshold may be
repeated (several operating points). Groups smaller than --min-group-size are reported as
insufficient evidence and left out of disparities; a group with one class takes part in the
metrics defined without the other; empty attribute cells form an explicit "missing" group.
Disparity tests are omnibus tests of "all groups equal" (Holm across attributes and metrics,
or --adjust bh); --reference-group adds each group against a reference as a second view.

Example:

  auditkit evaluate predictions.csv --task binary --label label --score score
  --patient patient_id --group sex --group manufacturer --intersections 2 --out RESULTS.json
"""


def _summary(document: dict[str, Any]) -> Table:
    task = document["task"]
    keys = {
        "binary": ("auroc", "tpr", "fpr", "ece"),
        "multiclass": ("accuracy", "macro_auroc", "macro_tpr"),
        "regression": ("mae", "bias"),
    }.get(task, tuple(document["overall"]["metrics"])[:3])
    table = Table(title=f"auditkit evaluate ({task})")
    for column in ("attribute", "group", "n", "status", *keys):
        table.add_column(column)

    def cell(metric: dict[str, Any] | None) -> str:
        if not metric or metric["value"] is None:
            return "-"
        text = f"{metric['value']:.3f}"
        if metric["ci_low"] is not None and metric["ci_high"] is not None:
            text += f" [{metric['ci_low']:.3f}, {metric['ci_high']:.3f}]"
        return text

    for entry in [document["overall"], *document["groups"], *document["intersections"]]:
        table.add_row(
            # escape: attribute and group names come from the predictions table
            escape(entry["attribute"]),
            escape(entry["group"]),
            str(entry["n"]),
            entry["status"],
            *(cell(entry["metrics"].get(k)) for k in keys),
        )
    return table


def evaluate(
    predictions: Annotated[
        Path,
        typer.Argument(help="Predictions table (.csv or .parquet).", exists=True, dir_okay=False),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="RESULTS.json to write.")],
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="Attribute column to audit (repeatable)."),
    ] = None,
    task: Annotated[Task, typer.Option("--task", help="Kind of model output.")] = Task.BINARY,
    label: Annotated[str, typer.Option("--label", help="Label column.")] = "label",
    score: Annotated[
        list[str] | None,
        typer.Option(
            "--score",
            help="Score column(s); multiclass: a prefix such as score_ or repeated columns. "
            "Default: score / score_ / prediction / dice+hd95 by task.",
        ),
    ] = None,
    patient: Annotated[
        str | None,
        typer.Option("--patient", help="Patient column: bootstrap resamples patients."),
    ] = None,
    intersections: Annotated[
        int, typer.Option("--intersections", min=1, help="Cross up to this many attributes.")
    ] = 1,
    threshold: Annotated[
        list[float] | None,
        typer.Option(
            "--threshold",
            help="Fixed global threshold (default 0.5); repeat for several operating points "
            "(the first is the top level of RESULTS.json, the others operating_points).",
        ),
    ] = None,
    threshold_from: Annotated[
        str | None,
        typer.Option("--threshold-from", help="youden | fixed-specificity:S, chosen on all rows."),
    ] = None,
    target_specificity: Annotated[
        float,
        typer.Option("--target-specificity", help="Specificity for tpr_at_fixed_specificity."),
    ] = 0.9,
    min_group_size: Annotated[
        int, typer.Option("--min-group-size", min=1, help="Smaller groups are insufficient.")
    ] = 30,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap replicates (0: no CIs).")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    adjust: Annotated[
        str,
        typer.Option(
            "--adjust",
            help="Multiple-testing adjustment of the disparity tests: holm (family-wise error) "
            "or bh (Benjamini-Hochberg, false discovery rate).",
        ),
    ] = "holm",
    reference_group: Annotated[
        list[str] | None,
        typer.Option(
            "--reference-group",
            help="ATTRIBUTE=GROUP: reference of the pairwise view (repeatable; default the "
            "largest group).",
        ),
    ] = None,
    normalise_vendor: Annotated[
        list[str] | None,
        typer.Option(
            "--normalise-vendor",
            help="COLUMN of Manufacturer spellings to map to one name per vendor before "
            'grouping ("G.E. Medical Systems", "GEMS" -> GE; repeatable).',
        ),
    ] = None,
    vendor_table: Annotated[
        Path | None,
        typer.Option("--vendor-table", help="YAML of spellings added to the shipped vendor table."),
    ] = None,
    json_output: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --out or --json-out file.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False,
) -> None:
    configure_logging(verbose)
    from auditkit.evaluate.audit import evaluate_file, parse_reference_groups
    from auditkit.results import dumps_results, validate_results
    from deidkit.core.io import atomic_write_text, check_output_path

    target = json_target(as_json=json_output, json_out=json_out)
    with cli_errors():
        check_output_path(
            out,
            option="--out",
            inputs={"PREDICTIONS": predictions, "--vendor-table": vendor_table},
            others={"--json-out": target.file},
            sensitive=True,
            force=force,
            error=OutputPathError,
        )
        check_json_out(
            target, inputs={"PREDICTIONS": predictions}, others={"--out": out}, force=force
        )
        result = evaluate_file(
            predictions,
            task=task,
            label=label,
            scores=tuple(score or ()),
            patient=patient,
            groups=tuple(group or ()),
            threshold=tuple(threshold or ()),
            threshold_from=threshold_from,
            target_specificity=target_specificity,
            intersections=intersections,
            min_group_size=min_group_size,
            n_boot=bootstrap,
            seed=seed,
            adjust=adjust,
            reference_groups=parse_reference_groups(tuple(reference_group or ())),
            vendor_columns=tuple(normalise_vendor or ()),
            vendor_table=vendor_table,
            log=lambda line: stderr_console.print(line, highlight=False, markup=False),
        )
        document = validate_results(result.to_dict())
        text = dumps_results(document)
        atomic_write_text(out, text)
        if target.file is not None:
            atomic_write_text(target.file, text)
    for warning in document["warnings"]:
        message = escape(warning["message"])  # it names columns and groups of the table
        stderr_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    if target.stdout:
        typer.echo(text, nl=False)  # RESULTS.json itself, byte for byte
    else:
        Console().print(_summary(document))
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("evaluate", help=HELP)(evaluate)
