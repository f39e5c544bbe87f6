"""Read a prediction manifest (CSV or Parquet) and join a deidkit cohort manifest into it.

A manifest has one row per case: an image path column (DICOM file, DICOM series folder or
NIfTI file; relative paths are relative to the manifest's folder), optional label columns
and any demographic columns. Empty cells are missing; every other string, "Unknown"
included, is kept as a real value.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.errors import InputFileError, UsageError
from auditkit.fingerprint import sha256_file
from auditkit.inputs import check_file, read_text
from auditkit.results import WarningEntry
from deidkit.pseudonymise.cohort_schema import COHORT_COLUMNS

#: Columns tried, in order, to join a cohort manifest to a prediction manifest.
COHORT_JOIN_KEYS: tuple[str, ...] = ("series_uid", "study_uid", "patient_pseudonym")

ERR_FORMAT = "{what} {name} is neither CSV nor Parquet (by extension)"
ERR_UNREADABLE = "{what} {name} could not be read as {fmt}"
ERR_COLUMN = "manifest {name} has no column '{column}' (columns: {columns})"
ERR_JOIN = "cohort manifest {name} shares none of the join columns {keys} with the manifest"
ERR_DUP_CASE = "manifest {name}: column 'case_id' has duplicate values"
WARN_COHORT_NONE = (
    "cohort manifest {name} matched none of the {rows} manifest rows on '{key}': its columns "
    "are empty for every row (are the manifest and the cohort from the same release?)"
)
WARN_COHORT_SOME = (
    "cohort manifest {name} matched {matched} of the {rows} manifest rows on '{key}': "
    "the other {unmatched} rows have no cohort attributes"
)


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest.

    Attributes
    ----------
    frame : pandas.DataFrame
        The table, with a string ``case_id`` column and the resolved image paths in
        ``image_column``.
    path : Path
        Where it was read from.
    sha256 : str
        Hash of the manifest file's bytes (for provenance).
    image_column, label_column : str, str or None
        The columns holding image paths and labels.
    warnings : tuple of WarningEntry
        What the reader noticed and the user should (a cohort manifest matching few rows).
    """

    frame: Any
    path: Path
    sha256: str
    image_column: str
    label_column: str | None
    warnings: tuple[WarningEntry, ...] = ()

    def __len__(self) -> int:
        return len(self.frame)


def read_table(path: Path, *, what: str = "manifest") -> Any:
    """Read a CSV or Parquet table as strings; empty cells become missing (NaN/None).

    ``what`` names the table in errors ("manifest", "cohort manifest").

    Raises
    ------
    InputFileError
        The file is missing, not UTF-8 text (CSV/TSV) or not a table of its kind.
    """
    import pandas as pd

    path = check_file(path, what=what, error=InputFileError)
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        try:
            return pd.read_parquet(path)
        except Exception:  # pyarrow raises several unrelated types for a bad file
            raise InputFileError(
                ERR_UNREADABLE.format(what=what, name=path.name, fmt="Parquet")
            ) from None
    if suffix in {".csv", ".tsv", ".txt"}:
        text = read_text(path, what=what, error=InputFileError)
        try:
            # Only empty cells are missing: "NA", "None" or "Unknown" are real categories.
            return pd.read_csv(
                io.StringIO(text),
                sep="\t" if suffix == ".tsv" else ",",
                dtype=str,
                keep_default_na=False,
                na_values=[""],
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            raise InputFileError(
                ERR_UNREADABLE.format(what=what, name=path.name, fmt="CSV")
            ) from None
    raise InputFileError(ERR_FORMAT.format(what=what, name=path.name))


def _require(frame: Any, column: str, name: str) -> None:
    if column not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise UsageError(ERR_COLUMN.format(name=name, column=column, columns=columns))


def _header_series_uid(image: Any) -> str | None:
    """SeriesInstanceUID of a DICOM file or series folder; ``None`` for anything else."""
    import pydicom

    if not isinstance(image, str):
        return None
    path = Path(image)
    try:
        candidates = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    except OSError:
        return None
    for candidate in candidates:
        try:
            ds = pydicom.dcmread(
                candidate, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"]
            )
        except Exception:  # not DICOM (NIfTI, notes, a broken file): no key from this one
            continue
        uid = str(getattr(ds, "SeriesInstanceUID", "") or "").strip()
        if uid:
            return uid
    return None


def join_cohort(
    frame: Any, cohort_path: Path, *, image_column: str | None = None
) -> tuple[Any, list[WarningEntry]]:
    """Left-join the columns of a ``deidkit scrub --cohort-manifest`` table into ``frame``.

    The join uses the first of :data:`COHORT_JOIN_KEYS` present in both tables. A
    manifest without any of them (a plain list of released DICOM series) is keyed by
    the ``SeriesInstanceUID`` read from each image's header, added as ``series_uid``, so
    the cohort manifest of ``deidkit scrub`` joins in as-is. Columns the manifest
    already has are kept from the manifest where non-empty; the cohort fills its gaps.

    Returns the joined frame and a warning when some manifest rows matched no cohort row.
    """
    cohort = read_table(Path(cohort_path), what="cohort manifest")
    keys = [k for k in COHORT_JOIN_KEYS if k in frame.columns and k in cohort.columns]
    no_key_column = not any(k in frame.columns for k in COHORT_JOIN_KEYS)
    if not keys and no_key_column and image_column is not None and "series_uid" in cohort:
        uids = [_header_series_uid(v) for v in frame[image_column].tolist()]
        if any(u is not None for u in uids):
            frame = frame.assign(series_uid=uids)
            keys = ["series_uid"]
    if not keys:
        raise UsageError(ERR_JOIN.format(name=Path(cohort_path).name, keys=list(COHORT_JOIN_KEYS)))
    key = keys[0]
    wanted = [c for c in COHORT_COLUMNS if c in cohort.columns and c != key]
    # A row without a key joins nothing (pandas would match missing to missing).
    cohort = cohort.loc[cohort[key].notna(), [key, *wanted]]
    cohort = cohort.drop_duplicates(subset=[key], keep="first")
    merged = frame.merge(
        cohort, on=key, how="left", suffixes=("", "__cohort"), indicator="__cohort_match"
    )
    matched = int((merged.pop("__cohort_match") == "both").sum())
    for column in wanted:
        extra = f"{column}__cohort"
        if extra in merged.columns:
            merged[column] = merged[column].where(merged[column].notna(), merged[extra])
            merged = merged.drop(columns=[extra])
    return merged, _unmatched_warning(Path(cohort_path).name, key, matched, len(merged))


def _unmatched_warning(name: str, key: str, matched: int, rows: int) -> list[WarningEntry]:
    # A cohort from another release joins nothing and every attribute column stays empty:
    # evaluate would then audit one "missing" group and look clean.
    if matched == rows:
        return []
    template = WARN_COHORT_NONE if matched == 0 else WARN_COHORT_SOME
    message = template.format(
        name=name, key=key, rows=rows, matched=matched, unmatched=rows - matched
    )
    return [{"code": "cohort_unmatched", "message": message, "count": rows - matched}]


def load_manifest(
    path: Path,
    *,
    image_column: str = "image",
    label_column: str | None = "label",
    cohort: Path | None = None,
) -> Manifest:
    """Load a manifest, check its columns, resolve image paths and assign case ids.

    Parameters
    ----------
    path : Path
        CSV (``.csv``/``.tsv``) or Parquet (``.parquet``) file.
    image_column : str
        Column with image paths.
    label_column : str or None
        Column with labels (class, number or mask path); ``None`` for unlabelled data.
    cohort : Path, optional
        A cohort manifest from ``deidkit scrub --cohort-manifest`` to join in.

    Raises
    ------
    UsageError
        If the file is missing or unreadable, or a named column is absent.
    """
    path = Path(path)
    frame = read_table(path)
    _require(frame, image_column, path.name)
    if label_column is not None:
        _require(frame, label_column, path.name)
    base = path.resolve().parent

    def resolve(value: Any) -> Any:
        if value is None or (isinstance(value, float) and value != value) or not str(value).strip():
            return None  # an empty cell, never the manifest's own folder
        candidate = Path(str(value)).expanduser()
        return str(candidate if candidate.is_absolute() else base / candidate)

    frame[image_column] = frame[image_column].map(resolve)
    warnings: list[WarningEntry] = []
    if cohort is not None:
        frame, warnings = join_cohort(frame, Path(cohort), image_column=image_column)
    frame = frame.reset_index(drop=True)
    if "case_id" in frame.columns:
        frame["case_id"] = frame["case_id"].astype(str)
        if frame["case_id"].duplicated().any():
            raise UsageError(ERR_DUP_CASE.format(name=path.name))
    else:
        # Ids from the row position, never from the image path (which may carry PHI).
        frame.insert(0, "case_id", [f"case-{i + 1:05d}" for i in range(len(frame))])
    return Manifest(
        frame=frame,
        path=path,
        sha256=sha256_file(path),
        image_column=image_column,
        label_column=label_column,
        warnings=tuple(warnings),
    )
