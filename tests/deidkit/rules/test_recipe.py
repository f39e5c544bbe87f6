"""deid recipes, parsed by deid's own parser, become profile overrides (or a RecipeError)."""

from __future__ import annotations

import pickle
from pathlib import Path

import deid
import pytest

from deidkit.core.errors import RecipeError
from deidkit.rules.profile import load_profile
from deidkit.rules.recipe import (
    NOTE_FILTERS_NOT_APPLIED,
    expand_field,
    map_recipe,
    recipe_overrides,
)

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
        ("JITTER StudyDate soon", "whole number"),
    ],
)
def test_unmappable_actions_are_errors(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.dicom"
    path.write_text(f"FORMAT dicom\n\n%header\n\n{line}\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=message) as info:
        recipe_overrides(path)
    assert "header action 1" in str(info.value)


def test_filter_sections_become_notes_not_silence(tmp_path: Path) -> None:
    path = tmp_path / "filters.dicom"
    path.write_text(
        "FORMAT dicom\n\n%filter graylist\n\nLABEL Screens\n  contains ImageType SCREEN\n"
        "\n%header\n\nREMOVE PatientAddress\n",
        encoding="utf-8",
    )
    mapping = map_recipe(path)
    assert mapping.overrides == {"(0010,1040)": "X"}
    assert mapping.notes == (
        NOTE_FILTERS_NOT_APPLIED.format(recipe="filters.dicom", sections="graylist (1 rule)"),
    )
    profile = load_profile("basic", recipe=path)
    assert profile.notes == mapping.notes
    assert profile.overrides["(0010,1040)"] == "X"
    assert pickle.loads(pickle.dumps(profile)) == profile  # worker processes get the notes


def test_unknown_plain_field_changes_nothing_but_is_noted(
    tmp_path: Path, recipe_file: Path
) -> None:
    path = tmp_path / "old.dicom"
    path.write_text("FORMAT dicom\n\n%header\n\nREMOVE PatientsName\nKEEP patientage\n")
    mapping = map_recipe(path)
    assert mapping.overrides == {"(0010,1010)": "K"}  # exact match ignores case, as in deid
    assert len(mapping.notes) == 1
    assert "REMOVE PatientsName" in mapping.notes[0] and "change nothing" in mapping.notes[0]
    assert map_recipe(recipe_file).notes == ()


def _deid_default_recipe() -> Path:
    path = Path(deid.__file__).parent / "data" / "deid.dicom"
    assert path.is_file(), "deid ships its default recipe in deid/data"
    return path


def test_deid_default_recipe_var_values_stay_errors() -> None:
    # deid's own default recipe fills dates and IDs from run-time variables (var:), which
    # deidkit replaces by keyed values; the error names the first such action
    with pytest.raises(RecipeError, match="var:") as info:
        load_profile("basic", recipe=_deid_default_recipe())
    assert "ADD PatientBirthDate" in str(info.value)


def test_deid_default_recipe_loads_with_filters_noted(tmp_path: Path) -> None:
    text = _deid_default_recipe().read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if "var:" not in line]
    assert 0 < len(lines) - len(kept) <= 8  # only the variable lookups are taken out
    path = tmp_path / "deid.dicom"
    path.write_text("".join(kept), encoding="utf-8")
    profile = load_profile("research", recipe=path)
    assert profile.source == "builtin:research+recipe:deid.dicom"
    filters = next(n for n in profile.notes if "pixel filter" in n)
    for section in ("whitelist", "graylist", "blacklist"):
        assert section in filters
    assert "holds back burned-in-risk files" in filters
    assert any("PatientsName" in n for n in profile.notes)
    assert profile.overrides["(0010,0020)"] == "D"  # REMOVE PatientID -> keyed pseudonym
    assert profile.overrides["(0008,0090)"] == "X"  # REMOVE ReferringPhysicianName
    assert profile.overrides["(0008,0020)"] == "X"  # REMOVE endswith:Date
    assert profile.overrides["(0012,0062)"] == "A:YES"  # ADD PatientIdentityRemoved YES
    assert profile.overrides["(0020,000D)"] == "U"  # a UID removal keeps the keyed UID


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
