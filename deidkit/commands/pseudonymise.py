"""CLI commands: pseudonymise (tables, BIDS), reidentify, linkage export/check."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from deidkit.commands._common import cli_errors, stderr_console
from deidkit.core.errors import LinkageError, UsageError
from deidkit.core.io import atomic_write_text, check_output_location
from deidkit.core.keys import ProjectKey, load_key, load_key_file
from deidkit.core.pseudonym import DEFAULT_DATE_SHIFT_RANGE
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore

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
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


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


def _shift_range(profile: str | None, shift: str | None) -> tuple[int, int]:
    if shift is not None:
        return parse_shift_range(shift)
    if profile is not None:
        from deidkit.rules.profile import load_profile

        return load_profile(profile).date_shift_range
    return DEFAULT_DATE_SHIFT_RANGE


def _linkage_store(path: Path, key: ProjectKey, linkage_key_file: Path | None) -> LinkageStore:
    linkage_key = load_key_file(linkage_key_file) if linkage_key_file is not None else None
    return LinkageStore(path, key=key, linkage_key=linkage_key)


def _reader_key(key_file: Path | None, linkage_key_file: Path | None) -> ProjectKey:
    # Reading needs only the key that encrypts: with a separate linkage key the project
    # key is optional (it guards appends only).
    return load_key(key_file, allow_ephemeral=linkage_key_file is not None)


def _emit(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
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
        str | None, typer.Option("--profile", help="Take the date shift range from a profile.")
    ] = None,
    date_shift_range: Annotated[
        str | None,
        typer.Option("--date-shift-range", help="Date offset range LOW:HIGH in days."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output table.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pseudonymise a clinical table or a BIDS tree with the same pseudonyms as the images.

    Every column needs an action: --id-column, --date-column, --drop-column,
    --empty-column, --keep-column (or --keep-unlisted).

    Example: deidkit pseudonymise labs.csv labs.pseud.csv --patient-column mrn
    --date-column drawn --keep-column value --key-file project.key
    """
    from deidkit.pseudonymise.bids import pseudonymise_bids
    from deidkit.pseudonymise.tables import TableSpec, parse_id_column, pseudonymise_table

    with cli_errors():
        shift = _shift_range(profile, date_shift_range)
        # Tables and BIDS trees exist to join the images: pseudonyms of a random key join
        # nothing and the key is lost, so a missing key is refused, never improvised.
        key = load_key(key_file)
        if key.ephemeral:
            raise UsageError(
                "pseudonymise needs a project key: --key-file or $DEIDKIT_KEY "
                "(a random key would give pseudonyms that join nothing)"
            )
        store = _linkage_store(linkage, key, linkage_key_file) if linkage is not None else None
        result: dict[str, Any]
        if source.is_dir() and not bids:
            raise UsageError(f"{source.name} is a folder: add --bids to pseudonymise a BIDS tree")
        if bids:
            table_options = (id_column, patient_column, date_column, drop_column, empty_column)
            if any(table_options) or keep_column or keep_unlisted:
                raise UsageError("column options do not apply to --bids")
            done = pseudonymise_bids(source, output, key=key, linkage=store, date_shift_range=shift)
            result = {
                "subjects": done.subjects,
                "files": done.files,
                "renamed": done.renamed,
                "rewritten": done.rewritten,
                "linkage_entries": done.linkage_entries,
            }
            lines = [
                f"{output}: {done.subjects} subjects, {done.files} files "
                f"({done.renamed} renamed, {done.rewritten} rewritten)"
            ]
        else:
            ids = dict(parse_id_column(spec) for spec in id_column or [])
            spec = TableSpec(
                id_columns=ids,
                patient_column=patient_column,
                date_columns=tuple(date_column or ()),
                drop_columns=tuple(drop_column or ()),
                empty_columns=tuple(empty_column or ()),
                keep_columns=tuple(keep_column or ()),
                keep_unlisted=keep_unlisted,
                date_shift_range=shift,
            )
            if not spec.id_columns and spec.patient_column is None:
                raise UsageError("name at least one --id-column or --patient-column")
            table = pseudonymise_table(
                source, output, key=key, spec=spec, linkage=store, overwrite=force
            )
            result = {
                "rows": table.rows,
                "columns": list(table.columns_out),
                "pseudonymised": list(table.pseudonymised),
                "shifted": list(table.shifted),
                "dropped": list(table.dropped),
                "emptied": list(table.emptied),
                "kept_unlisted": list(table.kept_unlisted),
                "linkage_entries": table.linkage_entries,
            }
            if table.kept_unlisted:
                stderr_console.print(
                    f"note: kept unlisted columns unchanged: {', '.join(table.kept_unlisted)}"
                )
            lines = [
                f"{output}: {table.rows} rows; pseudonymised {', '.join(table.pseudonymised)}"
                + (f"; shifted {', '.join(table.shifted)}" if table.shifted else "")
                + (f"; dropped {', '.join(table.dropped)}" if table.dropped else "")
            ]
        result.update(
            output=str(output),
            key_fingerprint=key.fingerprint,
            key_ephemeral=key.ephemeral,
            date_shift_range=list(shift),
        )
        _emit(result, as_json, lines)


def _entry_dict(entry: LinkageEntry) -> dict[str, str]:
    return {"kind": entry.kind, "original": entry.original, "pseudonym": entry.pseudonym}


def _revealed(entry: LinkageEntry) -> str:
    # A DateOffset entry's answer is the offset in days (its "pseudonym" field).
    return entry.pseudonym if entry.kind == "DateOffset" else entry.original


def _read_pseudonyms(batch: Path, column: str) -> list[str]:
    try:
        with batch.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise UsageError(f"{batch.name} has no column {column}")
            return [(row.get(column) or "").strip() for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error):
        raise UsageError(f"{batch.name} is not a readable CSV file") from None


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
    as_json: JsonOpt = False,
) -> None:
    """Return the originals behind pseudonyms, for a holder of the linkage key.

    The result is PHI by design: it goes to stdout or --out only (written owner-only).

    Example: deidkit reidentify PABCD... --linkage release.dkl --key-file project.key
    """
    with cli_errors():
        if (pseudonym is None) == (batch is None):
            raise UsageError("give one PSEUDONYM or --batch CSV --column COL")
        if batch is not None and column is None:
            raise UsageError("--batch needs --column")
        if out is not None and batch is None:
            raise UsageError("--out applies to --batch")
        key = _reader_key(key_file, linkage_key_file)
        store = _linkage_store(linkage, key, linkage_key_file)
        if pseudonym is not None:
            found = store.lookup(pseudonym)
            if not found:
                raise LinkageError("pseudonym not found in the linkage file")
            _emit(
                {"pseudonym": pseudonym, "entries": [_entry_dict(e) for e in found]},
                as_json,
                [f"{e.kind}\t{_revealed(e)}" for e in found],
            )
            return
        assert batch is not None and column is not None
        if out is not None:
            check_output_location(batch, out)
        wanted = _read_pseudonyms(batch, column)
        table = store.lookup_many(wanted)
        rows = []
        for value in wanted:
            rows += [[value, e.kind, _revealed(e)] for e in table.get(value, [])] or [
                [value, "", ""]
            ]
        missing = sum(1 for value in wanted if not table.get(value))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["pseudonym", "kind", "original"])
        writer.writerows(rows)
        if out is not None:
            atomic_write_text(out, buffer.getvalue(), permissions=0o600)
        elif as_json:
            records = [dict(zip(("pseudonym", "kind", "original"), r, strict=True)) for r in rows]
            typer.echo(json.dumps(records, indent=2))
        else:
            typer.echo(buffer.getvalue(), nl=False)
        stderr_console.print(f"{len(wanted)} pseudonyms, {missing} not found")


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
    force: Annotated[bool, typer.Option("--force", help="Replace existing export files.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the mapping files (PHI: owner-only, never into a release tree).

    Example: deidkit linkage export --linkage release.dkl --key-file project.key
    --format midi-b --out mapping/
    """
    from deidkit.pseudonymise.midib import ExportFormat, export_linkage

    with cli_errors():
        try:
            layout = ExportFormat(fmt)
        except ValueError:
            raise UsageError("--format must be midi-b, csv or json") from None
        key = _reader_key(key_file, linkage_key_file)
        store = _linkage_store(linkage, key, linkage_key_file)
        paths = export_linkage(store, out, fmt=layout, overwrite=force)
        _emit(
            {"format": layout.value, "files": [str(p) for p in paths]},
            as_json,
            [str(p) for p in paths],
        )


@linkage_app.command("check")
def linkage_check(
    linkage: Annotated[Path, typer.Option("--linkage", help="The linkage file.")],
    key_file: KeyFileOpt = None,
    linkage_key_file: LinkageKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Authenticate every record of a linkage file and count them (no values shown).

    Example: deidkit linkage check --linkage release.dkl --key-file project.key
    """
    with cli_errors():
        key = _reader_key(key_file, linkage_key_file)
        report = _linkage_store(linkage, key, linkage_key_file).check()
        _emit(
            {
                "records": report.records,
                "entries": report.entries,
                "torn_tail_bytes": report.torn_tail_bytes,
            },
            as_json,
            [
                f"{linkage.name}: {report.records} records, {report.entries} entries, "
                + ("torn tail record (interrupted append)" if report.torn_tail_bytes else "intact")
            ],
        )


def register(app: typer.Typer) -> None:
    """Add pseudonymise, reidentify and the linkage group to ``app``."""
    app.command("pseudonymise")(pseudonymise)
    app.command("reidentify")(reidentify)
    app.add_typer(linkage_app, name="linkage")
