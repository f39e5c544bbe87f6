"""Pseudonymise clinical tables (CSV, TSV, Parquet) with the same pseudonyms as the images.

Every column must be accounted for: an ID column (replaced by its keyed pseudonym), a date
column (shifted by the patient's offset), a dropped or emptied column, or an explicitly
kept one. Anything else is refused with the column names, unless ``keep_unlisted``.

ID kinds (``--id-column COL:KIND``)
-----------------------------------
``patient``
    :func:`deidkit.core.pseudonym.patient_pseudonym`, exactly what ``deidkit scrub`` writes
    into PatientID.
``accession``
    :func:`~deidkit.core.pseudonym.accession_pseudonym` (the release's AccessionNumber).
``uid``
    :func:`~deidkit.core.pseudonym.pseudonymous_uid` (Study/Series/SOP Instance UIDs).
``site``
    :func:`~deidkit.core.pseudonym.site_pseudonym` (the cohort manifest's ``site``).
``other``
    :func:`~deidkit.core.pseudonym.generic_pseudonym` with purpose ``table``.
``bids``
    ``sub-<label>`` -> ``sub-<patient_pseudonym(label)>``, as
    :mod:`deidkit.pseudonymise.bids` renames the tree (the bare label is the patient id,
    also for date offsets).

Without ``:KIND`` the kind follows the column name: ``participant_id`` -> bids,
``*accession*`` -> accession, ``*uid`` -> uid, ``*site*``/``*institution*`` -> site,
anything else -> patient.

Dates
-----
A date column is shifted by ``date_offset_days(key, <patient id>, shift_range=...)`` for
the row's original patient id (``patient_column``), the same days as that patient's
images. Text values keep their format: ``YYYYMMDD`` (DICOM DA; a DT time part
is kept), ``YYYY-MM-DD`` with an
optional time part (the time is kept). Parquet datetime columns shift natively. Blank
cells stay blank; any other value is an error naming the column and row.

All values are read as text (``"00123"`` stays ``"00123"``). Output is written atomically
in the format its extension names; the same input and key give byte-identical output.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from deidkit.core.errors import ColumnSpecError, TableInputError, UsageError
from deidkit.core.io import atomic_write_bytes, check_output_path
from deidkit.core.keys import ProjectKey
from deidkit.core.optional import import_optional
from deidkit.core.pseudonym import (
    DEFAULT_DATE_SHIFT_RANGE,
    accession_pseudonym,
    date_offset_days,
    generic_pseudonym,
    patient_pseudonym,
    pseudonymous_uid,
    site_pseudonym,
)
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet", ".pq": "parquet"}
# DICOM DA, or DT (DA + HHMMSS.FFFFFF&ZZXX, time parts optional): the time is kept as is.
_DA_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2,6}(?:\.\d{1,6})?(?:[+-]\d{4})?)?$")
_ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(.*)$")
_MAX_ROWS_NAMED = 5


class IdKind(StrEnum):
    """Which keyed derivation an ID column gets."""

    PATIENT = "patient"
    ACCESSION = "accession"
    UID = "uid"
    SITE = "site"
    OTHER = "other"
    BIDS = "bids"


_LINKAGE_KIND = {
    IdKind.PATIENT: "PatientID",
    IdKind.ACCESSION: "AccessionNumber",
    IdKind.UID: "UID",
    IdKind.SITE: "Site",
    IdKind.OTHER: "Identifier",
    IdKind.BIDS: "PatientID",
}
_BIDS_RE = re.compile(r"^sub-([A-Za-z0-9]+)$")


def default_kind(column: str) -> IdKind:
    """The ID kind a column name suggests (see the module docstring)."""
    name = column.casefold()
    if name == "participant_id":
        return IdKind.BIDS
    if "accession" in name:
        return IdKind.ACCESSION
    if name.endswith("uid"):
        return IdKind.UID
    if "site" in name or "institution" in name:
        return IdKind.SITE
    return IdKind.PATIENT


def parse_id_column(spec: str) -> tuple[str, IdKind]:
    """Parse ``COL`` or ``COL:KIND`` (a column name may itself hold colons)."""
    name, sep, kind = spec.rpartition(":")
    if sep and kind.casefold() in {k.value for k in IdKind}:
        return name, IdKind(kind.casefold())
    return spec, default_kind(spec)


def pseudonym_function(kind: IdKind, key: ProjectKey) -> Callable[[str], str]:
    """The derivation for ``kind`` bound to ``key``."""
    functions: dict[IdKind, Callable[[str], str]] = {
        IdKind.PATIENT: lambda v: patient_pseudonym(key, v),
        IdKind.ACCESSION: lambda v: accession_pseudonym(key, v),
        IdKind.UID: lambda v: pseudonymous_uid(key, v),
        IdKind.SITE: lambda v: site_pseudonym(key, v),
        IdKind.OTHER: lambda v: generic_pseudonym(key, "table", v),
        IdKind.BIDS: lambda v: patient_pseudonym(key, v),  # keyed by the bare label
    }
    return functions[kind]


@dataclass(frozen=True)
class TableSpec:
    """What to do with each column of a table."""

    id_columns: dict[str, IdKind] = field(default_factory=dict)
    patient_column: str | None = None
    date_columns: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()
    empty_columns: tuple[str, ...] = ()
    keep_columns: tuple[str, ...] = ()
    keep_unlisted: bool = False
    date_shift_range: tuple[int, int] = DEFAULT_DATE_SHIFT_RANGE

    def resolved_patient_column(self) -> str | None:
        """The patient column: explicit, else the single ``patient``-kind ID column."""
        if self.patient_column is not None:
            return self.patient_column
        patients = [c for c, k in self.id_columns.items() if k in (IdKind.PATIENT, IdKind.BIDS)]
        return patients[0] if len(patients) == 1 else None

    def listed(self) -> list[str]:
        """Every column the spec names, in option order, patient column first."""
        names = [self.patient_column] if self.patient_column else []
        names += [*self.id_columns, *self.date_columns, *self.drop_columns]
        names += [*self.empty_columns, *self.keep_columns]
        return names


@dataclass(frozen=True)
class TableResult:
    """Counts of what pseudonymising a table did (no values)."""

    rows: int
    columns_out: tuple[str, ...]
    pseudonymised: tuple[str, ...]
    shifted: tuple[str, ...]
    dropped: tuple[str, ...]
    emptied: tuple[str, ...]
    kept_unlisted: tuple[str, ...] = ()
    linkage_entries: int = 0

    def to_json(self) -> dict[str, Any]:
        """Counts and column names (never a cell value), as ``pseudonymise --json`` prints."""
        return {
            "rows": self.rows,
            "columns": list(self.columns_out),
            "pseudonymised": list(self.pseudonymised),
            "shifted": list(self.shifted),
            "dropped": list(self.dropped),
            "emptied": list(self.emptied),
            "kept_unlisted": list(self.kept_unlisted),
            "linkage_entries": self.linkage_entries,
        }


def table_format(path: Path) -> str:
    """``csv``, ``tsv`` or ``parquet`` from the file extension."""
    fmt = FORMATS.get(path.suffix.casefold())
    if fmt is None:
        raise UsageError(f"{path.name}: unknown table format; use .csv, .tsv or .parquet")
    return fmt


def read_table(path: Path) -> Any:
    """Read a table as text columns (IDs keep leading zeros); raise on malformed input."""
    pd = import_optional("pandas", feature="table pseudonymisation", extra="tables")
    fmt = table_format(path)
    if not path.is_file():
        raise UsageError(f"table {path.name} does not exist")
    try:
        if fmt == "parquet":
            import_optional("pyarrow", feature="Parquet tables", extra="tables")
            # Typed columns stay typed; ID and date columns are read as text where used.
            return pd.read_parquet(path)
        return _read_delimited(pd, path, "\t" if fmt == "tsv" else ",")
    except (ValueError, UnicodeDecodeError, csv.Error, OSError) as exc:
        # The parser's message can quote a cell: report its kind and the file only.
        raise TableInputError(
            f"{path.name}: malformed {fmt.upper()} ({type(exc).__name__})"
        ) from None


def _read_delimited(pd: Any, path: Path, delimiter: str) -> Any:
    # The csv module, not pandas: pandas silently drops surplus fields (index_col=False)
    # or turns them into an index, and renames repeated headers.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        header = next(reader, None)
        if not header:
            raise TableInputError(f"{path.name}: the table is empty (no header row)")
        rows: list[list[str]] = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise TableInputError(
                    f"{path.name}: malformed table: line {reader.line_num} has {len(row)} "
                    f"fields, the header has {len(header)}"
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=header, dtype=str)


def _isna(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _as_text(values: list[Any]) -> list[str]:
    """Cell values as ID text: blanks for nulls, ``123`` (not ``123.0``) for whole floats."""
    out = []
    for value in values:
        if _isna(value):
            out.append("")
        elif isinstance(value, float) and value.is_integer():
            out.append(str(int(value)))
        else:
            out.append(str(value))
    return out


def _check_columns(spec: TableSpec, columns: list[str]) -> None:
    listed = spec.listed()
    missing = sorted({c for c in listed if c not in columns})
    if missing:
        hint = ""
        if any(":" in c for c in missing):
            kinds = ", ".join(k.value for k in IdKind)
            hint = f" (in --id-column COL:KIND, KIND is one of {kinds})"
        raise ColumnSpecError(f"columns not in the table: {', '.join(missing)}{hint}")
    patient_kind = spec.id_columns.get(spec.patient_column or "")
    if patient_kind not in (None, IdKind.PATIENT):
        # The patient column must get the image pseudonym, or the join breaks silently.
        raise ColumnSpecError(
            f"--patient-column {spec.patient_column} is also an --id-column of kind "
            f"{patient_kind.value}; a patient column is pseudonymised as kind patient"
        )
    roles: dict[str, int] = {}
    for name in {*spec.id_columns, *(spec.patient_column and [spec.patient_column] or [])}:
        roles[name] = roles.get(name, 0) + 1
    for group in (spec.date_columns, spec.drop_columns, spec.empty_columns, spec.keep_columns):
        for name in set(group):
            roles[name] = roles.get(name, 0) + 1
    twice = sorted(c for c, n in roles.items() if n > 1)
    if twice:
        raise ColumnSpecError(f"columns given more than one role: {', '.join(twice)}")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ColumnSpecError(f"the table repeats column names: {', '.join(duplicated)}")
    unlisted = [c for c in columns if c not in set(listed)]
    if unlisted and not spec.keep_unlisted:
        raise ColumnSpecError(
            "columns without an action (name each with --keep-column or --drop-column, "
            f"or pass --keep-unlisted): {', '.join(unlisted)}"
        )
    if spec.date_columns and spec.resolved_patient_column() is None:
        raise ColumnSpecError("date columns need the patient column: use --patient-column")


def _rows_text(rows: list[int]) -> str:
    # Row numbers as in the file (header is line 1), a few only.
    shown = ", ".join(str(r + 2) for r in rows[:_MAX_ROWS_NAMED])
    more = f" and {len(rows) - _MAX_ROWS_NAMED} more" if len(rows) > _MAX_ROWS_NAMED else ""
    return f"{shown}{more}"


def shift_date_text(value: str, days: int) -> str | None:
    """Shift a ``YYYYMMDD[HHMMSS...]`` or ``YYYY-MM-DD[...]`` text date; None if unparsable."""
    text = value.strip()
    for pattern, sep in ((_DA_RE, ""), (_ISO_RE, "-")):
        match = pattern.match(text)
        if match is None:
            continue
        try:
            day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            shifted = day + timedelta(days=days)
        except (ValueError, OverflowError):
            return None
        rest = match.group(4) or ""
        return shifted.strftime(f"%Y{sep}%m{sep}%d") + rest
    return None


def pseudonymise_frame(
    frame: Any, spec: TableSpec, *, key: ProjectKey
) -> tuple[Any, set[LinkageEntry]]:
    """Pseudonymise a pandas DataFrame read by :func:`read_table`; return it and the pairs.

    Raises
    ------
    ColumnSpecError
        For missing, unlisted or doubly listed columns.
    TableInputError
        For blank IDs or unparsable dates (the message names columns and rows only).
    """
    pd = import_optional("pandas", feature="table pseudonymisation", extra="tables")
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    _check_columns(spec, columns)
    id_columns = dict(spec.id_columns)
    patient_column = spec.resolved_patient_column()
    if patient_column is not None:
        id_columns.setdefault(patient_column, IdKind.PATIENT)
    texts = {column: _as_text(frame[column].tolist()) for column in id_columns}
    for column, kind in id_columns.items():
        blank = [i for i, v in enumerate(texts[column]) if not v.strip()]
        if blank:
            raise TableInputError(f"ID column {column} is blank in rows {_rows_text(blank)}")
        if kind is IdKind.BIDS:
            # participant_id holds "sub-<label>"; the bare label keys the pseudonym, as in
            # deidkit.pseudonymise.bids, so the table and the renamed tree agree.
            matches = [_BIDS_RE.match(v.strip()) for v in texts[column]]
            unlabelled = [i for i, m in enumerate(matches) if m is None]
            if unlabelled:
                raise TableInputError(
                    f"column {column} is not sub-<label> in rows {_rows_text(unlabelled)}"
                )
            texts[column] = [m.group(1) for m in matches if m is not None]
    out = frame.copy()
    pairs: set[LinkageEntry] = set()
    if patient_column is not None and spec.date_columns:
        originals = texts[patient_column]
        offsets = {
            pid: date_offset_days(key, pid, shift_range=spec.date_shift_range)
            for pid in set(originals)
        }
        pairs |= {LinkageEntry("DateOffset", pid, str(days)) for pid, days in offsets.items()}
        for column in spec.date_columns:
            series = frame[column]
            if pd.api.types.is_datetime64_any_dtype(series):
                delta = pd.to_timedelta([offsets[p] for p in originals], unit="D")
                out[column] = series + delta
                continue
            shifted: list[Any] = []
            bad: list[int] = []
            for i, (value, pid) in enumerate(zip(series.tolist(), originals, strict=True)):
                if isinstance(value, date):  # Parquet date32 or Python datetimes
                    shifted.append(value + timedelta(days=offsets[pid]))
                    continue
                if _isna(value):
                    shifted.append(value)
                    continue
                text = str(value)
                new = shift_date_text(text, offsets[pid]) if text.strip() else text
                if new is None:
                    bad.append(i)
                shifted.append(new or "")
            if bad:
                raise TableInputError(
                    f"date column {column} has values that are not dates "
                    f"(YYYYMMDD[HHMMSS] or YYYY-MM-DD[...]) in rows {_rows_text(bad)}"
                )
            out[column] = shifted
    for column, kind in id_columns.items():
        derive = pseudonym_function(kind, key)
        mapping = {v: derive(v) for v in set(texts[column])}
        prefix = "sub-" if kind is IdKind.BIDS else ""
        out[column] = [prefix + mapping[v] for v in texts[column]]
        pairs |= {LinkageEntry(_LINKAGE_KIND[kind], o, p) for o, p in mapping.items()}
    for column in spec.empty_columns:
        out[column] = ""
    out = out.drop(columns=list(spec.drop_columns))
    return out, pairs


def write_table(frame: Any, path: Path) -> None:
    """Write a DataFrame atomically in the format of ``path``'s extension."""
    fmt = table_format(path)
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue())
        return
    text = frame.to_csv(index=False, sep="\t" if fmt == "tsv" else ",", lineterminator="\n")
    atomic_write_bytes(path, text.encode("utf-8"))


def pseudonymise_table(
    source: Path,
    output: Path,
    *,
    key: ProjectKey,
    spec: TableSpec,
    linkage: LinkageStore | None = None,
    overwrite: bool = False,
) -> TableResult:
    """Pseudonymise the table ``source`` into ``output`` (a new file).

    Nothing is written unless the whole table succeeds. With ``linkage``, every
    original -> pseudonym pair (and each patient's date offset) is appended to it after
    the output is written.
    """
    source, output = Path(source), Path(output)
    table_format(output)
    check_output_path(output, option="OUTPUT", inputs={"SOURCE": source}, force=overwrite)
    if linkage is not None:
        linkage.check_writable()
    frame = read_table(source)
    out, pairs = pseudonymise_frame(frame, spec, key=key)
    listed = set(spec.listed())
    unlisted = tuple(str(c) for c in frame.columns if str(c) not in listed)
    write_table(out, output)
    written = linkage.append(sorted(pairs, key=_entry_order)) if linkage is not None else 0
    shifted = spec.date_columns if spec.resolved_patient_column() else ()
    id_names = [*spec.id_columns]
    patient = spec.resolved_patient_column()
    if patient is not None and patient not in id_names:
        id_names.insert(0, patient)
    return TableResult(
        rows=len(out),
        columns_out=tuple(str(c) for c in out.columns),
        pseudonymised=tuple(id_names),
        shifted=tuple(shifted),
        dropped=tuple(spec.drop_columns),
        emptied=tuple(spec.empty_columns),
        kept_unlisted=unlisted,
        linkage_entries=written,
    )


def _entry_order(entry: LinkageEntry) -> tuple[str, str, str]:
    return (entry.kind, entry.original, entry.pseudonym)
