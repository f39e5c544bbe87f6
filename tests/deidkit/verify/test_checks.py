"""No false alarm on the standard's own words or binary tables, and the real leak of the same
shape is still found (issue 13, part 6)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from verify_support import KEY, Pair, build_pair

from deidkit.commands._common import EXIT_OK, EXIT_PHI_FOUND
from deidkit.verify.release import VerifyResult, verify_release


def _edit(path: Path, change: Callable[[Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _verify(pair: Pair, *, key: bool = True) -> VerifyResult:
    return verify_release(pair.release, original=pair.original, key=KEY if key else None, workers=1)


def _leaks(result: VerifyResult) -> list[tuple[str, str, str]]:
    return [
        (f.keyword, f.matched_attribute, f.severity)
        for f in result.findings
        if f.check == "original-value"
    ]


# --- the standard's vocabulary ---------------------------------------------------------


@pytest.mark.parametrize("key", [True, False])
def test_name_part_that_is_a_defined_term_in_image_type_is_no_finding(
    tmp_path: Path, key: bool
) -> None:
    pair = build_pair(tmp_path, patient_name="Perfusion^Johnathan")
    for path in pair.release_files:
        _edit(path, lambda ds: setattr(ds, "ImageType", ["DERIVED", "PRIMARY", "PERFUSION"]))
    result = _verify(pair, key=key)
    assert _leaks(result) == []
    assert result.exit_code() == EXIT_OK


@pytest.mark.parametrize("key", [True, False])
def test_the_same_surname_in_free_text_is_still_a_leak(tmp_path: Path, key: bool) -> None:
    # "Perfusion" is a word of the standard, but here it is this patient's surname written
    # into Image Comments: a leak, whatever the vocabulary says.
    pair = build_pair(tmp_path, patient_name="Perfusion^Johnathan")
    _edit(pair.release_files[1], lambda ds: setattr(ds, "ImageComments", "seen by perfusion"))
    result = _verify(pair, key=key)
    assert ("ImageComments", "PatientName", "error") in _leaks(result)
    assert result.exit_code() == EXIT_PHI_FOUND


def test_a_name_that_is_no_standard_word_in_image_type_is_still_a_leak(tmp_path: Path) -> None:
    pair = build_pair(tmp_path)  # Doe^Johnathan: "Johnathan" is no word of the standard
    _edit(
        pair.release_files[0],
        lambda ds: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY", "JOHNATHAN"]),
    )
    result = _verify(pair)
    assert ("ImageType", "PatientName", "error") in _leaks(result)
    assert result.exit_code() == EXIT_PHI_FOUND


def _observer_placeholder(ds: Dataset) -> None:
    ds.ReferringPhysicianName = "Observer^Recording"


def _concept(meaning: str) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator = "121008", "DCM"
        item.CodeMeaning = meaning
        ds.ConceptNameCodeSequence = Sequence([item])

    return change


def _pair_with_placeholder_observer(tmp_path: Path) -> Pair:
    # As in an SR: the originals name a placeholder observer and carry the concept.
    pair = build_pair(tmp_path)
    for path in sorted(pair.original.rglob("*.dcm")):
        _edit(path, _observer_placeholder)
        _edit(path, _concept("Recording Observer's Name"))
    return pair


def test_placeholder_name_against_a_code_meaning_is_no_finding(tmp_path: Path) -> None:
    pair = _pair_with_placeholder_observer(tmp_path)
    for path in pair.release_files:
        _edit(path, _concept("Recording Observer's Name"))
    result = _verify(pair)
    assert _leaks(result) == []
    assert result.exit_code() == EXIT_OK


def test_a_name_in_a_code_meaning_the_originals_did_not_hold_is_still_found(
    tmp_path: Path,
) -> None:
    pair = _pair_with_placeholder_observer(tmp_path)
    _edit(pair.release_files[0], _concept("Johnathan Doe"))
    result = _verify(pair)
    assert ("ConceptNameCodeSequence[0]>CodeMeaning", "PatientName", "error") in _leaks(result)


def test_placeholder_name_in_free_text_is_still_found(tmp_path: Path) -> None:
    pair = _pair_with_placeholder_observer(tmp_path)
    _edit(pair.release_files[0], lambda ds: setattr(ds, "ImageComments", "Recording Observer"))
    result = _verify(pair)
    assert ("ImageComments", "ReferringPhysicianName", "error") in _leaks(result)


# --- binary content ----------------------------------------------------------------------

_ACCESSION = b"acc99812"  # verify_support's AccessionNumber, as the byte search meets it


def _lut(ds: Dataset) -> None:
    # A palette whose bytes happen to spell the accession number between two numbers.
    table = bytes([0x01, 0x02]) + _ACCESSION.upper() + bytes([0xF0, 0x7F]) * 60
    ds.add_new(0x00281101, "US", [64, 0, 16])  # Red Palette Color Lookup Table Descriptor
    ds.add_new(0x00281201, "OW", table)  # Red Palette Color Lookup Table Data


def _private_header(ds: Dataset) -> None:
    # A CSA-like private header: binary numbers around a NUL-padded string.
    blob = bytes(range(1, 200)) + b"\x00\x00" + _ACCESSION.upper() + b"\x00\x00" + bytes(64)
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291010, "OB", blob)


def _chance_bytes_in_ob(ds: Dataset) -> None:
    # The same letters inside an OB of numbers, with no string boundary around them.
    blob = bytes([0x91, 0xC3]) + _ACCESSION.upper() + bytes([0xE4, 0x9A]) + bytes(range(1, 120))
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291010, "OB", blob)


@pytest.mark.parametrize("plant", [_lut, _chance_bytes_in_ob])
def test_a_value_spelt_by_chance_in_binary_data_is_no_finding(
    tmp_path: Path, plant: Callable[[Dataset], None]
) -> None:
    pair = build_pair(tmp_path)
    _edit(pair.release_files[0], plant)
    result = _verify(pair)
    assert _leaks(result) == []
    assert not [f for f in result.findings if f.check == "raw-bytes"]


def test_a_value_as_a_string_inside_binary_data_is_still_found(tmp_path: Path) -> None:
    pair = build_pair(tmp_path)
    _edit(pair.release_files[0], _private_header)
    result = _verify(pair)
    assert ("(0029,1010)", "AccessionNumber", "error") in _leaks(result)
    assert result.exit_code() == EXIT_PHI_FOUND


# --- registry UIDs -----------------------------------------------------------------------

_SNOMED = "2.16.840.1.113883.6.96"
_PRIVATE_CLASS = "1.2.826.0.1.3680043.777.99.1"  # shares the originals' organisation root


def _registry_uids(ds: Dataset) -> None:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator = "12738006", "SCT"
    item.CodeMeaning, item.CodingSchemeUID = "Brain", _SNOMED
    ds.ConceptNameCodeSequence = Sequence([item])
    ds.ReferencedImageSequence = Sequence([Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPClassUID = _PRIVATE_CLASS


def test_coding_scheme_and_class_uids_kept_from_the_originals_are_no_finding(
    tmp_path: Path,
) -> None:
    pair = build_pair(tmp_path)
    for path in sorted(pair.original.rglob("*.dcm")):
        _edit(path, _registry_uids)
    for path in pair.release_files:
        _edit(path, _registry_uids)
    result = _verify(pair)
    uid_checks = {"original-uid", "uid-root", "uid"}
    assert [f for f in result.findings if f.check in uid_checks] == []
    assert result.exit_code() == EXIT_OK
    # An instance UID under the same root is still found.
    _edit(pair.release_files[0], lambda ds: setattr(ds, "FrameOfReferenceUID", _PRIVATE_CLASS))
    result = _verify(pair)
    assert {f.check for f in result.findings if f.keyword == "FrameOfReferenceUID"} == {"uid-root"}
