"""deid recipes, parsed by deid's own parser, become profile overrides (or a RecipeError)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deidkit.errors import RecipeError
from deidkit.recipe import expand_field, recipe_overrides

RECIPE = """FORMAT dicom

%header

REMOVE endswith:Time
BLANK contains:Physician
KEEP SeriesDescription
REPLACE InstitutionName ANONYMOUS HOSPITAL
ADD ClinicalTrialProtocolID STUDY-7
JITTER StudyDate -10
REMOVE PatientID
REMOVE StudyInstanceUID
REPLACE SeriesInstanceUID deid_func:dicom_uuid
REMOVE startswith:IssueDate
"""


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.dicom"
    path.write_text(RECIPE, encoding="utf-8")
    return path


def test_header_actions_map(recipe_file: Path) -> None:
    overrides = recipe_overrides(recipe_file)
    assert overrides["(0008,0030)"] == "X"  # StudyTime via endswith:Time
    assert overrides["(0008,002A)"] == "X"  # AcquisitionDateTime ends with "time" too
    assert overrides["(0008,0090)"] == "Z"  # ReferringPhysicianName via contains:Physician
    assert overrides["(0008,103E)"] == "K"
    assert overrides["(0008,0080)"] == "R:ANONYMOUS HOSPITAL"
    assert overrides["(0012,0020)"] == "A:STUDY-7"
    assert overrides["(0008,0020)"] == "J:-10"
    assert overrides["(0010,0020)"] == "D"  # Patient ID always the keyed pseudonym
    assert overrides["(0020,000D)"] == "U"  # removing a UID maps to the keyed UID
    assert overrides["(0020,000E)"] == "U"
    assert overrides["(0040,2004)"] == "X"  # IssueDateOfImagingServiceRequest
    assert not any(tag.startswith("(0002,") for tag in overrides)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("REPLACE PatientName func:my_function", "func:"),
        ("REPLACE PatientName var:name", "var:"),
        ("REMOVE select:VR:PN", "select:"),
        ("REMOVE NoSuchKeyword", "unknown field"),
        ("JITTER StudyDate soon", "whole number"),
    ],
)
def test_unmappable_actions_are_errors(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.dicom"
    path.write_text(f"FORMAT dicom\n\n%header\n\n{line}\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=message) as info:
        recipe_overrides(path)
    assert "header action 1" in str(info.value)


def test_filter_sections_are_not_silently_dropped(tmp_path: Path) -> None:
    path = tmp_path / "filters.dicom"
    path.write_text(
        "FORMAT dicom\n\n%filter graylist\n\nLABEL Screens\n  contains ImageType SCREEN\n"
        "\n%header\n\nREMOVE PatientAddress\n",
        encoding="utf-8",
    )
    with pytest.raises(RecipeError, match="filter"):
        recipe_overrides(path)


def test_missing_recipe(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        recipe_overrides(tmp_path / "nope.dicom")


def test_expanders() -> None:
    tags = {tag for tag, _vr in expand_field("startswith:Patient", where="t")}
    assert "(0010,0010)" in tags and "(0010,0030)" in tags
    assert "(0008,0020)" not in tags
    everything = expand_field("ALL", where="t")
    assert len(everything) > 3000
    excepted = {tag for tag, _ in expand_field("except:Patient", where="t")}
    assert "(0010,0010)" not in excepted and "(0008,0020)" in excepted


def test_recipe_parsing_prints_nothing(
    recipe_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe_overrides(recipe_file)
    captured = capsys.readouterr()
    assert captured.out == ""
