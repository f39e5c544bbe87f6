"""Export the linkage as mapping files: MIDI-B scorer layout, plain CSV, JSON.

The exports hold originals, i.e. PHI: they are written owner-only (mode 0600), never
logged, and never into a release tree: a folder that holds DICOM files or a run report,
or that lies inside a folder marked ``.deidkit-release`` or inside a release folder ``X``
with ``X.run-report.json`` beside it (what ``deidkit scrub`` writes).

``midi-b``
    The two files the MIDI-B validation scorer (CBIIT/MIDI_validation_script) reads via
    its config keys ``uid_mapping_file`` and ``patid_mapping_file``: ``uid_mapping.csv``
    and ``patid_mapping.csv``, each with the header ``id_old,id_new`` (the scorer reads
    them with pandas, converters ``{'id_old': str, 'id_new': str}``). UIDs are the Study,
    Series and SOP Instance UIDs plus any other keyed UID; patient ids are PatientID pairs.
``csv``
    ``linkage.csv`` with ``kind,original,pseudonym``, one row per distinct pair.
``json``
    ``linkage.json``: ``{"format": "deidkit-linkage", "version": 1, "entries": [...]}``.

Rows are sorted (kind, then pseudonym, then original) so that an export is reproducible.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path

from deidkit.core.io import OutputKind, atomic_write_text, check_output_path
from deidkit.pseudonymise.linkage import UID_KINDS, LinkageEntry, LinkageStore


class ExportFormat(StrEnum):
    """Mapping export layouts."""

    MIDI_B = "midi-b"
    CSV = "csv"
    JSON = "json"


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


#: The files each export layout writes (known before the store is decrypted).
EXPORT_NAMES: dict[ExportFormat, tuple[str, ...]] = {
    ExportFormat.MIDI_B: ("uid_mapping.csv", "patid_mapping.csv"),
    ExportFormat.CSV: ("linkage.csv",),
    ExportFormat.JSON: ("linkage.json",),
}


def export_names(fmt: ExportFormat) -> tuple[str, ...]:
    """The file names an export in layout ``fmt`` writes into its folder."""
    return EXPORT_NAMES[fmt]


def export_files(entries: list[LinkageEntry], fmt: ExportFormat) -> dict[str, str]:
    """File name -> text of the export of ``entries`` in layout ``fmt``."""
    unique = sorted(set(entries), key=lambda e: (e.kind, e.pseudonym, e.original))
    if fmt is ExportFormat.MIDI_B:

        def pairs(kinds: frozenset[str]) -> list[list[str]]:
            seen = {(e.original, e.pseudonym) for e in unique if e.kind in kinds}
            return [list(p) for p in sorted(seen)]

        return {
            "uid_mapping.csv": _csv_text(["id_old", "id_new"], pairs(UID_KINDS)),
            "patid_mapping.csv": _csv_text(["id_old", "id_new"], pairs(frozenset({"PatientID"}))),
        }
    if fmt is ExportFormat.CSV:
        rows = [[e.kind, e.original, e.pseudonym] for e in unique]
        return {"linkage.csv": _csv_text(["kind", "original", "pseudonym"], rows)}
    document = {
        "format": "deidkit-linkage",
        "version": 1,
        "entries": [e.as_dict() for e in unique],
    }
    return {"linkage.json": json.dumps(document, indent=2, ensure_ascii=False) + "\n"}


def export_linkage(
    store: LinkageStore, out_dir: Path, *, fmt: ExportFormat | str, overwrite: bool = False
) -> list[Path]:
    """Decrypt ``store`` and write its mapping files into ``out_dir``; return their paths.

    Raises
    ------
    OutputPathError
        If ``out_dir`` is in a release tree or overlaps the store, or an export file exists
        and ``overwrite`` is false (:func:`~deidkit.core.io.check_output_path`).
    LinkageError
        If the store cannot be opened (wrong key, tampered file).
    """
    fmt = ExportFormat(fmt)
    out_dir = Path(out_dir)
    inputs = {"--linkage": store.path}
    check_output_path(
        out_dir, option="--out", kind=OutputKind.FOLDER, inputs=inputs, sensitive=True
    )
    for name in export_names(fmt):
        check_output_path(
            out_dir / name,
            option=f"--out ({name})",
            inputs=inputs,
            sensitive=True,
            force=overwrite,
        )
    files = export_files(list(store.entries()), fmt)
    written = []
    for name, text in files.items():
        # The mapping holds originals (PHI): owner-only.
        atomic_write_text(out_dir / name, text, permissions=0o600)
        written.append(out_dir / name)
    return written
