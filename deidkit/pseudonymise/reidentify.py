"""Re-identification: the originals behind pseudonyms, for a holder of the linkage key.

Everything this module returns is PHI by design (it is the point of re-identifying): it
goes to the caller, or to a file written owner-only (mode 0600), never to a log. Errors
name files and columns, never a value.

A ``DateOffset`` entry reveals its offset in days (its ``pseudonym`` field); every other
entry reveals its original (:func:`revealed`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from deidkit.core.errors import LinkageError, UsageError
from deidkit.core.io import atomic_write_text, check_output_path
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore

#: Columns of a batch answer (CSV header, JSON keys).
BATCH_COLUMNS = ("pseudonym", "kind", "original")
ERR_NOT_FOUND = "pseudonym not found in the linkage file"


def revealed(entry: LinkageEntry) -> str:
    """What ``entry`` reveals: a DateOffset entry's offset in days, else the original."""
    return entry.pseudonym if entry.kind == "DateOffset" else entry.original


@dataclass(frozen=True)
class Reidentification:
    """The entries behind one pseudonym (PHI), the patient's date offset included."""

    pseudonym: str
    entries: tuple[LinkageEntry, ...]

    def to_json(self) -> dict[str, object]:
        """``{"pseudonym": ..., "entries": [{"kind", "original", "pseudonym"}, ...]}``."""
        return {"pseudonym": self.pseudonym, "entries": [e.as_dict() for e in self.entries]}


@dataclass(frozen=True)
class ReidentifiedRow:
    """One answer of a batch: ``kind`` and ``original`` are empty for a pseudonym not found."""

    pseudonym: str
    kind: str = ""
    original: str = ""

    def as_dict(self) -> dict[str, str]:
        """The row keyed by :data:`BATCH_COLUMNS`."""
        return {"pseudonym": self.pseudonym, "kind": self.kind, "original": self.original}


@dataclass(frozen=True)
class BatchReidentification:
    """The answers to a batch of pseudonyms, in batch order (PHI).

    Each pseudonym gives one row per entry found, or one empty row if none was.
    """

    rows: tuple[ReidentifiedRow, ...]
    pseudonyms: int
    missing: int
    out: Path | None = None

    def csv_text(self) -> str:
        """The answers as CSV with the header :data:`BATCH_COLUMNS`."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(BATCH_COLUMNS)
        writer.writerows([row.pseudonym, row.kind, row.original] for row in self.rows)
        return buffer.getvalue()

    def to_json(self) -> list[dict[str, str]]:
        """The answers as a list of :meth:`ReidentifiedRow.as_dict` records."""
        return [row.as_dict() for row in self.rows]


def reidentify_pseudonym(store: LinkageStore, pseudonym: str) -> Reidentification:
    """The entries of ``store`` behind ``pseudonym`` (surrounding blanks ignored).

    Raises
    ------
    LinkageError
        If the pseudonym is not in the store, or the store cannot be read (wrong key,
        tampered or missing file).
    """
    found = store.lookup(pseudonym)
    if not found:
        raise LinkageError(ERR_NOT_FOUND)
    return Reidentification(pseudonym=pseudonym, entries=tuple(found))


def read_pseudonyms(batch: Path, column: str) -> list[str]:
    """The values of ``column`` in the CSV file ``batch``, blanks stripped, in file order.

    Raises
    ------
    UsageError
        If the file cannot be read as CSV or has no such column.
    """
    try:
        with Path(batch).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise UsageError(f"{batch.name} has no column {column}")
            return [(row.get(column) or "").strip() for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error):
        raise UsageError(f"{batch.name} is not a readable CSV file") from None


def reidentify_batch(
    store: LinkageStore,
    batch: Path,
    column: str,
    *,
    out: Path | None = None,
    overwrite: bool = False,
) -> BatchReidentification:
    """Resolve every pseudonym in ``column`` of the CSV ``batch`` in one pass over ``store``.

    With ``out``, the answers are also written there as CSV (:meth:`~BatchReidentification.
    csv_text`), atomically and owner-only. They are PHI: ``out`` is never inside a release,
    never one of the inputs, and replaces an existing file only with ``overwrite``.

    Raises
    ------
    OutputPathError
        If ``out`` is unsafe (:func:`~deidkit.core.io.check_output_path`).
    UsageError
        If ``batch`` is not a readable CSV file with ``column``.
    LinkageError
        If the store cannot be read.
    """
    if out is not None:
        inputs = {"--batch": batch, "--linkage": store.path}
        check_output_path(out, option="--out", inputs=inputs, sensitive=True, force=overwrite)
    wanted = read_pseudonyms(batch, column)
    table = store.lookup_many(wanted)
    rows: list[ReidentifiedRow] = []
    for value in wanted:
        found = table.get(value, [])
        rows += [ReidentifiedRow(value, e.kind, revealed(e)) for e in found] or [
            ReidentifiedRow(value)
        ]
    result = BatchReidentification(
        rows=tuple(rows),
        pseudonyms=len(wanted),
        missing=sum(1 for value in wanted if not table.get(value)),
        out=out,
    )
    if out is not None:
        atomic_write_text(out, result.csv_text(), permissions=0o600)
    return result
