"""CLI command ``auditkit predict``: a thin layer over :func:`auditkit.inference.predict`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from auditkit.commands._common import (
    EXIT_FAIL,
    EXIT_OK,
    JsonFlag,
    JsonOutOption,
    check_json_out,
    cli_errors,
    configure_logging,
    emit_json,
    json_target,
    stderr_console,
)
from auditkit.errors import UsageError

HELP = (
    "Run an imaging model over a manifest and write one prediction row per case.\n\n"
    "MODEL is a TorchScript file, a MONAI bundle folder, an .onnx file (needs onnxruntime)"
    " or a package.module:function factory with --weights. DATA is a CSV/Parquet manifest "
    "with an image column (DICOM file, DICOM series folder or NIfTI) and a label column. "
    "Writes OUT.parquet, OUT.csv and OUT.provenance.json (and OUT_masks/ for "
    "segmentation). Exit 0 when every row succeeded, 1 when some rows failed (they are "
    "kept with status=failed and a reason; use --allow-failures to exit 0), 2 on usage "
    "errors.\n\n"
    "Example:\n\n"
    "  auditkit predict --model model.ts --data manifest.csv --out preds --spatial-size 64,64\n"
)


def _ints(text: str | None, name: str) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{name} must be comma-separated integers, e.g. 96,96,96") from None


def _floats(text: str | None, name: str) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{name} must be comma-separated numbers, e.g. 1.5,1.5,2") from None


def predict(
    model: Annotated[str, typer.Option("--model", "-m", help="Model file, bundle or factory.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Manifest (CSV or Parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Predictions path (stem).")],
    task: Annotated[
        str, typer.Option(help="binary | multiclass | regression | segmentation.")
    ] = "binary",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N].")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Images per batch.")] = 8,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 0,
    amp: Annotated[bool, typer.Option(help="float16 autocast on CUDA.")] = False,
    image_column: Annotated[str, typer.Option(help="Manifest column of image paths.")] = "image",
    label_column: Annotated[
        str, typer.Option(help="Manifest column of labels (mask paths for segmentation).")
    ] = "label",
    no_label: Annotated[
        bool, typer.Option("--no-label", help="The manifest has no labels.")
    ] = False,
    spatial_size: Annotated[
        str | None,
        typer.Option(help="Model input size, e.g. 96,96,96 (patch for segmentation)."),
    ] = None,
    spacing: Annotated[str | None, typer.Option(help="Resample to this spacing (mm).")] = None,
    intensity: Annotated[
        str | None,
        typer.Option(help="none | window:LOW,HIGH | percentile:LO,HI | minmax | zscore."),
    ] = None,
    spatial_dims: Annotated[int | None, typer.Option(help="2 or 3 (default from size).")] = None,
    channels: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Model input channels (default: the bundle's, else 1). Grey images are "
            "repeated to fill them; colour DICOM (RGB, YBR, PALETTE COLOR) is RGB for 3.",
        ),
    ] = None,
    colour_to_grey: Annotated[
        bool,
        typer.Option(
            "--colour-to-grey",
            help="Score colour images (RGB, YBR, PALETTE COLOR) with a model of other than 3 "
            "channels as their luminance (ITU-R BT.601) instead of failing the row.",
        ),
    ] = False,
    class_names: Annotated[
        str | None, typer.Option(help="Comma-separated multiclass output names.")
    ] = None,
    model_kind: Annotated[
        str | None, typer.Option(help="torchscript | bundle | factory | onnx (auto).")
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="State dict for a factory model.")] = None,
    cohort: Annotated[
        Path | None, typer.Option(help="Cohort manifest from deidkit scrub to join in.")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Project key for site pseudonyms (or $DEIDKIT_KEY).")
    ] = None,
    dicom_seg: Annotated[
        bool,
        typer.Option(
            "--dicom-seg",
            help="Segmentation of DICOM input: also write DICOM SEG objects referencing the "
            "source series, in OUT_seg/ (they carry the source's patient and study).",
        ),
    ] = False,
    vendor_table: Annotated[
        Path | None,
        typer.Option(help="YAML of Manufacturer spellings added to the shipped vendor table."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overlap: Annotated[float, typer.Option(help="Sliding-window overlap.")] = 0.25,
    force: Annotated[bool, typer.Option(help="Replace existing outputs and --json-out.")] = False,
    allow_failures: Annotated[bool, typer.Option(help="Exit 0 even if rows failed.")] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            metavar="I/N",
            help="Predict only shard I of N of the rows (1-based; every N-th row): several "
            "machines split one run, then auditkit merge joins their outputs.",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    configure_logging(verbose)
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        from auditkit.inference.outputs import dicom_seg_dir, output_paths
        from auditkit.inference.run import predict as run_predict
        from auditkit.inference.shards import parse_shard
        from deidkit.core.errors import DeidkitError
        from deidkit.core.keys import KEY_ENV_VAR, load_key

        written = dict(
            zip(("parquet", "csv", "provenance", "masks"), output_paths(out), strict=True)
        )
        if dicom_seg:
            written["seg"] = dicom_seg_dir(out)
        check_json_out(
            target,
            inputs={
                "--model": Path(model) if Path(model).exists() else None,
                "--data": data,
                "--weights": weights,
                "--cohort": cohort,
                "--key-file": key_file,
                "--vendor-table": vendor_table,
            },
            others={f"--out ({kind})": path for kind, path in written.items()},
            force=force,
        )
        key = None
        if key_file is not None or os.environ.get(KEY_ENV_VAR):
            try:
                key = load_key(key_file, allow_ephemeral=False)
            except DeidkitError as exc:
                raise UsageError(str(exc)) from None
        run = run_predict(
            model=model,
            manifest=data,
            out=out,
            task=task,
            device=device,
            batch_size=batch_size,
            workers=workers,
            amp=amp,
            image_column=image_column,
            label_column=None if no_label else label_column,
            spatial_size=_ints(spatial_size, "--spatial-size"),
            spacing=_floats(spacing, "--spacing"),
            intensity=intensity,
            seed=seed,
            progress=progress,
            model_kind=model_kind,
            weights=weights,
            spatial_dims=spatial_dims,
            class_names=class_names.split(",") if class_names else None,
            cohort=cohort,
            key=key,
            overlap=overlap,
            overwrite=force,
            vendor_table=vendor_table,
            shard=parse_shard(shard) if shard is not None else None,
            dicom_seg=dicom_seg,
            channels=channels,
            colour_to_grey=colour_to_grey,
        )
    for warning in run.warnings:
        stderr_console.print(f"[yellow]warning:[/] {escape(warning['message'])}", highlight=False)
    summary = {
        "predictions_parquet": str(run.parquet_path),
        "predictions_csv": str(run.csv_path),
        "provenance": str(run.provenance_path),
        "masks": str(run.mask_dir) if run.mask_dir else None,
        "dicom_seg": str(run.seg_dir) if run.seg_dir else None,
        "task": run.task,
        "device": run.device,
        "rows": run.n_ok + run.n_failed,
        "ok": run.n_ok,
        "failed": run.n_failed,
        "warnings": list(run.warnings),
    }
    with cli_errors():
        emit_json(target, summary)
    if target.text:
        typer.echo(
            f"{run.parquet_path}\n{run.csv_path}\n{run.provenance_path}\n"
            f"{summary['rows']} rows: {run.n_ok} ok, {run.n_failed} failed on {run.device}"
        )
    if run.n_failed and not allow_failures:
        more = "" if verbose else " (--verbose logs the first model failure's traceback)"
        stderr_console.print(
            f"[yellow]{run.n_failed} row(s) failed; see the 'error' column{more}[/]",
            highlight=False,
        )
        raise typer.Exit(EXIT_FAIL)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add ``predict`` to ``app``."""
    app.command("predict", help=HELP)(predict)
