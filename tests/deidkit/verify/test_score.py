"""The MIDI-B-style score: correct actions over required actions, by category."""

from __future__ import annotations

from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from verify_support import (
    KEY,
    PATIENT_ID,
    STUDY_DATE,
    build_pair,
    original_dataset,
    release_dataset,
)

from deidkit.core.errors import UsageError
from deidkit.core.pseudonym import date_offset_days, pseudonymous_uid
from deidkit.verify.records import Rules
from deidkit.verify.release import verify_release
from deidkit.verify.score import CATEGORIES, IdentifierMap, load_mapping, score_pair

BASIC = Rules("basic", frozenset())
DATES = Rules("dates", frozenset({"retain_long_modified_dates"}))
RANGE = (-3650, -365)


def _bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


def _score(orig: Dataset, rel: Dataset, rules: Rules = BASIC) -> dict[str, tuple[int, int]]:
    counts = score_pair(
        _bytes(orig), _bytes(rel), rules=rules, mapping=IdentifierMap(key=KEY), shift_range=RANGE
    )
    return {c: (counts.done[c], counts.required[c]) for c in CATEGORIES}


def test_conformant_pair_scores_full_marks() -> None:
    orig = original_dataset(0)
    scores = _score(orig, release_dataset(orig, KEY))
    assert all(done == required for done, required in scores.values())
    assert scores["uid_changed"] == (4, 4)  # SOP, Study, Series, Frame of Reference
    assert scores["uid_consistent"] == (4, 4)
    assert scores["patient_id_consistent"] == (1, 1)
    assert scores["research_retained"][1] >= 5


def test_each_mistake_costs_its_category() -> None:
    orig = original_dataset(0)
    rel = release_dataset(orig, KEY)
    del rel.PixelSpacing  # over-scrubbing
    rel.StudyDate = orig.StudyDate  # a date left in place
    rel.SeriesInstanceUID = "2.25.12345"  # changed, but not as the mapping says
    scores = _score(orig, rel)
    assert scores["research_retained"][0] == scores["research_retained"][1] - 1
    assert scores["text_removed"][0] == scores["text_removed"][1] - 1
    assert scores["uid_changed"] == (4, 4)
    assert scores["uid_consistent"] == (3, 4)


def test_dates_must_no_longer_hold_the_original() -> None:
    orig = original_dataset(0)
    rel = release_dataset(orig, KEY)
    offset = date_offset_days(KEY, PATIENT_ID, shift_range=RANGE)
    shifted = date(2019, 3, 4) + timedelta(days=offset)
    rel.StudyDate = shifted.strftime("%Y%m%d")
    rel.PatientBirthDate = orig.PatientBirthDate  # Z even under Modified Dates: must go
    scores = _score(orig, rel, DATES)
    assert scores["date_shifted"] == (1, 1)
    assert scores["text_removed"][0] == scores["text_removed"][1] - 1
    rel.StudyDate = STUDY_DATE
    assert _score(orig, rel, DATES)["date_shifted"] == (0, 1)
    # The public scorer checks no offset: any other date passes, as there.
    rel.StudyDate = (shifted + timedelta(days=1)).strftime("%Y%m%d")
    assert _score(orig, rel, DATES)["date_shifted"] == (1, 1)
    rel.StudyDate = STUDY_DATE + "\\20200101"  # the original among other values
    assert _score(orig, rel, DATES)["date_shifted"] == (0, 1)


def test_removed_uids_and_dates_pass_as_in_the_public_scorer() -> None:
    """Hand count: basic profile, original_dataset(0) released with its UIDs removed.

    The four U-coded UIDs (SOP, Study, Series, Frame of Reference) are absent: the public
    scorer passes uid_changed and uid_consistent for an absent tag, so 4/4 each (the old
    score gave uid_consistent 0/4). Under Modified Dates the one C-coded date (StudyDate)
    removed passes date_shifted: 1/1. Patient ID removed passes patient_id_consistent: 1/1.
    """
    orig = original_dataset(0)
    rel = release_dataset(orig, KEY)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        delattr(rel, keyword)
    rel.FrameOfReferenceUID = ""
    del rel.StudyDate
    del rel.PatientID
    scores = _score(orig, rel, DATES)
    assert scores["uid_changed"] == (4, 4)
    assert scores["uid_consistent"] == (4, 4)
    assert scores["date_shifted"] == (1, 1)
    assert scores["patient_id_consistent"] == (1, 1)


def test_a_planted_leak_still_fails_beside_removed_values() -> None:
    """Hand count: three UIDs removed, the Series UID left as the original: uid_changed and
    uid_consistent 3/4 each; StudyDate left as the original: date_shifted 0/1; a Patient ID
    other than the mapping's: patient_id_consistent 0/1."""
    orig = original_dataset(0)
    rel = release_dataset(orig, KEY)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
        delattr(rel, keyword)
    rel.SeriesInstanceUID = orig.SeriesInstanceUID
    rel.StudyDate = orig.StudyDate
    rel.PatientID = "PWRONGPSEUDONYM00"
    scores = _score(orig, rel, DATES)
    assert scores["uid_changed"] == (3, 4)
    assert scores["uid_consistent"] == (3, 4)
    assert scores["date_shifted"] == (0, 1)
    assert scores["patient_id_consistent"] == (0, 1)


def test_mapping_formats(tmp_path: Path) -> None:
    (tmp_path / "uid_mapping.csv").write_text("id_old,id_new\n1.2.3.4,2.25.9\n")
    (tmp_path / "patid_mapping.csv").write_text("id_old,id_new\nMRN1,PABC\n")
    mapping = load_mapping(tmp_path, key=None)
    assert mapping.uids == {"1.2.3.4": "2.25.9"} and mapping.patient_ids == {"MRN1": "PABC"}
    assert mapping.new_uid("9.9.9.9") is None
    plain = tmp_path / "linkage.csv"
    plain.write_text("kind,original,pseudonym\nPatientID,MRN2,PXYZ\nDateOffset,MRN2,-400\n")
    mapping = load_mapping(plain, key=None)
    assert mapping.patient_ids == {"MRN2": "PXYZ"} and mapping.offset("MRN2", None) == -400
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(UsageError):
        load_mapping(bad, key=None)
    with pytest.raises(UsageError):
        load_mapping(tmp_path / "missing.bin", key=None)
    with pytest.raises(UsageError):
        load_mapping(tmp_path / "uid_mapping.csv".replace("csv", "bin"), key=None)


def test_score_through_verify_release(tmp_path: Path) -> None:
    pair = build_pair(tmp_path)
    result = verify_release(pair.release, original=pair.original, key=KEY, workers=1)
    assert result.score is not None and result.score["overall"] == 1.0
    assert result.score["pairs"] == 3
    ds = pydicom.dcmread(pair.release_files[0])
    assert ds.SOPInstanceUID == pseudonymous_uid(KEY, pair.original_uids[0])


def _nested_original() -> Dataset:
    """Original instance 2 plus PHI in nested sequences (kept, removed, two levels deep)."""
    orig = original_dataset(2)
    region = Dataset()
    region.PersonName = "Doe^Jane"  # D: must not survive as it was
    region.ObservationDateTime = "20190304101500"  # X/D basic, C under Modified Dates
    orig.ReferencedImageSequence[0].AnatomicRegionSequence = Sequence([region])
    request = Dataset()
    request.RequestedProcedureID = "RP12345"
    orig.RequestAttributesSequence = Sequence([request])  # X: the whole sequence goes
    return orig


def test_nested_attributes_are_scored_at_every_depth() -> None:
    orig = _nested_original()
    rel = release_dataset(orig, KEY)  # drops both sequences' PHI, replaces the nested UID
    scores = _score(orig, rel)
    assert all(done == required for done, required in scores.values()), scores
    assert scores["uid_changed"] == (5, 5) and scores["uid_consistent"] == (5, 5)
    clean_text = scores["text_removed"]

    # The same mistakes, nested: a kept name two levels deep, a removed sequence left in
    # place, an original UID inside a sequence.
    rel.ReferencedImageSequence[0].AnatomicRegionSequence = Sequence(
        [orig.ReferencedImageSequence[0].AnatomicRegionSequence[0]]
    )
    rel.RequestAttributesSequence = orig.RequestAttributesSequence
    rel.ReferencedImageSequence[0].ReferencedSOPInstanceUID = orig.ReferencedImageSequence[
        0
    ].ReferencedSOPInstanceUID
    scores = _score(orig, rel)
    assert scores["uid_changed"] == (4, 5) and scores["uid_consistent"] == (4, 5)
    done, required = scores["text_removed"]
    assert required == clean_text[1]
    # PersonName, ObservationDateTime, the X sequence and its RequestedProcedureID.
    assert done == required - 4


def test_nested_dates_must_be_shifted() -> None:
    orig = _nested_original()
    rel = release_dataset(orig, KEY)
    offset = date_offset_days(KEY, PATIENT_ID, shift_range=RANGE)
    shifted = (date(2019, 3, 4) + timedelta(days=offset)).strftime("%Y%m%d")
    region = Dataset()
    region.ObservationDateTime = shifted + "101500"
    rel.ReferencedImageSequence[0].AnatomicRegionSequence = Sequence([region])
    rel.StudyDate = shifted
    assert _score(orig, rel, DATES)["date_shifted"] == (2, 2)
    region.ObservationDateTime = "20190304101500"  # left as it was, one level down
    assert _score(orig, rel, DATES)["date_shifted"] == (1, 2)


def test_verify_release_scores_from_one_read_of_each_original(tmp_path: Path) -> None:
    pair = build_pair(tmp_path)
    result = verify_release(pair.release, original=pair.original, key=KEY, workers=1)
    assert result.score is not None
    categories = result.score["categories"]
    assert isinstance(categories, dict)
    # 4 UIDs per file, plus the Referenced SOP Instance UID nested in instance 2.
    assert categories["uid_changed"]["required"] == 3 * 4 + 1
    # The harvest's facts give the same counts as scoring the pair from its bytes.
    direct = {c: [0, 0] for c in CATEGORIES}
    for index, path in enumerate(pair.release_files):
        counts = score_pair(
            _bytes(original_dataset(index)),
            path.read_bytes(),
            rules=BASIC,
            mapping=IdentifierMap(key=KEY),
            shift_range=None,
        )
        for c in CATEGORIES:
            direct[c][0] += counts.done[c]
            direct[c][1] += counts.required[c]
    assert {c: [v["done"], v["required"]] for c, v in categories.items()} == direct


def test_worker_pool_gives_the_same_result_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One pool serves both stages (originals, release); its state travels with each chunk.
    pair = build_pair(tmp_path)
    ds = pydicom.dcmread(pair.release_files[1])
    ds.ImageComments = f"for {PATIENT_ID}"
    ds.save_as(pair.release_files[1])
    serial = verify_release(pair.release, original=pair.original, key=KEY, workers=1)
    monkeypatch.setattr("deidkit.verify.release.SERIAL_LIMIT", 0)
    pooled = verify_release(pair.release, original=pair.original, key=KEY, workers=2)
    assert pooled.findings == serial.findings and pooled.score == serial.score
    assert any(f.matched_attribute == "PatientID" for f in pooled.findings)
