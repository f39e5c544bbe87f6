"""Tests of the cohort manifest: attributes from original headers, rows, k-anonymity."""

from __future__ import annotations

import csv
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import site_pseudonym
from deidkit.pseudonymise.cohort import (
    ATTRIBUTE_COLUMNS,
    QUASI_IDENTIFIERS,
    CohortManifestWriter,
    enforce_min_cell_size,
    series_attributes,
)
from deidkit.pseudonymise.cohort_schema import COHORT_COLUMNS

KEY = ProjectKey(secret=bytes(range(32)), source="test")


def _ds(**values: object) -> pydicom.Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_attributes_from_original_headers() -> None:
    ds = _ds(
        PatientSex="F",
        PatientAge="047Y",
        Manufacturer="GE MEDICAL SYSTEMS",
        ManufacturerModelName="DISCOVERY MR750",
        MagneticFieldStrength="3.0",
        Modality="MR",
        BodyPartExamined="HEAD",
        InstitutionName="St CANARY Hospital",
        PixelSpacing=["0.9375", "0.9375"],
        SliceThickness="1.20",
    )
    attributes = series_attributes(ds, key=KEY)
    assert set(attributes) == set(ATTRIBUTE_COLUMNS)
    assert attributes == {
        "sex": "F",
        "age_band": "40-49",
        "manufacturer": "GE",
        "model": "DISCOVERY MR750",
        "field_strength": "3",
        "modality": "MR",
        "body_part": "HEAD",
        "site": site_pseudonym(KEY, "St CANARY Hospital"),
        "pixel_spacing": "0.9375\\0.9375",
        "slice_thickness": "1.2",
    }
    assert "CANARY" not in "".join(attributes.values())
    assert series_attributes(ds, key=KEY, age_band_width=5)["age_band"] == "45-49"


def test_age_from_birth_date_gauss_and_enhanced_spacing() -> None:
    measures = _ds(PixelSpacing=["0.5", "0.25"], SliceThickness="3")
    ds = _ds(
        PatientSex="M",
        PatientBirthDate="19300115",
        StudyDate="20240110",
        Manufacturer="Siemens Healthineers",
        MagneticFieldStrength="15000",
        SharedFunctionalGroupsSequence=Sequence([_ds(PixelMeasuresSequence=Sequence([measures]))]),
    )
    attributes = series_attributes(ds, key=KEY)
    assert attributes["age_band"] == "90+"  # 93.98 years, collapsed
    assert attributes["manufacturer"] == "Siemens"
    assert attributes["field_strength"] == "1.5"
    assert attributes["pixel_spacing"] == "0.5\\0.25"
    assert attributes["slice_thickness"] == "3"
    assert series_attributes(Dataset(), key=KEY) == dict.fromkeys(ATTRIBUTE_COLUMNS, "")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_writer_rows_per_series_independent_of_call_order(tmp_path: Path) -> None:
    vendors = ["GE Healthcare", "GE MEDICAL SYSTEMS", "SIEMENS", "Philips Medical Systems"]
    calls = []
    for i, vendor in enumerate(vendors):
        attributes = series_attributes(
            _ds(Manufacturer=vendor, Modality="CT", SliceThickness=str(1 + i % 2)), key=KEY
        )
        calls.append((f"P{i % 2}", "2.25.1", f"2.25.{10 + i // 2}", attributes))
    paths = []
    for order, name in ((calls, "a.csv"), (list(reversed(calls)), "b.csv")):
        writer = CohortManifestWriter(tmp_path / name)
        for patient, study, series, attributes in order:
            writer.add(
                patient_pseudonym=patient, study_uid=study, series_uid=series, attributes=attributes
            )
        report = writer.close()
        paths.append(tmp_path / name)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    rows = _read(paths[0])
    assert tuple(rows[0]) == COHORT_COLUMNS
    assert report.rows == len(rows) == 4 and report.patients == 2
    assert {r["manufacturer"] for r in rows} == {"GE", "Siemens", "Philips"}
    merged = CohortManifestWriter(tmp_path / "m.csv")
    for thickness in ("1", "2", "2"):
        merged.add(
            patient_pseudonym="P0",
            study_uid="2.25.1",
            series_uid="2.25.9",
            attributes={"slice_thickness": thickness},
        )
    merged.close()
    (row,) = _read(tmp_path / "m.csv")
    assert (row["n_instances"], row["slice_thickness"]) == ("3", "2")  # most common wins


def _row(patient: str, **attributes: str) -> dict[str, str]:
    row = {
        "patient_pseudonym": patient,
        "study_uid": "s",
        "series_uid": patient,
        "n_instances": "1",
    }
    row.update({c: attributes.get(c, "") for c in ATTRIBUTE_COLUMNS})
    return row


def test_min_cell_size_generalises_then_suppresses(tmp_path: Path) -> None:
    common = {"sex": "F", "site": "SITEA", "manufacturer": "GE", "modality": "MR"}
    rows = [_row(f"P{i}", age_band="40-49", **common) for i in range(3)]
    rows.append(_row("P3", age_band="50-59", **common))  # alone in its cell
    rows.append(_row("P4", age_band="50-59", **common))  # ...with P3 it is 2 < 3
    rows.append(
        _row("P5", age_band="30-39", sex="M", site="SITEB", manufacturer="Agfa", modality="CR")
    )
    small_before, changed, suppressed = enforce_min_cell_size(rows, 3)
    assert small_before == 2
    # 50-59 widens to 40-59: P3, P4 now share a cell of 2 < 3, so they lose more;
    # the lone CR patient ends fully suppressed.
    assert rows[0]["age_band"] == "40-49"  # large cells untouched
    assert suppressed == 3
    assert changed["age_band"] == 3 and changed["sex"] >= 1
    cells: dict[tuple[str, ...], set[str]] = {}
    for row in rows:
        cells.setdefault(tuple(row[c] for c in QUASI_IDENTIFIERS), set()).add(
            row["patient_pseudonym"]
        )
    for cell, patients in cells.items():
        assert len(patients) >= 3 or not any(cell)


def test_writer_reports_counts_not_values(tmp_path: Path) -> None:
    writer = CohortManifestWriter(tmp_path / "c.csv", min_cell_size=2)
    writer.add(
        patient_pseudonym="P1",
        study_uid="2.25.1",
        series_uid="2.25.2",
        attributes={"sex": "F", "age_band": "90+", "site": "SITEZZZZ"},
    )
    report = writer.close()
    summary = report.to_dict()
    assert summary["suppressed_rows"] == 1 and summary["min_cell_size"] == 2
    assert "SITEZZZZ" not in str(summary) and "90+" not in str(summary)
    (row,) = _read(tmp_path / "c.csv")
    assert row["site"] == row["age_band"] == row["sex"] == ""
    with pytest.raises(ValueError):
        CohortManifestWriter(tmp_path / "x.csv", min_cell_size=0)


_VALUES = {
    "sex": st.sampled_from(["F", "M", ""]),
    "age_band": st.sampled_from(["20-29", "40-44", "85-89", "90+", ""]),
    "site": st.sampled_from(["SITEA", "SITEB"]),
    "manufacturer": st.sampled_from(["GE", "Siemens"]),
    "model": st.sampled_from(["X", "Y", "Z"]),
    "modality": st.sampled_from(["CT", "MR"]),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    k=st.integers(min_value=2, max_value=4),
    people=st.lists(st.fixed_dictionaries(_VALUES), min_size=1, max_size=25),
)
def test_property_every_cell_reaches_k(k: int, people: list[dict[str, str]]) -> None:
    rows = [_row(f"P{i}", **attributes) for i, attributes in enumerate(people)]
    enforce_min_cell_size(rows, k)
    cells: dict[tuple[str, ...], set[str]] = {}
    for row in rows:
        cells.setdefault(tuple(row[c] for c in QUASI_IDENTIFIERS), set()).add(
            row["patient_pseudonym"]
        )
    for cell, patients in cells.items():
        assert len(patients) >= k or not any(cell)
