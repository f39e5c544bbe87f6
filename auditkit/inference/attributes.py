"""Scanner and patient attributes read from DICOM headers, named as in the cohort manifest.

The column names and normalisers are deidkit's (:mod:`deidkit.pseudonymise.cohort_schema`), so a
predictions table built here and a cohort manifest written by ``deidkit scrub`` agree.
Identifying values never leave this module: the institution name becomes a keyed site
pseudonym (or is dropped when no key is given), and ages of 90 and above are capped.
"""

from __future__ import annotations

import math
from typing import Any, Final

from auditkit.vendors import VendorTable, normalise_vendor
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import site_pseudonym
from deidkit.pseudonymise.cohort_schema import age_band, normalise_sex, parse_age

#: Attribute columns this module fills, in output order (cohort names plus ``kvp``/``age_years``).
ATTRIBUTE_COLUMNS: Final[tuple[str, ...]] = (
    "sex",
    "age_years",
    "age_band",
    "manufacturer",
    "model",
    "field_strength",
    "modality",
    "body_part",
    "site",
    "pixel_spacing",
    "slice_thickness",
    "kvp",
)

#: Ages at and above this are written as this value (HIPAA Safe Harbor aggregates 90+).
AGE_CAP_YEARS: Final[float] = 90.0


def _get(ds: Any, keyword: str) -> Any:
    """Value of ``keyword`` or ``None``; a malformed element never raises."""
    if ds is None:
        return None
    try:
        return getattr(ds, keyword, None)
    except Exception:  # pydicom converts lazily and may raise on a malformed value
        return None


def _text(ds: Any, keyword: str) -> str:
    value = _get(ds, keyword)
    if value is None:
        return ""
    return str(value).strip()


def _number(ds: Any, keyword: str) -> str:
    """A DS/IS value as a short canonical decimal ("1.50" -> "1.5"), "" when absent or bad."""
    value = _get(ds, keyword)
    if value is None or value == "":
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return ""
    return f"{number:g}"


def _spacing(ds: Any) -> str:
    value = _get(ds, "PixelSpacing")
    if value is None:
        return ""
    try:
        parts = [f"{float(v):g}" for v in value]
    except (TypeError, ValueError):
        return ""
    return "\\".join(parts)


def dicom_attributes(
    ds: Any, *, key: ProjectKey | None = None, vendors: VendorTable | None = None
) -> dict[str, str]:
    """Read subgroup attributes from one DICOM header.

    Parameters
    ----------
    ds : pydicom.Dataset
        Header of one instance of the series (pixel data not needed).
    key : ProjectKey, optional
        Project key for the site pseudonym. Without a key ``site`` is left empty: the
        institution name itself is never returned.
    vendors : VendorTable, optional
        Manufacturer spellings (:mod:`auditkit.vendors`); the shipped table when ``None``.

    Returns
    -------
    dict of str to str
        One entry per name in :data:`ATTRIBUTE_COLUMNS`; "" where the header has no value.
    """
    years = parse_age(_text(ds, "PatientAge") or None)
    capped = None if years is None else min(years, AGE_CAP_YEARS)
    institution = _text(ds, "InstitutionName")
    return {
        "sex": normalise_sex(_text(ds, "PatientSex")),
        "age_years": "" if capped is None else f"{capped:.4g}",
        "age_band": age_band(years),
        "manufacturer": normalise_vendor(_text(ds, "Manufacturer"), vendors),
        "model": _text(ds, "ManufacturerModelName"),
        "field_strength": _number(ds, "MagneticFieldStrength"),
        "modality": _text(ds, "Modality").upper(),
        "body_part": _text(ds, "BodyPartExamined").upper(),
        "site": site_pseudonym(key, institution) if (key is not None and institution) else "",
        "pixel_spacing": _spacing(ds),
        "slice_thickness": _number(ds, "SliceThickness"),
        "kvp": _number(ds, "KVP"),
    }


def empty_attributes() -> dict[str, str]:
    """Attributes of an image without a DICOM header (NIfTI): every column empty."""
    return dict.fromkeys(ATTRIBUTE_COLUMNS, "")


def merge_attributes(manifest_row: dict[str, Any], header: dict[str, str]) -> dict[str, Any]:
    """Combine manifest columns and header attributes: a non-empty manifest value wins.

    The manifest is what the team curated (or what ``deidkit scrub`` captured before
    scrubbing stripped the header), so header values only fill its gaps.
    """
    merged: dict[str, Any] = dict(manifest_row)
    for name, value in header.items():
        current = merged.get(name)
        if current is None or (isinstance(current, float) and math.isnan(current)) or current == "":
            merged[name] = value
    return merged
