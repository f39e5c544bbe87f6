"""CLI commands: pseudonymise (tables, BIDS), reidentify, linkage export/check.

Each command parses its options, makes one call into :mod:`deidkit.pseudonymise`
(:func:`~deidkit.pseudonymise.source.pseudonymise_source`, the
:mod:`~deidkit.pseudonymise.reidentify` functions, the linkage store) and renders the
typed result as text or ``--json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from deidkit.commands._common import (
    EXIT_HELD_BACK,
    JsonFlag,
    JsonOutOption,
    JsonTarget,
    check_json_out,
    cli_errors,
    emit_json,
    json_target,
    stderr_console,
)
from deidkit.core.errors import UsageError
from deidkit.core.io import check_output_path
from deidkit.pseudonymise.linkage import open_linkage_reader
from deidkit.pseudonymise.reidentify import reidentify_batch, reidentify_pseudonym, revealed

KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="Project key file (mode 0600); default: $DEIDKIT_KEY.",
        show_default=False,
    ),
]
LinkageKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--linkage-key-file",
        help="Separate key that encrypts the linkage (default: derived from the project key).",
        show_default=False,
    ),
]
ForceJsonOpt = Annotated[bool, typer.Option("--force", help="Replace an existing --json-out file.")]


def parse_shift_range(text: str) -> tuple[int, int]:
    """Parse ``LOW:HIGH`` (days, e.g. ``-3650:-365``)."""
    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError
        result = (int(low), int(high))
    except ValueError:
        raise UsageError("--date-shift-range must be LOW:HIGH in days, e.g. -3650:-365") from None
    if result[0] > result[1]:
        raise UsageError("--date-shift-range: LOW must not exceed HIGH")
    return result


def _emit(data: Any, target: JsonTarget, lines: list[str], *, private: bool = False) -> None:
    emit_json(target, data, sort_keys=True, private=private)
    if target.text:
        for line in lines:
            typer.echo(line)


def pseudonymise(
    source: Annotated[
        Path, typer.Argument(help="Table (.csv/.tsv/.parquet) or, with --bids, a BIDS folder.")
    ],
    output: Annotated[
        Path, typer.Argument(help="New output table (format by extension) or folder.")
    ],
    id_column: Annotated[
        list[str] | None,
        typer.Option(
            "--id-column",
            help="ID column to pseudonymise, COL or COL:KIND "
            "(KIND: patient, accession, uid, site, other, bids). Repeatable.",
        ),
    ] = None,
    patient_column: Annotated[
        str | None,
        typer.Option("--patient-column", help="Patient ID column (keys the date offset)."),
    ] = None,
    date_column: Annotated[
        list[str] | None, typer.Option("--date-column", help="Date column to shift. Repeatable.")
    ] = None,
    drop_column: Annotated[
        list[str] | None, typer.Option("--drop-column", help="Column to remove. Repeatable.")
    ] = None,
    empty_column: Annotated[
        list[str] | None,
        typer.Option("--empty-column", help="Column to keep but blank out. Repeatable."),
    ] = None,
    keep_column: Annotated[
        list[str] | None,
        typer.Option("--keep-column", help="Column to copy unchanged. Repeatable."),
    ] = None,
    keep_unlisted: Annotated[
        bool, typer.Option("--keep-unlisted", help="Copy every column not named by an option.")
    ] = False,
    bids: Annotated[bool, typer.Option("--bids", help="SOURCE is a BIDS tree.")] = False,
    key_file: KeyFileOpt = None,
    linkage: Annotated[
        Path | None,
        typer.Option("--linkage", help="Append original -> pseudonym pairs to this linkage file."),
    ] = None,
    linkage_key_file: LinkageKeyOpt = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Take the date shift range from a profile; with --bids its Table E.1-1 codes "
            "also rule the JSON sidecars' keys (default basic: dates removed; research: "
            "dates shifted).",
        ),
    ] = None,
    date_shift_range: Annotated[
        str | None,
        typer.Option("--date-shift-range", help="Date offset range LOW:HIGH in days."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output table or --json-out file.")
    ] = False,
    copy_metadata_as_is: Annotated[
        bool,
        typer.Option(
            "--copy-metadata-as-is",
            help="With --bids: copy NIfTI headers and JSON sidecars unchanged (names, "
            "unshifted dates and all) instead of scrubbing them.",
        ),
    ] = False,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
) -> None:
    """Pseudonymise a clinical table or a BIDS tree with the same pseudonyms as the images.

    Every column needs an action: --id-column, --date-column, --drop-column,
    --empty-column, --keep-column (or --keep-unlisted).

    Example: deidkit pseudonymise labs.csv labs.pseud.csv --patient-column mrn
    --date-column drawn --keep-column value --key-file project.key
    """
    from deidkit.pseudonymise.source import ColumnOptions, pseudonymise_source

    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        check_json_out(
            target,
            inputs={
                "SOURCE": source,
                "--key-file": key_file,
                "--linkage-key-file": linkage_key_file,
            },
            others={"OUTPUT": output, "--linkage": linkage},
            force=force,
        )
        shift = parse_shift_range(date_shift_range) if date_shift_range is not None else None
        columns = ColumnOptions(
            id_columns=tuple(id_column or ()),
            patient_column=patient_column,
            date_columns=tuple(date_column or ()),
            drop_columns=tuple(drop_column or ()),
            empty_columns=tuple(empty_column or ()),
            keep_columns=tuple(keep_column or ()),
            keep_unlisted=keep_unlisted,
        )
        # Tables and BIDS trees exist to join the images: a missing key is refused there.
        result = pseudonymise_source(
            source,
            output,
            columns=columns,
            bids=bids,
            key_file=key_file,
            linkage=linkage,
            linkage_key_file=linkage_key_file,
            profile=profile,
            date_shift_range=shift,
            overwrite=force,
            copy_metadata_as_is=copy_metadata_as_is,
        )
    if result.bids is not None and result.bids.metadata_as_is:
        stderr_console.print(
            "warning: NIfTI headers and JSON sidecars were copied as they are "
            "(--copy-metadata-as-is); run deidkit verify before releasing the tree",
            markup=False,
            highlight=False,
        )
    lines: list[str] = []
    if result.bids is not None:
        tree = result.bids
        lines.append(
            f"{output}: {tree.subjects} subjects, {tree.files} files "
            f"({tree.renamed} renamed, {tree.rewritten} rewritten)"
        )
    if result.table is not None:
        table = result.table
        if table.kept_unlisted:
            # escape: column names come from the file
            kept = escape(", ".join(table.kept_unlisted))
            stderr_console.print(f"note: kept unlisted columns unchanged: {kept}")
        lines.append(
            f"{output}: {table.rows} rows; pseudonymised {', '.join(table.pseudonymised)}"
            + (f"; shifted {', '.join(table.shifted)}" if table.shifted else "")
            + (f"; dropped {', '.join(table.dropped)}" if table.dropped else "")
        )
    with cli_errors():
        _emit(result.to_json(), target, lines)


def reidentify(
    linkage: Annotated[Path, typer.Option("--linkage", help="The linkage file.")],
    pseudonym: Annotated[
        str | None, typer.Argument(help="A pseudonym (patient, accession, UID ...).")
    ] = None,
    key_file: KeyFileOpt = None,
    linkage_key_file: LinkageKeyOpt = None,
    batch: Annotated[
        Path | None, typer.Option("--batch", help="CSV of pseudonyms to resolve.")
    ] = None,
    column: Annotated[
        str | None, typer.Option("--column", help="Column of --batch holding the pseudonyms.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the batch result here (default: stdout).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --out or --json-out file.")
    ] = False,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
) -> None:
    """Return the originals behind pseudonyms, for a holder of the linkage key.

    The result is PHI by design: it goes to stdout, --out or --json-out only (files written
    owner-only, never into a release, never over an input or, without --force, an existing
    file).

    Example: deidkit reidentify PABCD... --linkage release.dkl --key-file project.key
    """
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        if (pseudonym is None) == (batch is None):
            raise UsageError("give one PSEUDONYM or --batch CSV --column COL")
        if batch is not None and column is None:
            raise UsageError("--batch needs --column")
        if out is not None and batch is None:
            raise UsageError("--out applies to --batch")
        inputs = {
            "--batch": batch,
            "--linkage": linkage,
            "--key-file": key_file,
            "--linkage-key-file": linkage_key_file,
        }
        if out is not None:
            check_output_path(
                out,
                option="--out",
                inputs=inputs,
                others={"--json-out": target.file},
                sensitive=True,
                force=force,
            )
        check_json_out(target, inputs=inputs, others={"--out": out}, force=force)
        store = open_linkage_reader(linkage, key_file=key_file, linkage_key_file=linkage_key_file)
        if pseudonym is not None:
            found = reidentify_pseudonym(store, pseudonym)
            lines = [f"{e.kind}\t{revealed(e)}" for e in found.entries]
            _emit(found.to_json(), target, lines, private=True)
            return
        assert batch is not None and column is not None
        answers = reidentify_batch(store, batch, column, out=out, overwrite=force)
        # With --out the CSV is in that file only (stdout then carries no PHI by default).
        emit_json(target, answers.to_json(), private=True)
    if answers.out is None and target.text:
        typer.echo(answers.csv_text(), nl=False)
    stderr_console.print(
        f"{answers.pseudonyms} pseudonyms, {answers.missing} not found", highlight=False
    )


linkage_app = typer.Typer(
    name="linkage",
    help="Inspect and export the encrypted linkage file.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@linkage_app.command("export")
def linkage_export(
    linkage: Annotated[Path, typer.Option("--linkage", help="The linkage file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the mapping files.")],
    fmt: Annotated[
        str, typer.Option("--format", help="midi-b (uid/patid mapping CSVs), csv or json.")
    ] = "midi-b",
    key_file: KeyFileOpt = None,
    linkage_key_file: LinkageKeyOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing export files or --json-out file.")
    ] = False,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
) -> None:
    """Write the mapping files (PHI: owner-only, never into a release tree).

    Example: deidkit linkage export --linkage release.dkl --key-file project.key
    --format midi-b --out mapping/
    """
    from deidkit.pseudonymise.midib import ExportFormat, export_linkage

    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        try:
            layout = ExportFormat(fmt)
        except ValueError:
            raise UsageError("--format must be midi-b, csv or json") from None
        inputs = {
            "--linkage": linkage,
            "--key-file": key_file,
            "--linkage-key-file": linkage_key_file,
        }
        check_json_out(target, inputs=inputs, others={"--out": out}, force=force)
        store = open_linkage_reader(linkage, key_file=key_file, linkage_key_file=linkage_key_file)
        paths = export_linkage(store, out, fmt=layout, overwrite=force)
        files = [str(p) for p in paths]
        _emit({"format": layout.value, "files": files}, target, files)


@linkage_app.command("check")
def linkage_check(
    linkage: Annotated[Path, typer.Option("--linkage", help="The linkage file.")],
    key_file: KeyFileOpt = None,
    linkage_key_file: LinkageKeyOpt = None,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: ForceJsonOpt = False,
) -> None:
    """Authenticate every record of a linkage file and count them (no values shown).

    Exits 1 when the file is not complete: truncated (a torn tail), a damaged record, or no
    record at all. It then says how many records and entries it could read and the index
    (from 0) of the record where reading stopped ("stopped_at_record" in --json).

    Example: deidkit linkage check --linkage release.dkl --key-file project.key
    """
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        inputs = {
            "--linkage": linkage,
            "--key-file": key_file,
            "--linkage-key-file": linkage_key_file,
        }
        check_json_out(target, inputs=inputs, force=force)
        store = open_linkage_reader(linkage, key_file=key_file, linkage_key_file=linkage_key_file)
        report = store.check()
    if report.complete:
        line = f"{linkage.name}: {report.records} records, {report.entries} entries, intact"
        with cli_errors():
            _emit(report.to_json(), target, [line])
        return
    why = {
        "truncated": f"truncated: a torn record of {report.torn_tail_bytes} bytes at the end",
        "damaged": report.damage,
        "no_records": "no record after the header: the file was cut",
    }[report.problem or ""]
    line = (
        f"{linkage.name}: {report.records} readable records, {report.entries} entries; "
        f"reading stopped at record {report.stopped_at_record}"
    )
    with cli_errors():
        _emit(report.to_json(), target, [line])
    stderr_console.print(
        f"error: {linkage.name} is incomplete ({why})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(EXIT_HELD_BACK)


def register(app: typer.Typer) -> None:
    """Add pseudonymise, reidentify and the linkage group to ``app``."""
    app.command("pseudonymise")(pseudonymise)
    app.command("reidentify")(reidentify)
    app.add_typer(linkage_app, name="linkage")
