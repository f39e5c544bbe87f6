"""The action registry: one implementation per code, the same result on both walk paths.

The element walk rewrites a still-raw element without decoding it where the action allows
(the fast path) and decodes it otherwise. Both dispatch through :data:`REGISTRY`; these
tests force every code onto elements of many VRs, once raw and once already decoded by
pydicom, and demand byte-identical output and identical action records.
"""

from __future__ import annotations

import warnings
from io import BytesIO

import pydicom
import pytest
from dicom_builders import CT, ROOT, to_bytes

from deidkit.core.keys import ProjectKey
from deidkit.rules.profile import Profile
from deidkit.scrub.actions import REGISTRY, lookup
from deidkit.scrub.codec import element_map, encode_file
from deidkit.scrub.engine import scrub_dataset

KEY = ProjectKey(secret=bytes(range(32)), source="test")
_ASCII_VRS = frozenset({"UI", "DA", "DT", "TM", "AS", "CS", "DS", "IS", "AE"})

# (keyword, VR, value): public attributes of many VRs, single- and multi-valued.
ELEMENTS = [
    ("StudyDate", "DA", "20200131"),
    ("AcquisitionDateTime", "DT", "20200131101500.123+0100"),
    ("StudyTime", "TM", "101500"),
    ("CalibrationDate", "DA", ["20200101", "20200202"]),
    ("ReferencedFrameOfReferenceUID", "UI", ROOT + "77"),
    ("FrameOfReferenceUID", "UI", ROOT + "78"),
    ("StationName", "SH", "SCANNER ROOM 4"),
    ("StudyDescription", "LO", "CT THORAX 1.0 B70f"),
    ("ImageComments", "LT", "free text"),
    ("PatientAge", "AS", "045Y"),
    ("BodyPartExamined", "CS", "CHEST"),
    ("SliceThickness", "DS", "1.25"),
    ("InstanceNumber", "IS", "7"),
    ("ReferringPhysicianName", "PN", "Doe^Jane"),
    ("StationAETitle", "AE", "CTAE01"),
    ("PixelPaddingValue", "US", 0),
]
CODES = ["X", "Z", "D", "U", "C", "K", "R:NEWVALUE", "J:-30", "A:ADDED"]


def _dataset(keyword: str, vr: str, value: object) -> bytes:
    ds = pydicom.Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = ROOT + "1"
    ds.StudyInstanceUID = ROOT + "2"
    ds.SeriesInstanceUID = ROOT + "3"
    ds.PatientID = "PID"
    ds.Modality = "CT"
    setattr(ds, keyword, value)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = ROOT + "1"
    return to_bytes(ds)


def _profile(tag: str, code: str) -> Profile:
    return Profile(
        name="registry",
        description="",
        options=frozenset({"retain_long_modified_dates"}),
        overrides={tag: code},
        patient_name="empty",
        date_shift_range=(-100, -10),
        source="test",
    )


def _scrub(data: bytes, profile: Profile, *, decode: str | None) -> tuple[object, object]:
    ds = pydicom.dcmread(BytesIO(data))
    if decode is not None:
        _ = ds[decode].value  # decoded by pydicom: the walk cannot take the raw path
    try:
        result = scrub_dataset(ds, profile=profile, key=KEY)
        return encode_file(ds), result.actions
    except (ValueError, TypeError, OSError) as exc:
        # a code forced onto a VR it cannot fill (a UID into DS): both paths must refuse
        return type(exc), None


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize(("keyword", "vr", "value"), ELEMENTS, ids=[e[0] for e in ELEMENTS])
def test_raw_and_decoded_paths_agree(keyword: str, vr: str, value: object, code: str) -> None:
    tag = pydicom.datadict.tag_for_keyword(keyword)
    assert tag is not None
    tag_text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    data = _dataset(keyword, vr, value)
    profile = _profile(tag_text, code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the forced invalid values
        raw_bytes, raw_actions = _scrub(data, profile, decode=None)
        decoded_bytes, decoded_actions = _scrub(data, profile, decode=keyword)
    assert raw_actions == decoded_actions
    assert raw_bytes == decoded_bytes


def test_every_code_has_one_action() -> None:
    assert set(REGISTRY) == {"X", "Z", "D", "U", "C", "K", "R", "A", "J"}
    for code in ("X", "Z", "D", "U", "C", "K"):
        found = lookup(code)
        assert found is not None and found[0] is REGISTRY[code]
    assert lookup("R:text") == (REGISTRY["R"], "text")
    assert lookup("J:-3") == (REGISTRY["J"], "-3")
    assert lookup("Q") is None and lookup("Z:oops") is None and lookup("R") is None


def test_actions_reading_raw_values_only_take_default_repertoire_vrs() -> None:
    # A raw value is decoded without the character set: only safe where every DICOM
    # character set decodes the bytes alike (default-repertoire VRs).
    for action in REGISTRY.values():
        reads_raw = action.raw_vrs is None or bool(action.raw_vrs)
        if not reads_raw or action.reads == frozenset():
            continue
        readable = (action.raw_vrs or _ASCII_VRS) & (action.reads or _ASCII_VRS)
        assert readable <= _ASCII_VRS, action.code


def test_element_map_is_the_live_dataset() -> None:
    ds = pydicom.dcmread(BytesIO(_dataset("StudyDate", "DA", "20200131")))
    elements = element_map(ds)
    del elements[0x00080020]
    assert "StudyDate" not in ds
