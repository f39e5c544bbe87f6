"""Normalisers shared by the cohort manifest and auditkit's DICOM attribute reader."""

from __future__ import annotations

import math

import pytest

from deidkit.pseudonymise.cohort_schema import (
    COHORT_COLUMNS,
    age_band,
    normalise_manufacturer,
    normalise_sex,
    parse_age,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GE MEDICAL SYSTEMS", "GE"),
        ("GE Healthcare", "GE"),
        ("SIEMENS", "Siemens"),
        ("Siemens Healthineers", "Siemens"),
        ("Philips Medical Systems", "Philips"),
        ("TOSHIBA", "Canon"),
        ("  Acme Imaging ", "Acme Imaging"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalise_manufacturer(raw: str | None, expected: str) -> None:
    assert normalise_manufacturer(raw) == expected


def test_manufacturer_word_boundary() -> None:
    # "ge" inside another word must not be read as GE.
    assert normalise_manufacturer("Vantage Imaging") == "Vantage Imaging"


@pytest.mark.parametrize(
    ("raw", "years"),
    [("058Y", 58.0), ("006M", 0.5), ("052W", 52 / 52.1775), ("365D", 365 / 365.25), ("45", 45.0)],
)
def test_parse_age(raw: str, years: float) -> None:
    value = parse_age(raw)
    assert value is not None
    assert math.isclose(value, years)


@pytest.mark.parametrize("raw", ["", None, "abc", "58Q", "1234Y"])
def test_parse_age_rejects_malformed(raw: str | None) -> None:
    assert parse_age(raw) is None


def test_age_bands() -> None:
    assert age_band(58.0) == "50-59"
    assert age_band(58.0, width=5) == "55-59"
    assert age_band(90.0) == "90+"
    assert age_band(104.0, width=5) == "90+"
    assert age_band(0.5) == "0-9"
    assert age_band(None) == ""
    assert age_band(float("nan")) == ""
    with pytest.raises(ValueError):
        age_band(40.0, width=7)


def test_sex_and_columns() -> None:
    assert normalise_sex(" f ") == "F"
    assert normalise_sex("X") == ""
    assert COHORT_COLUMNS[0] == "patient_pseudonym"
    assert len(set(COHORT_COLUMNS)) == len(COHORT_COLUMNS)
