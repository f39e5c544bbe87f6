"""Scanner and patient attributes from DICOM headers."""

from __future__ import annotations

import warnings

import pytest
from pydicom.dataset import Dataset

from auditkit.inference.attributes import (
    AGE_CAP_YEARS,
    ATTRIBUTE_COLUMNS,
    dicom_attributes,
    empty_attributes,
    merge_attributes,
)
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import site_pseudonym
from deidkit.pseudonymise.cohort_schema import COHORT_COLUMNS

KEY = ProjectKey(secret=bytes(range(32)), source="test")
INSTITUTION = "St Canary Hospital"


def header(**values: object) -> Dataset:
    ds = Dataset()
    with warnings.catch_warnings():
        # Lower-case CS values are invalid DICOM but real vendors write them.
        warnings.simplefilter("ignore", UserWarning)
        for keyword, value in values.items():
            setattr(ds, keyword, value)
    return ds


def test_columns_use_cohort_names() -> None:
    shared = set(ATTRIBUTE_COLUMNS) - {"age_years", "kvp"}
    assert shared <= set(COHORT_COLUMNS)


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        ("GE MEDICAL SYSTEMS", "GE"),
        ("GE Healthcare", "GE"),
        ("SIEMENS", "Siemens"),
        ("Philips Medical Systems", "Philips"),
        ("TOSHIBA", "Canon"),
        ("Acme Imaging", "Acme Imaging"),
    ],
)
def test_manufacturer_normalised(recorded: str, expected: str) -> None:
    assert dicom_attributes(header(Manufacturer=recorded))["manufacturer"] == expected


@pytest.mark.parametrize(
    ("age", "years", "band"),
    [
        ("058Y", "58", "50-59"),
        ("006M", "0.5", "0-9"),
        ("010D", "0.02738", "0-9"),
        ("095Y", "90", "90+"),
    ],
)
def test_patient_age_parsed_and_capped(age: str, years: str, band: str) -> None:
    attrs = dicom_attributes(header(PatientAge=age))
    assert attrs["age_years"] == years
    assert attrs["age_band"] == band
    assert float(attrs["age_years"]) <= AGE_CAP_YEARS


def test_scanner_attributes() -> None:
    ds = header(
        PatientSex="f",
        ManufacturerModelName="Signa HDxt",
        MagneticFieldStrength="1.50",
        Modality="mr",
        BodyPartExamined="Head",
        PixelSpacing=["0.5", "0.50"],
        SliceThickness="3.0",
        KVP="120",
    )
    attrs = dicom_attributes(ds)
    assert attrs["sex"] == "F"
    assert attrs["model"] == "Signa HDxt"
    assert attrs["field_strength"] == "1.5"
    assert attrs["modality"] == "MR"
    assert attrs["body_part"] == "HEAD"
    assert attrs["pixel_spacing"] == "0.5\\0.5"
    assert attrs["slice_thickness"] == "3"
    assert attrs["kvp"] == "120"


def test_site_is_a_keyed_pseudonym_never_the_name() -> None:
    ds = header(InstitutionName=INSTITUTION)
    with_key = dicom_attributes(ds, key=KEY)
    assert with_key["site"] == site_pseudonym(KEY, INSTITUTION)
    assert INSTITUTION not in with_key.values()
    without_key = dicom_attributes(ds)
    assert without_key["site"] == ""
    assert all(INSTITUTION not in v for v in without_key.values())


def test_missing_and_malformed_values_are_empty() -> None:
    ds = header(PatientSex="X")
    # Malformed values as some vendors write them (stored here with a lenient VR).
    ds.add_new(0x00101010, "LO", "old")  # PatientAge
    ds.add_new(0x00180087, "LO", "n/a")  # MagneticFieldStrength
    ds.add_new(0x00280030, "LO", "a\\b")  # PixelSpacing
    attrs = dicom_attributes(ds)
    assert attrs == empty_attributes()
    assert dicom_attributes(header()) == empty_attributes()


def test_manifest_value_wins_over_header() -> None:
    merged = merge_attributes(
        {"sex": "M", "manufacturer": "", "site": float("nan")},
        {"sex": "F", "manufacturer": "GE", "site": "SITEABC"},
    )
    assert merged == {"sex": "M", "manufacturer": "GE", "site": "SITEABC"}
