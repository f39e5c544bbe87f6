"""Profiles: shipped YAML, extends, overrides, strict validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from deidkit.core.errors import ProfileError, UsageError
from deidkit.rules.profile import OPTION_NAMES, Profile, list_profiles, load_profile


def test_option_names_are_the_json_columns() -> None:
    assert OPTION_NAMES == (
        "retain_safe_private",
        "retain_uids",
        "retain_device_identity",
        "retain_institution_identity",
        "retain_patient_characteristics",
        "retain_long_full_dates",
        "retain_long_modified_dates",
        "clean_descriptors",
        "clean_structured_content",
        "clean_graphics",
    )


def test_shipped_profiles() -> None:
    names = list_profiles()
    assert {"basic", "research"} <= set(names)
    basic = load_profile("basic")
    assert basic.options == frozenset()
    assert basic.source == "builtin:basic"
    research = load_profile("research")
    assert research.options == {
        "retain_safe_private",
        "retain_long_modified_dates",
        "retain_patient_characteristics",
        "retain_device_identity",
        "clean_descriptors",
        "clean_structured_content",
        "clean_graphics",
    }
    assert research.date_shift_range == (-3650, -365)
    assert research.patient_name == "pseudonym"


def test_every_shipped_profile_loads() -> None:
    for name in list_profiles():
        assert isinstance(load_profile(name), Profile)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_and_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "mine.yaml",
        "extends: research\n"
        "options: [retain_uids]\n"
        "overrides:\n  SeriesDescription: K\n  '(0008,0050)': D\n  00081030: X\n"
        "patient_name: empty\n"
        "date_shift_days: [-30, -1]\n",
    )
    profile = load_profile(path)
    assert "retain_uids" in profile.options and "retain_safe_private" in profile.options
    assert profile.overrides == {"(0008,103E)": "K", "(0008,0050)": "D", "(0008,1030)": "X"}
    assert profile.patient_name == "empty"
    assert profile.date_shift_range == (-30, -1)
    assert profile.source == str(path)
    assert profile.name == "mine"
    with pytest.raises(TypeError):
        profile.overrides["(0010,0010)"] = "K"  # type: ignore[index]
    assert hash(profile) == hash(load_profile(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("options: [retain_everything]\n", "unknown option"),
        ("overrides:\n  PatientNme: K\n", "unknown DICOM keyword"),
        ("overrides:\n  PatientName: Q\n", "unknown action"),
        ("colour: blue\n", "unknown key"),
        ("patient_name: initials\n", "patient_name"),
        ("date_shift_days: [10, 1]\n", "date_shift_days"),
        ("options: [retain_long_full_dates, retain_long_modified_dates]\n", "exclude"),
        ("extends: nonexistent\n", "unknown profile"),
        ("- a\n- b\n", "mapping"),
        ("options: retain_uids\n", "list"),
    ],
)
def test_invalid_profiles(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


def test_unknown_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="basic"):
        load_profile("no-such-profile")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("missing.yaml")


def test_recipe_becomes_overrides(tmp_path: Path) -> None:
    recipe = _write(tmp_path, "deid.dicom", "FORMAT dicom\n\n%header\n\nKEEP SeriesDescription\n")
    profile = load_profile("basic", recipe=recipe)
    assert profile.overrides["(0008,103E)"] == "K"
    assert profile.source == "builtin:basic+recipe:deid.dicom"


def test_profile_pickles_for_worker_processes() -> None:
    import pickle

    profile = load_profile("research")
    again = pickle.loads(pickle.dumps(profile))
    assert again == profile and hash(again) == hash(profile)
    with pytest.raises(TypeError):
        again.overrides["(0010,0010)"] = "K"  # type: ignore[index]


def test_extends_a_file_beside_the_child(tmp_path: Path) -> None:
    _write(tmp_path, "parent.yaml", "extends: basic\noptions: [retain_uids]\n")
    child = _write(tmp_path, "child.yaml", "extends: parent.yaml\noptions: [clean_graphics]\n")
    assert load_profile(child).options == {"retain_uids", "clean_graphics"}
