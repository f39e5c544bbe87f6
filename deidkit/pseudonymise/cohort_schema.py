"""The one place that names the cohort manifest's columns and normalises its values.

``deidkit scrub --cohort-manifest`` writes these columns; ``auditkit`` reads them as-is and
uses the same normalisers when it reads scanner and patient attributes from DICOM headers.
"""

from __future__ import annotations

import math
import re
from typing import Final

#: Column order of the cohort manifest (one row per series). Documented in README.md.
COHORT_COLUMNS: Final[tuple[str, ...]] = (
    "patient_pseudonym",  # keyed patient pseudonym (same as the release's PatientID)
    "study_uid",  # new (pseudonymous) StudyInstanceUID
    "series_uid",  # new (pseudonymous) SeriesInstanceUID
    "n_instances",  # instances of the series in the release
    "sex",  # M / F / O, empty when unknown
    "age_band",  # "40-49" (10-year) or "40-44" (5-year); "90+" collapsed; empty if unknown
    "manufacturer",  # normalised spelling, e.g. "GE", "Siemens", "Philips"
    "model",  # ManufacturerModelName as recorded
    "field_strength",  # MagneticFieldStrength in tesla, e.g. "1.5", "3"
    "modality",  # CT, MR, CR ...
    "body_part",  # BodyPartExamined
    "site",  # keyed site pseudonym of the institution (never the name)
    "pixel_spacing",  # "row\\col" in mm
    "slice_thickness",  # mm
)

_MANUFACTURER_PATTERNS: Final[tuple[tuple[str, str], ...]] = (
    (r"\bge\b|general electric|ge medical|ge healthcare|gehc", "GE"),
    (r"siemens", "Siemens"),
    (r"philips", "Philips"),
    (r"canon|toshiba", "Canon"),
    (r"hitachi|fujifilm|fuji", "Fujifilm"),
    (r"agfa", "Agfa"),
    (r"carestream|kodak", "Carestream"),
    (r"hologic", "Hologic"),
    (r"united imaging|\buih\b", "United Imaging"),
    (r"samsung", "Samsung"),
    (r"konica", "Konica Minolta"),
)

_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)


def normalise_manufacturer(value: str | None) -> str:
    """Map vendor spellings to one name ("GE MEDICAL SYSTEMS", "GE Healthcare" -> "GE").

    Unknown vendors are returned stripped, in their recorded spelling; empty -> "".
    """
    if value is None:
        return ""
    text = str(value).strip()
    lowered = text.casefold()
    for pattern, name in _MANUFACTURER_PATTERNS:
        if re.search(pattern, lowered):
            return name
    return text


def parse_age(value: str | None) -> float | None:
    """Parse a DICOM Age String ("058Y", "006M", "010W", "003D") into years.

    Returns ``None`` for empty or malformed values.
    """
    if value is None:
        return None
    match = _AGE_RE.match(str(value))
    if not match:
        return None
    number = int(match.group(1))
    unit = (match.group(2) or "Y").upper()
    per_year = {"Y": 1.0, "M": 12.0, "W": 52.1775, "D": 365.25}[unit]
    return number / per_year


def age_band(years: float | None, *, width: int = 10, top: int = 90) -> str:
    """Age band label: ``"40-49"`` for width 10, ``"90+"`` at and above ``top``; "" if unknown."""
    if years is None or (isinstance(years, float) and math.isnan(years)) or years < 0:
        return ""
    if width not in (5, 10):
        raise ValueError("age band width must be 5 or 10")
    if years >= top:
        return f"{top}+"
    low = int(years // width) * width
    return f"{low}-{low + width - 1}"


def normalise_sex(value: str | None) -> str:
    """DICOM PatientSex to M / F / O; anything else -> ""."""
    text = (value or "").strip().upper()
    return text if text in {"M", "F", "O"} else ""
