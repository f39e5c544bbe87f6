"""CLI command ``auditkit merge``: join the outputs of ``auditkit predict --shard i/n``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auditkit.commands._common import (
    EXIT_OK,
    JsonFlag,
    JsonOutOption,
    check_json_out,
    cli_errors,
    configure_logging,
    emit_json,
    json_target,
)

HELP = (
    "Merge the outputs of 'auditkit predict --shard I/N' (I = 1..N) into one predictions "
    "table, the one an unsharded run writes (rows in manifest order, the same case ids), so "
    "that evaluate, report and gate read it as usual.\n\n"
    "SHARD is each shard's --out (stem, .parquet or .csv), in any order; the shards must "
    "come from the same model, manifest and settings, each once. Writes OUT.parquet, OUT.csv "
    "and OUT.provenance.json. Exit 0: merged; 2: usage error (a shard missing, unreadable or "
    "from another run). Needs pandas and pyarrow (the 'eval' extra), no torch.\n\n"
    "Example:\n\n"
    "  auditkit merge preds-1 preds-2 preds-3 --out preds\n"
)


def merge(
    shards: Annotated[
        list[Path], typer.Argument(metavar="SHARD...", help="Each shard's --out of predict.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Merged predictions path (stem).")],
    force: Annotated[bool, typer.Option(help="Replace existing outputs and --json-out.")] = False,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    configure_logging(verbose)
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        from auditkit.inference.shards import merge_predictions

        check_json_out(target, inputs={f"SHARD {i}": p for i, p in enumerate(shards, 1)},
                       force=force)  # fmt: skip
        merged = merge_predictions(shards, out, overwrite=force)
        summary = {
            "predictions_parquet": str(merged.parquet_path),
            "predictions_csv": str(merged.csv_path),
            "provenance": str(merged.provenance_path),
            "shards": merged.shards,
            "rows": merged.rows,
            "ok": merged.ok,
            "failed": merged.failed,
        }
        emit_json(target, summary)
    if target.text:
        typer.echo(
            f"{merged.parquet_path}\n{merged.csv_path}\n{merged.provenance_path}\n"
            f"{merged.rows} rows from {merged.shards} shards: {merged.ok} ok, "
            f"{merged.failed} failed"
        )
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add ``merge`` to ``app``."""
    app.command("merge", help=HELP)(merge)
