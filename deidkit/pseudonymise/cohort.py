"""Cohort manifest: one row per released series with the attributes an audit stratifies by.

``deidkit scrub --cohort-manifest FILE`` captures these attributes from the *original*
headers (before the profile strips them) and writes them keyed by pseudonyms only, so
``auditkit`` can report by sex, age band, vendor or site without any identifier.

Columns (``deidkit.pseudonymise.cohort_schema.COHORT_COLUMNS``, in this order)
---------------------------------------------------------------
patient_pseudonym
    Keyed patient pseudonym, identical to the release's PatientID.
study_uid, series_uid
    The new (pseudonymous) Study/Series Instance UIDs.
n_instances
    Instances of the series written to the release.
sex
    ``M`` / ``F`` / ``O``; empty when unknown.
age_band
    From PatientAge, else from PatientBirthDate and the study date: ``40-49`` (10-year) or
    ``40-44`` (5-year) bands, ``90+`` collapsed. With ``--min-cell-size`` a small cell may
    hold a 20-year band (``40-59``, ``80+``).
manufacturer
    Normalised vendor spelling (``GE``, ``Siemens``, ``Philips`` ...).
model
    ManufacturerModelName as recorded.
field_strength
    MagneticFieldStrength in tesla (``1.5``, ``3``); values recorded in gauss are converted.
modality, body_part
    Modality and BodyPartExamined, upper case.
site
    ``site_pseudonym(key, InstitutionName)``: a keyed code, never the name.
pixel_spacing
    ``row\\col`` in mm (also read from the enhanced-object functional groups).
slice_thickness
    mm.

Small cells (``--min-cell-size K``)
-----------------------------------
The quasi-identifiers are :data:`QUASI_IDENTIFIERS`. A row whose combination of them is
held by fewer than K distinct patients is generalised step by step, re-counting after each
step, until its cell reaches K: the age band widens to 20 years; then model and field
strength are blanked; then the age band; then site and manufacturer; then sex; finally
every quasi-identifier is blanked. Only the rows in small cells change (local recoding);
the :class:`CohortReport` counts the changes per column, never the values. Cells count
series rows per distinct patient; a patient's several rows are not combined into one
record, so an attacker who links rows by pseudonym sees more than one row's cell.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pydicom

from deidkit.core.io import atomic_write_text
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import site_pseudonym
from deidkit.pseudonymise.cohort_schema import (
    COHORT_COLUMNS,
    age_band,
    normalise_manufacturer,
    normalise_sex,
    parse_age,
)

#: Columns counted for k-anonymity.
QUASI_IDENTIFIERS: tuple[str, ...] = (
    "sex",
    "age_band",
    "site",
    "manufacturer",
    "model",
    "field_strength",
    "modality",
    "body_part",
)
_ROW_KEYS = ("patient_pseudonym", "study_uid", "series_uid", "n_instances")
ATTRIBUTE_COLUMNS: tuple[str, ...] = tuple(c for c in COHORT_COLUMNS if c not in _ROW_KEYS)

# Generalisation ladder: each step blanks (or widens) these columns in small cells.
_STEPS: tuple[tuple[str, ...], ...] = (
    ("age_band:20",),
    ("model", "field_strength"),
    ("age_band",),
    ("site", "manufacturer"),
    ("sex",),
    QUASI_IDENTIFIERS,
)


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, pydicom.multival.MultiValue):
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return f"{round(number, 4):g}"


def _parse_da(value: str) -> date | None:
    text = value.strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _age_years(ds: pydicom.Dataset) -> float | None:
    years = parse_age(_text(ds, "PatientAge") or None)
    if years is not None:
        return years
    birth = _parse_da(_text(ds, "PatientBirthDate"))
    seen = next(
        (
            d
            for d in (
                _parse_da(_text(ds, k)) for k in ("StudyDate", "SeriesDate", "AcquisitionDate")
            )
            if d is not None
        ),
        None,
    )
    if birth is None or seen is None or seen < birth:
        return None
    return (seen - birth).days / 365.25


def _field_strength(ds: pydicom.Dataset) -> str:
    try:
        tesla = float(ds.get("MagneticFieldStrength", ""))
    except (TypeError, ValueError):
        return ""
    if tesla > 100:  # some old scanners record gauss
        tesla /= 10000
    return _number(tesla)


def _pixel_spacing(ds: pydicom.Dataset) -> str:
    spacing = ds.get("PixelSpacing")
    if spacing is None:
        # Enhanced objects keep it in the shared functional groups.
        for group in ds.get("SharedFunctionalGroupsSequence", []):
            for measures in group.get("PixelMeasuresSequence", []):
                spacing = measures.get("PixelSpacing")
    if spacing is None:
        return ""
    values = spacing if isinstance(spacing, pydicom.multival.MultiValue) else [spacing]
    parts = [_number(v) for v in values]
    return "\\".join(parts) if all(parts) else ""


def _slice_thickness(ds: pydicom.Dataset) -> str:
    thickness = ds.get("SliceThickness")
    if thickness is None:
        for group in ds.get("SharedFunctionalGroupsSequence", []):
            for measures in group.get("PixelMeasuresSequence", []):
                thickness = measures.get("SliceThickness")
    return _number(thickness) if thickness not in (None, "") else ""


def series_attributes(
    ds: pydicom.Dataset, *, key: ProjectKey, age_band_width: int = 10
) -> dict[str, str]:
    """Cohort attributes of one original (pre-scrub) dataset.

    Parameters
    ----------
    ds
        The dataset as read from the source, before any de-identification.
    key
        The project key (the site code is keyed by it).
    age_band_width
        5 or 10 years.

    Returns
    -------
    dict
        One value per :data:`ATTRIBUTE_COLUMNS` column ("" when unknown).
    """
    institution = _text(ds, "InstitutionName")
    return {
        "sex": normalise_sex(_text(ds, "PatientSex")),
        "age_band": age_band(_age_years(ds), width=age_band_width),
        "manufacturer": normalise_manufacturer(_text(ds, "Manufacturer")),
        "model": _text(ds, "ManufacturerModelName"),
        "field_strength": _field_strength(ds),
        "modality": _text(ds, "Modality").upper(),
        "body_part": _text(ds, "BodyPartExamined").upper(),
        "site": site_pseudonym(key, institution) if institution else "",
        "pixel_spacing": _pixel_spacing(ds),
        "slice_thickness": _slice_thickness(ds),
    }


@dataclass(frozen=True)
class CohortReport:
    """What writing the manifest did (counts only, never values)."""

    path: Path
    rows: int
    patients: int
    min_cell_size: int | None
    small_cells_before: int = 0
    generalised: dict[str, int] = field(default_factory=dict)
    suppressed_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for run reports."""
        return {
            "path": self.path.name,
            "rows": self.rows,
            "patients": self.patients,
            "min_cell_size": self.min_cell_size,
            "small_cells_before": self.small_cells_before,
            "generalised": dict(self.generalised),
            "suppressed_rows": self.suppressed_rows,
        }


def _widen_band(band: str) -> str:
    if not band:
        return ""
    if band.endswith("+"):
        return "80+"
    low = int(band.split("-")[0]) // 20 * 20
    return "80+" if low >= 80 else f"{low}-{low + 19}"


def _cell_sizes(rows: list[dict[str, str]]) -> dict[tuple[str, ...], int]:
    patients: dict[tuple[str, ...], set[str]] = {}
    for row in rows:
        cell = tuple(row[c] for c in QUASI_IDENTIFIERS)
        patients.setdefault(cell, set()).add(row["patient_pseudonym"])
    return {cell: len(members) for cell, members in patients.items()}


def enforce_min_cell_size(
    rows: list[dict[str, str]], min_cell_size: int
) -> tuple[int, dict[str, int], int]:
    """Generalise rows in place until every quasi-identifier cell has enough patients.

    Returns
    -------
    tuple
        (small cells before, rows changed per column, rows newly blank in every
        quasi-identifier).
    """
    before = [tuple(r[c] for c in QUASI_IDENTIFIERS) for r in rows]

    def small() -> list[dict[str, str]]:
        sizes = _cell_sizes(rows)
        return [r for r in rows if sizes[tuple(r[c] for c in QUASI_IDENTIFIERS)] < min_cell_size]

    small_before = sum(1 for n in _cell_sizes(rows).values() if n < min_cell_size)
    for step in _STEPS:
        targets = small()
        if not targets:
            break
        for row in targets:
            for column in step:
                name, _, how = column.partition(":")
                row[name] = _widen_band(row[name]) if how == "20" else ""
    changed: Counter[str] = Counter()
    for old, row in zip(before, rows, strict=True):
        for column, value in zip(QUASI_IDENTIFIERS, old, strict=True):
            changed[column] += row[column] != value
    suppressed = sum(
        1
        for old, row in zip(before, rows, strict=True)
        if any(old) and not any(row[c] for c in QUASI_IDENTIFIERS)
    )
    return small_before, {c: n for c, n in sorted(changed.items()) if n}, suppressed


class CohortManifestWriter:
    """Collect cohort rows per series, then write the manifest CSV atomically.

    Call :meth:`add` once per written instance (rows are per series; ``n_instances``
    counts the calls). Where instances of a series disagree, the most common value wins
    (ties: the smallest), so the output does not depend on the order of the calls.

    Parameters
    ----------
    path
        The CSV file to write on :meth:`close`.
    min_cell_size
        K for k-anonymity on :data:`QUASI_IDENTIFIERS`; ``None`` or 1 disables it.
    """

    def __init__(self, path: Path, *, min_cell_size: int | None = None) -> None:
        if min_cell_size is not None and min_cell_size < 1:
            raise ValueError("min_cell_size must be at least 1")
        self.path = Path(path)
        self.min_cell_size = min_cell_size
        self._series: dict[tuple[str, str, str], dict[str, Counter[str]]] = {}
        self._instances: Counter[tuple[str, str, str]] = Counter()

    def add(
        self,
        *,
        patient_pseudonym: str,
        study_uid: str,
        series_uid: str,
        attributes: dict[str, str],
    ) -> None:
        """Record one instance of a series with its attributes."""
        row_key = (patient_pseudonym, study_uid, series_uid)
        counters = self._series.setdefault(row_key, {c: Counter() for c in ATTRIBUTE_COLUMNS})
        for column in ATTRIBUTE_COLUMNS:
            counters[column][str(attributes.get(column, "") or "")] += 1
        self._instances[row_key] += 1

    def rows(self) -> list[dict[str, str]]:
        """The manifest rows (before small-cell protection), sorted by the row key."""
        out: list[dict[str, str]] = []
        for row_key in sorted(self._series):
            patient, study, series = row_key
            row = {
                "patient_pseudonym": patient,
                "study_uid": study,
                "series_uid": series,
                "n_instances": str(self._instances[row_key]),
            }
            for column, counter in self._series[row_key].items():
                row[column] = min(counter.items(), key=lambda item: (-item[1], item[0]))[0]
            out.append(row)
        return out

    def close(self) -> CohortReport:
        """Apply ``min_cell_size``, write the CSV atomically and report what changed."""
        rows = self.rows()
        small_before, suppressed = 0, 0
        generalised: dict[str, int] = {}
        if self.min_cell_size is not None and self.min_cell_size > 1:
            small_before, generalised, suppressed = enforce_min_cell_size(rows, self.min_cell_size)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(COHORT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buffer.getvalue())
        return CohortReport(
            path=self.path,
            rows=len(rows),
            patients=len({r["patient_pseudonym"] for r in rows}),
            min_cell_size=self.min_cell_size,
            small_cells_before=small_before,
            generalised=generalised,
            suppressed_rows=suppressed,
        )
