"""The fast encoder writes exactly what pydicom's ``save_as(enforce_file_format=True)`` writes."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import deidkit.scrub.codec.encode as dicom_encode
from deidkit.core.errors import InputFileError
from deidkit.core.keys import ProjectKey
from deidkit.demo.sample import SampleCorpus
from deidkit.rules.profile import load_profile
from deidkit.scrub.cache import KeyedCache
from deidkit.scrub.codec.encode import encode_file, fill_missing_vrs
from deidkit.scrub.engine import scrub_dataset
from deidkit.scrub.inputs import read_input

_DATA_DIR = Path(str(get_testdata_file("CT_small.dcm"))).parent


def _scrubbed_pair(data: bytes, profile: str, key: ProjectKey) -> tuple[Dataset, Dataset] | None:
    """Two independent scrubbed copies of one file (None: the file is not scrubbable)."""
    prof, cache = load_profile(profile), KeyedCache(key)
    pair = []
    for _ in range(2):
        try:
            ds = read_input(data)
            scrub_dataset(ds, profile=prof, key=key, cache=cache)
        except (InputFileError, Exception):
            return None
        pair.append(ds)
    return pair[0], pair[1]


def _pydicom(ds: Dataset) -> bytes | str:
    """The reference: the scrub's writer before the fast encoder (fill VRs, then pydicom)."""
    buffer = io.BytesIO()
    try:
        if not ds.file_meta.TransferSyntaxUID.is_implicit_VR:
            fill_missing_vrs(ds)
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:
        return type(exc).__name__
    return buffer.getvalue()


def _fast(ds: Dataset) -> bytes | str:
    try:
        return encode_file(ds)
    except Exception as exc:
        return type(exc).__name__


def _compare_tree(root: Path, profile: str, key: ProjectKey) -> int:
    compared = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            pair = _scrubbed_pair(path.read_bytes(), profile, key)
            if pair is None:
                continue
            reference, fast = _pydicom(pair[0]), _fast(pair[1])
            assert fast == reference, path.name
            compared += 1
    return compared


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_identical_to_pydicom_on_the_sample_export(
    sample_corpus: SampleCorpus, project_key: ProjectKey, profile: str
) -> None:
    assert _compare_tree(sample_corpus.root, profile, project_key) > 20


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_identical_to_pydicom_on_pydicom_test_files(project_key: ProjectKey, profile: str) -> None:
    # implicit and explicit VR, big endian, deflate, JPEG/RLE encapsulation, odd charsets
    assert _compare_tree(_DATA_DIR, profile, project_key) > 60


def _scrubbed(name: str, project_key: ProjectKey) -> tuple[Dataset, Dataset]:
    path = get_testdata_file(name)
    assert path is not None
    pair = _scrubbed_pair(Path(path).read_bytes(), "basic", project_key)
    assert pair is not None
    return pair


def test_fast_path_is_taken_for_little_endian(
    project_key: ProjectKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, fast = _scrubbed("CT_small.dcm", project_key)

    def forbidden(ds: Dataset, syntax: object) -> bytes:
        raise AssertionError("fell back to pydicom")

    monkeypatch.setattr(dicom_encode, "_pydicom_bytes", forbidden)
    assert encode_file(fast) == _pydicom(reference)


def test_big_endian_falls_back_to_pydicom(
    project_key: ProjectKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, fast = _scrubbed("MR_small_bigendian.dcm", project_key)
    calls: list[int] = []
    original = dicom_encode._pydicom_bytes

    def counting(ds: Dataset, syntax: Any) -> bytes:
        calls.append(1)
        return original(ds, syntax)

    monkeypatch.setattr(dicom_encode, "_pydicom_bytes", counting)
    assert encode_file(fast) == _pydicom(reference)
    assert calls == [1]


def test_new_items_and_undefined_length_items_match(project_key: ProjectKey) -> None:
    reference, fast = _scrubbed("CT_small.dcm", project_key)
    for ds in (reference, fast):
        item = Dataset()
        item.CodeValue = "X1"
        item.CodeMeaning = "odd"
        nested = Dataset()
        nested.is_undefined_length_sequence_item = True
        nested.TextValue = "abc"
        item.ContentSequence = Sequence([nested])
        ds.ConceptNameCodeSequence = Sequence([item])
        ds["ConceptNameCodeSequence"].is_undefined_length = False
        ds.add_new(0x00091010, "LO", "odd-length")
    assert _fast(fast) == _pydicom(reference)
    reread = pydicom.dcmread(io.BytesIO(encode_file(fast)))
    assert reread.ConceptNameCodeSequence[0].ContentSequence[0].TextValue == "abc"


def test_changed_character_set_matches(project_key: ProjectKey) -> None:
    # the top-level dataset then falls back to pydicom, which re-encodes every text value
    reference, fast = _scrubbed("CT_small.dcm", project_key)
    for ds in (reference, fast):
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.InstitutionName = "Ústav"
    assert _fast(fast) == _pydicom(reference)


@pytest.mark.parametrize(
    "charset", [None, "ISO_IR 100", "ISO_IR 192", ["", "ISO 2022 IR 87"], "GB18030"]
)
def test_decoded_text_values_are_written_like_pydicom(
    project_key: ProjectKey, charset: str | list[str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # decoded text (the provenance attributes, values the walk converted) takes the encoder's
    # own string path when it is plain ASCII, whatever the character set; pydicom's otherwise
    reference, fast = _scrubbed("CT_small.dcm", project_key)
    for ds in (reference, fast):
        if charset is not None:
            ds.SpecificCharacterSet = charset
            # as if read so: the encoder then keeps every value's bytes, none is re-encoded
            ds.set_original_encoding(*ds.original_encoding, ds._character_set)
        ds.ImageType = ["DERIVED", "SECONDARY", ""]  # multi-valued CS, an empty value
        ds.StudyDescription = "odd"  # LO, padded with a space
        ds.add_new(0x00081030, "LO", "")  # empty
        ds.add_new(0x00204000, "LT", "a\\b with a backslash")  # LT is single-valued
        ds.add_new(0x00080201, "SH", None)
        ds.FrameOfReferenceUID = "1.2.3"  # UI, padded with NUL
        ds.add_new(0x00081010, "SH", "Ústí")  # not ASCII: pydicom encodes it
        ds.OperatorsName = "Doe^J"  # PN: pydicom's own writer
    expected = _pydicom(reference)
    written: list[str] = []
    original = dicom_encode._pydicom_element

    def recording(elem: Any, encoding: Any, implicit: bool) -> bytes:
        written.append(elem.keyword)
        return original(elem, encoding, implicit)

    monkeypatch.setattr(dicom_encode, "_pydicom_bytes", None)  # no whole-file fallback
    monkeypatch.setattr(dicom_encode, "_pydicom_element", recording)
    assert encode_file(fast) == expected
    assert "ImageType" not in written and "StudyDescription" not in written
    assert {"OperatorsName", "StationName"} <= set(written)


@pytest.mark.parametrize("name", ["CT_small.dcm", "SC_rgb_rle.dcm", "JPEG2000.dcm"])
def test_pixel_data_written_as_read_matches_pydicom(project_key: ProjectKey, name: str) -> None:
    reference, fast = _scrubbed(name, project_key)
    assert type(fast._dict[dicom_encode._PIXEL_DATA]).__name__ == "RawDataElement"
    assert encode_file(fast) == _pydicom(reference)
    assert type(fast._dict[dicom_encode._PIXEL_DATA]).__name__ == "RawDataElement"


def test_odd_length_pixel_data_is_converted_and_padded(project_key: ProjectKey) -> None:
    reference, fast = _scrubbed("CT_small.dcm", project_key)
    for ds in (reference, fast):
        raw = ds._dict[dicom_encode._PIXEL_DATA]
        ds._dict[dicom_encode._PIXEL_DATA] = raw._replace(
            VR="OB", value=raw.value[:-1], length=len(raw.value) - 1
        )
    assert _fast(fast) == _pydicom(reference)


_SEED_FILES = ("CT_small.dcm", "rtplan.dcm", "reportsi.dcm", "ExplVR_LitEndNoMeta.dcm")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(_SEED_FILES),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=1500), st.integers(0, 255)),
        min_size=1,
        max_size=3,
    ),
    profile=st.sampled_from(["basic", "research"]),
)
def test_damaged_headers_encode_like_pydicom(
    project_key: ProjectKey, name: str, edits: list[tuple[int, int]], profile: str
) -> None:
    # odd VRs, lengths and values that survive reading and scrubbing: same bytes or same error
    path = get_testdata_file(name)
    assert path is not None
    data = bytearray(Path(path).read_bytes())
    for offset, byte in edits:
        data[offset % len(data)] = byte
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pair = _scrubbed_pair(bytes(data), profile, project_key)
        if pair is not None:
            assert _fast(pair[1]) == _pydicom(pair[0])
