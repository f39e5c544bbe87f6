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
import os
from enum import StrEnum
from pathlib import Path

from deidkit.core.errors import OutputPathError
from deidkit.core.io import atomic_write_text
from deidkit.core.runreport import RUN_REPORT_SUFFIX
from deidkit.pseudonymise.linkage import UID_KINDS, LinkageEntry, LinkageStore

RELEASE_MARKER = ".deidkit-release"
#: File names inside a folder that mark it as a release (besides DICOM files).
RUN_REPORT_NAMES = ("run-report.json", "deidkit-run-report.json")
_MAX_FILES_SCANNED = 5000


class ExportFormat(StrEnum):
    """Mapping export layouts."""

    MIDI_B = "midi-b"
    CSV = "csv"
    JSON = "json"


def _is_dicom(path: Path) -> bool:
    if path.suffix.casefold() == ".dcm":
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def release_tree_reason(folder: Path) -> str | None:
    """Why ``folder`` looks like a release tree (a reason text), or None."""
    folder = folder.resolve()
    for parent in (folder, *folder.parents):
        if (parent / RELEASE_MARKER).exists():
            return f"a {RELEASE_MARKER} marker is in {parent.name or parent}"
        if parent.name and parent.with_name(parent.name + RUN_REPORT_SUFFIX).exists():
            return f"{parent.name} has a run report beside it ({parent.name}{RUN_REPORT_SUFFIX})"
    if not folder.is_dir():
        return None
    for name in RUN_REPORT_NAMES:
        if (folder / name).exists():
            return f"it holds a deidkit run report ({name})"
    scanned = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if _is_dicom(Path(root) / name):
                return "it holds DICOM files"
            scanned += 1
            if scanned >= _MAX_FILES_SCANNED:
                return None
    return None


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


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
        If ``out_dir`` is a release tree, or a file exists and ``overwrite`` is false.
    LinkageError
        If the store cannot be opened (wrong key, tampered file).
    """
    fmt = ExportFormat(fmt)
    out_dir = Path(out_dir)
    reason = release_tree_reason(out_dir)
    if reason is not None:
        raise OutputPathError(
            f"refusing to export the linkage into a release tree ({reason}); "
            "choose a folder outside the release"
        )
    files = export_files(list(store.entries()), fmt)
    existing = sorted(name for name in files if (out_dir / name).exists())
    if existing and not overwrite:
        raise OutputPathError(f"{', '.join(existing)} already exist in {out_dir.name}; use --force")
    written = []
    for name, text in files.items():
        # The mapping holds originals (PHI): owner-only.
        atomic_write_text(out_dir / name, text, permissions=0o600)
        written.append(out_dir / name)
    return written
