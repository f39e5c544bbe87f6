"""verify --ocr's matcher: the batch's identifying values, without crying wolf on screens."""

from __future__ import annotations

import pytest

from deidkit.verify.ocr_check import _phi_kind, pixel_values
from deidkit.verify.records import OriginalIndex


@pytest.fixture(scope="module")
def values() -> frozenset[str]:
    index = OriginalIndex(
        values={
            "cchs cleveland clinic": "InstitutionName",
            "springfield general hospital": "InstitutionName",
            "green^john": "PatientName",
            "peter": "ReferringPhysicianName",
            "mrn4821": "PatientID",
            "19710203": "PatientBirthDate",
        },
        uids={},
        uid_roots=frozenset(),
    )
    return pixel_values(index)


def _kind(line: str, values: frozenset[str]) -> str | None:
    return _phi_kind(line, line.split(), values)


@pytest.mark.parametrize(
    "line",
    ["CCHS CLEVELAND CLINIC", "CLEVELAND", "SPRINGFIELD", "JOHN GREEN", "GREEN JOHN",
     "MRN4821", "03.02.1971", "PETRR"],
)  # fmt: skip
def test_identifying_values_are_found(line: str, values: frozenset[str]) -> None:
    assert _kind(line, values) is not None, line


@pytest.mark.parametrize(
    # seen on pydicom's and deid-data's screens: a preset, a colour name, OCR debris
    "line",
    ["*Renal General", "green", "Medical Center", "peer]", "TIS 0.5", "Sag Liver L-M"],
)
def test_ordinary_words_of_other_values_are_no_phi(line: str, values: frozenset[str]) -> None:
    assert _kind(line, values) is None, line
