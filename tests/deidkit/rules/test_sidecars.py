"""BIDS JSON sidecars under a profile's Table E.1-1 codes (deidkit.rules.sidecars)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword
from sidecar_samples import (
    EXPECTED_BASIC,
    EXPECTED_RESEARCH_NO_KEY,
    EXPECTED_RESEARCH_SHIFTED,
    NEVER_KEPT,
    PLANTED_SIDECAR,
    mark,
)

from deidkit.rules.decisions import decide_tag
from deidkit.rules.descriptors import clean_text
from deidkit.rules.profile import Profile, load_profile
from deidkit.rules.sidecars import (
    json_kind,
    key_rule,
    scrub_bids_json,
    scrub_data_dictionary,
    scrub_description,
    scrub_sidecar,
)

BASIC = load_profile("basic")
RESEARCH = load_profile("research")


def test_basic_profile_removes_every_coded_key() -> None:
    original = copy.deepcopy(PLANTED_SIDECAR)
    assert scrub_sidecar(PLANTED_SIDECAR) == EXPECTED_BASIC  # basic is the default
    assert scrub_sidecar(PLANTED_SIDECAR, profile=BASIC, shift_date=mark) == EXPECTED_BASIC
    assert PLANTED_SIDECAR == original  # the input is not modified


def test_research_keeps_shifts_and_cleans_what_its_options_say() -> None:
    assert scrub_sidecar(PLANTED_SIDECAR, profile=RESEARCH) == EXPECTED_RESEARCH_NO_KEY
    shifted = scrub_sidecar(PLANTED_SIDECAR, profile=RESEARCH, shift_date=mark)
    assert shifted == EXPECTED_RESEARCH_SHIFTED


@pytest.mark.parametrize("profile", [BASIC, RESEARCH], ids=["basic", "research"])
def test_no_planted_identifier_survives(profile: Profile) -> None:
    text = json.dumps(scrub_sidecar(PLANTED_SIDECAR, profile=profile, shift_date=mark))
    assert [planted for planted in NEVER_KEPT if planted in text] == []


def _expected_outcome(key: str, value: Any, code: str | None, vr: str) -> Any:
    """What E.1-1's code means for one sidecar value, derived here without the module."""
    if code is None or code == "K":
        return value
    if code == "C":
        if vr in ("DA", "DT"):
            return mark(value)
        if vr == "TM":
            return value  # whole-day shifts leave a time of day as it was
        # the PHI spans of descriptors, the sidecar's own names among them: written by hand
        return EXPECTED_RESEARCH_SHIFTED.get(key)
    assert set(code.replace("*", "").split("/")) <= {"X", "Z", "D", "U"}, (key, code)
    return None  # removed: no empty, dummy or keyed value in a sidecar


@pytest.mark.parametrize("profile", [BASIC, RESEARCH], ids=["basic", "research"])
def test_each_dicom_keyword_follows_its_e11_code(profile: Profile) -> None:
    scrubbed = scrub_sidecar(PLANTED_SIDECAR, profile=profile, shift_date=mark)
    checked = coded = 0
    for key, value in PLANTED_SIDECAR.items():
        tag = tag_for_keyword(key)
        if tag is None:
            continue
        decision = decide_tag(tag, profile)
        code = decision.code if decision is not None else None
        expected = _expected_outcome(key, value, code, dictionary_VR(tag))
        assert scrubbed.get(key) == expected, (key, code)
        checked += 1
        coded += code is not None
    assert checked >= 30 and coded >= 20


def test_basic_and_research_differ_where_the_options_do() -> None:
    basic = scrub_sidecar(PLANTED_SIDECAR, profile=BASIC, shift_date=mark)
    research = scrub_sidecar(PLANTED_SIDECAR, profile=RESEARCH, shift_date=mark)
    differ = {k for k in PLANTED_SIDECAR if basic.get(k) != research.get(k)}
    # Modified Dates, Clean Descriptors, Patient Characteristics, Device Identity:
    assert {"StudyDate", "AcquisitionDateTime", "AcquisitionTime"} <= differ
    assert {"SeriesDescription", "ProtocolName", "StudyDescription"} <= differ
    assert {"PatientSex", "PatientAge", "DeviceSerialNumber", "StationName"} <= differ
    # ... and nowhere else: names, institutions, UIDs go under both.
    assert not differ & {"PatientName", "InstitutionName", "StudyInstanceUID", "OperatorsName"}


def test_a_profile_override_wins(tmp_path: Path) -> None:
    profile_file = tmp_path / "keep-series.yaml"
    profile_file.write_text("extends: basic\noverrides:\n  SeriesDescription: K\n")
    profile = load_profile(profile_file)
    scrubbed = scrub_sidecar(PLANTED_SIDECAR, profile=profile)
    assert scrubbed["SeriesDescription"] == PLANTED_SIDECAR["SeriesDescription"]
    assert key_rule("SeriesDescription", profile).action == "keep"
    assert key_rule("SeriesDescription", BASIC).action == "drop"


def test_clean_removes_what_it_cannot_clean(tmp_path: Path) -> None:
    # C on a date without Modified Dates (no offset to draw), and on a number: removed, as
    # the scrub empties them.
    profile_file = tmp_path / "clean.yaml"
    profile_file.write_text("extends: basic\noverrides:\n  StudyDate: C\n  PatientWeight: C\n")
    profile = load_profile(profile_file)
    sidecar = {"StudyDate": "20190504", "PatientWeight": 61.5, "EchoTime": 0.003}
    assert scrub_sidecar(sidecar, profile=profile, shift_date=mark) == {"EchoTime": 0.003}
    assert key_rule("StudyDate", profile).code == "C"


def test_key_rules_name_the_code_and_the_reason() -> None:
    rule = key_rule("AcquisitionDateTime", RESEARCH)
    assert (rule.action, rule.code, rule.vr) == ("clean", "C", "DT")
    assert "retain_long_modified_dates" in rule.reason
    assert key_rule("InstitutionName", BASIC).code == "X/Z/D"
    assert key_rule("Manufacturer", BASIC).action == "keep"  # not in E.1-1
    assert key_rule("PhaseEncodingDirection", BASIC).action == "bids"  # no DICOM keyword


def test_lists_are_kept_whole_or_removed() -> None:
    sidecar = {"ImageType": ["ORIGINAL", "PRIMARY"], "Tags": ["a", 1], "EchoTimes": [1, 2]}
    assert scrub_sidecar(sidecar) == {"ImageType": ["ORIGINAL", "PRIMARY"], "EchoTimes": [1, 2]}
    runs = {"Runs": [{"SeriesDate": "20190504", "RepetitionTime": 2.0}]}
    assert scrub_sidecar(runs) == {"Runs": [{"RepetitionTime": 2.0}]}


def test_dates_that_cannot_be_kept_are_named() -> None:
    sidecar = {
        "StudyDate": "last spring",
        "SeriesDate": 20190504,
        "ContentDate": None,
        "AcquisitionTime": "10:11",
        "AcquisitionDateTime": ["2019-05-04", "2019-05-05"],
    }

    def shift(text: str) -> str | None:
        return None if text == "last spring" else mark(text)

    shifted = scrub_bids_json("x_T1w.json", sidecar, profile=RESEARCH, shift_date=shift)
    # Null is removed quietly; a time of day loses no interval.
    assert shifted.unshifted == ("SeriesDate", "StudyDate")
    assert shifted.data == {
        "AcquisitionTime": "10:11",
        "AcquisitionDateTime": ["shifted:2019-05-04", "shifted:2019-05-05"],
    }
    without = scrub_bids_json("x_T1w.json", sidecar, profile=RESEARCH)
    assert without.unshifted == ("AcquisitionDateTime", "SeriesDate", "StudyDate")
    assert without.data == {}
    # Under basic these dates are removed by their codes, not for want of an offset.
    assert scrub_bids_json("x_T1w.json", sidecar, profile=BASIC).unshifted == ()


def test_dataset_description_keeps_bids_fields_only() -> None:
    description = {
        "Name": "Canary study",
        "BIDSVersion": "1.9.0",
        "Authors": ["A. Researcher"],
        "License": "CC0",
        "InstitutionName": "St Canary Hospital",
        "Contact": "jane@example.org",
        "ScannerCount": 2,
    }
    kept = scrub_description(description, profile=BASIC)
    assert kept.data == {
        "Name": "Canary study",
        "BIDSVersion": "1.9.0",
        "Authors": ["A. Researcher"],
        "License": "CC0",
        "ScannerCount": 2,
    }
    assert scrub_bids_json("dataset_description.json", description).data == kept.data


def test_data_dictionaries_keep_their_column_fields() -> None:
    dictionary = {
        "age": {"Description": "age at scan", "Units": "year", "Remark": "Doe^Jane"},
        "sex": {"Levels": {"F": "female", "M": "male"}},
        "InstitutionName": "St Canary Hospital",
    }
    expected = {
        "age": {"Description": "age at scan", "Units": "year"},
        "sex": {"Levels": {"F": "female", "M": "male"}},
    }
    assert scrub_data_dictionary(dictionary).data == expected
    assert scrub_bids_json("participants.json", dictionary).data == expected


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("dataset_description.json", "description"),
        ("participants.json", "dictionary"),
        ("sub-01_ses-1_scans.json", "dictionary"),
        ("task-rest_events.json", "dictionary"),
        ("sub-01_T1w.json", "sidecar"),
        ("task-rest_bold.json", "sidecar"),
    ],
)
def test_json_kind_by_name(name: str, kind: str) -> None:
    assert json_kind(name) == kind


def test_the_scrub_cleans_descriptors_with_the_same_vocabulary() -> None:
    from deidkit.scrub.actions import clean_text as scrub_clean_text

    assert scrub_clean_text is clean_text
