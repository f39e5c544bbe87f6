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


# --- ordinary words of an original value (issue 13 follow-up) -----------------------------

_COMMON = "common word of an original value"


def _research(pair: Pair, *, key: bool = True) -> VerifyResult:
    # research cleans descriptors (C): an ordinary word may legitimately stay in them
    return verify_release(
        pair.release,
        original=pair.original,
        key=KEY if key else None,
        workers=1,
        profile="research",
    )


def _original_values(result: VerifyResult) -> list[tuple[str, str, str, str]]:
    return [
        (f.keyword, f.matched_attribute, f.severity, f.message)
        for f in result.findings
        if f.check == "original-value"
    ]


def _physician(name: str) -> Callable[[Dataset], None]:
    return lambda ds: setattr(ds, "ReferringPhysicianName", name)


def _pair_with_physician(tmp_path: Path, name: str = "Dr. soft haze") -> Pair:
    pair = build_pair(tmp_path)
    for path in sorted(pair.original.rglob("*.dcm")):
        _edit(path, _physician(name))
    return pair


def _describe(pair: Pair, text: str, keyword: str = "SeriesDescription") -> None:
    for path in pair.release_files:
        _edit(path, lambda ds: setattr(ds, keyword, text))


@pytest.mark.parametrize("key", [True, False])
def test_an_ordinary_word_of_a_name_alone_in_a_description_is_a_warning(
    tmp_path: Path, key: bool
) -> None:
    pair = _pair_with_physician(tmp_path)
    _describe(pair, "Soft Tissue")
    result = _research(pair, key=key)
    found = _original_values(result)
    assert ("SeriesDescription", "ReferringPhysicianName", "warn", _COMMON) in found
    assert [f for f in found if f[2] == "error"] == []
    assert result.exit_code("error") == EXIT_OK
    assert result.exit_code("warn") == EXIT_PHI_FOUND


@pytest.mark.parametrize(
    "text",
    [
        "soft haze",  # the name's other word with it
        "Haze, Soft",
        "seen by dr. soft",  # a cue makes any word a name
    ],
)
def test_an_ordinary_word_with_the_rest_of_the_name_or_a_cue_is_an_error(
    tmp_path: Path, text: str
) -> None:
    pair = _pair_with_physician(tmp_path)
    _describe(pair, text)
    result = _research(pair)
    assert ("SeriesDescription", "ReferringPhysicianName", "error", "") in _original_values(
        result
    )
    assert result.exit_code("error") == EXIT_PHI_FOUND


def test_the_whole_name_made_of_ordinary_words_is_an_error(tmp_path: Path) -> None:
    pair = _pair_with_physician(tmp_path, "Soft^Tissue")
    _describe(pair, "Soft Tissue")
    found = _original_values(_research(pair))
    assert ("SeriesDescription", "ReferringPhysicianName", "error", "") in found


@pytest.mark.parametrize(
    ("patient_name", "text"),
    [
        ("Merriweather^Johnathan", "merriweather protocol"),  # a surname, no ordinary word
        ("Perfusion^Johnathan", "Perfusion Johnathan"),  # the full name
        ("Abdomen", "abdomen liver"),  # the patient's whole name, a vocabulary word
    ],
)
def test_a_surname_or_the_full_name_is_still_an_error(
    tmp_path: Path, patient_name: str, text: str
) -> None:
    pair = build_pair(tmp_path, patient_name=patient_name)
    _describe(pair, text, "ImageComments")
    result = _research(pair)
    assert ("ImageComments", "PatientName", "error", "") in _original_values(result)
    assert result.exit_code("error") == EXIT_PHI_FOUND


def test_the_patients_ordinary_surname_alone_is_a_warning(tmp_path: Path) -> None:
    pair = build_pair(tmp_path, patient_name="Perfusion^Johnathan")
    _describe(pair, "perfusion maps", "ImageComments")
    result = _research(pair)
    assert _original_values(result) == [
        ("ImageComments", "PatientName", "warn", _COMMON)
    ] * len(pair.release_files)
    assert result.exit_code("error") == EXIT_OK


def test_an_id_in_a_description_is_still_an_error(tmp_path: Path) -> None:
    pair = _pair_with_physician(tmp_path)
    _describe(pair, "soft tissue MRN4471923")  # verify_support's Patient ID
    found = _original_values(_research(pair))
    assert ("SeriesDescription", "PatientID", "error", "") in found
    assert ("SeriesDescription", "ReferringPhysicianName", "warn", _COMMON) in found


def test_an_ordinary_word_outside_a_description_is_still_an_error(tmp_path: Path) -> None:
    # Institution Name is replaced by the profile: no descriptor, whatever its words
    pair = _pair_with_physician(tmp_path)
    _describe(pair, "Soft Tissue Clinic", "InstitutionName")
    found = _original_values(_research(pair))
    assert ("InstitutionName", "ReferringPhysicianName", "error", "") in found


def _branch(value: str) -> Callable[[Dataset], None]:
    return lambda ds: setattr(ds, "BranchOfService", value)


@pytest.mark.parametrize(
    ("branch", "severity"),
    [
        ("ABDOMEN", "warn"),  # an anatomy word misused as a Branch of Service
        ("Royal Marines", "error"),  # a real one
    ],
)
def test_a_whole_value_that_is_a_vocabulary_word(
    tmp_path: Path, branch: str, severity: str
) -> None:
    pair = build_pair(tmp_path)
    for path in sorted(pair.original.rglob("*.dcm")):
        _edit(path, _branch(branch))
    _describe(pair, f"{branch.lower()} liver")
    result = _research(pair)
    found = [f[:3] for f in _original_values(result)]
    assert set(found) == {("SeriesDescription", "BranchOfService", severity)}
    assert result.exit_code("error") == (EXIT_OK if severity == "warn" else EXIT_PHI_FOUND)
