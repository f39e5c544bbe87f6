"""CLI commands: ``pixels scan``, burned-in PHI in pixel data, found and shown, never changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deidkit.commands._common import (
    EXIT_HELD_BACK,
    EXIT_OK,
    EXIT_PHI_FOUND,
    JsonFlag,
    JsonOutOption,
    check_json_out,
    cli_errors,
    configure_logging,
    emit_json,
    json_target,
)
from deidkit.core.errors import UsageError
from deidkit.core.io import OutputKind, check_output_path

pixels_app = typer.Typer(
    help="Burned-in text in pixel data (Tesseract OCR).", no_args_is_help=True
)

SCAN_HELP = "\n\n".join(
    [
        "Read every frame of every image under INPUT for burned-in PHI; change nothing.",
        "Each frame is rendered (windowed, both polarities) and read by Tesseract; words that "
        "hold the file's own header values (names, IDs, dates in any format, accession, "
        "institution) or generic PHI (dates, long numbers, values after Name:/ID/DOB) are "
        "flagged, with the boxes of matching --regions rules. Files are named by number.",
        "--report DIR writes contact sheets (PNG) of the flagged frames with their boxes and "
        "scan.json (numbers to relative paths): it shows patient pixels, keep it private.",
        "Exit 0: no PHI read; 3: PHI read in some file; 1: a file could not be read, or "
        "Tesseract is missing; 2: usage error.",
        "Example: deidkit pixels scan export/ --report pixel-review/",
    ]
)


def scan(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="A DICOM file or folder (read only).")
    ],
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Folder for contact sheets (PNG) and scan.json."),
    ] = None,
    regions: Annotated[
        Path | None,
        typer.Option(
            "--regions",
            help="Known text regions (deidkit JSON, a deid recipe's %filter, a CTP script).",
        ),
    ] = None,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --json-out file.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    configure_logging(verbose)
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        if not input_path.exists():
            raise UsageError("INPUT does not exist")
        inputs = {"INPUT": input_path, "--regions": regions}
        check_json_out(target, inputs=inputs, force=force)
        if report is not None:
            check_output_path(
                report, option="--report", kind=OutputKind.FOLDER, inputs=inputs,
                sensitive=True, force=force,
            )  # fmt: skip
        from deidkit.pixels.regions import load_regions, shipped_regions
        from deidkit.pixels.scan import scan_tree

        rules = shipped_regions() + (load_regions(regions) if regions is not None else [])
        summary = scan_tree(input_path, regions=rules, report=report)
        emit_json(target, summary.to_json(), sort_keys=True)
    if target.text:
        _print_summary(summary.to_json())
    if summary.unreadable:
        raise typer.Exit(EXIT_HELD_BACK)
    raise typer.Exit(EXIT_PHI_FOUND if summary.flagged else EXIT_OK)


def _print_summary(document: dict[str, object]) -> None:
    typer.echo(
        f"pixels scan: {document['files']} files, {document['frames']} frames, "
        f"{document['flagged_files']} with PHI read, {document['unreadable_files']} unreadable"
    )
    for entry in document["results"]:  # type: ignore[attr-defined]
        if entry["boxes"] or entry.get("error"):
            detail = entry.get("error") or ", ".join(f"{k} {v}" for k, v in entry["boxes"].items())
            typer.echo(f"  input #{entry['input']}: {detail}")
    if document["sheets"]:
        typer.echo(f"  contact sheets: {len(document['sheets'])} (in --report)")  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    pixels_app.command("scan", help=SCAN_HELP)(scan)
    app.add_typer(pixels_app, name="pixels")
