"""Standard UIDs by the DICOM root, class-valued attributes by their keyword."""

from __future__ import annotations

import json

from pydicom.uid import UID_dictionary  # type: ignore[attr-defined]

from deidkit.core.resources import data_file
from deidkit.rules.uids import (
    REGISTRY_FILE,
    is_class_uid_tag,
    is_registered_uid,
    is_standard_uid,
    keeps_uid,
    registry_uids,
)


def test_dicom_root_is_standard() -> None:
    assert is_standard_uid("1.2.840.10008.5.1.4.1.1.66.7")
    assert is_standard_uid("1.2.840.10008.1.2.1\x00")
    assert not is_standard_uid("1.2.840.100081.2")
    assert not is_standard_uid("2.25.1234")
    assert not is_standard_uid("1.2.826.0.1.3680043.2.1125.1")


def test_class_valued_attributes() -> None:
    for tag in (
        0x00080016,  # SOPClassUID
        0x00081150,  # ReferencedSOPClassUID
        0x00020002,  # MediaStorageSOPClassUID
        0x00000002,  # AffectedSOPClassUID
        0x00020010,  # TransferSyntaxUID
        0x0008010C,  # CodingSchemeUID
        0x00080118,  # MappingResourceUID
        0x0008010D,  # ContextGroupExtensionCreatorUID
        0x00041510,  # ReferencedSOPClassUIDInFile
    ):
        assert is_class_uid_tag(tag), hex(tag)
    for tag in (
        0x00080018,  # SOPInstanceUID
        0x00081155,  # ReferencedSOPInstanceUID
        0x0020000D,  # StudyInstanceUID
        0x00200052,  # FrameOfReferenceUID
        0x0018100B,  # ManufacturerDeviceClassUID: E.1-1 remaps it
        0x00080014,  # InstanceCreatorUID
    ):
        assert not is_class_uid_tag(tag), hex(tag)


def test_keeps_uid() -> None:
    assert keeps_uid("2.16.840.1.113883.6.96", 0x0008010C)
    assert keeps_uid("1.2.840.10008.5.1.4.1.1.66.7", 0x00081155)
    assert not keeps_uid("1.2.3.4", 0x00081155)


def test_a_damaged_uid_is_never_kept() -> None:
    # A damaged header (found by the encoder fuzz): not a UID, so no registry entry either;
    # keeping it would put non-ASCII text into the File Meta.
    assert not keeps_uid("1.2.840.10008.5.1.4.1.1.88.\u00e011", 0x00080016)
    assert not keeps_uid("2.16.840.1.113883.6.96x", 0x0008010C)
    assert not keeps_uid("1." * 40 + "1", 0x00080016)  # longer than 64 characters
    assert keeps_uid(" 1.2.840.10008.1.2.1\x00", 0x00020010)


def test_registry_is_the_standard_s_with_its_provenance() -> None:
    data = json.loads(data_file(REGISTRY_FILE).read_text(encoding="utf-8"))
    table = data["provenance"]["table_a1"]
    assert "2025b" in table["edition"] and len(table["commit"]) == 40
    assert len(data["provenance"]["table_8_1"]["commit"]) == 40
    uids = data["uids"]
    assert uids["1.2.840.10008.5.1.4.1.1.66.7"]["name"] == "Label Map Segmentation Storage"
    assert uids["1.2.840.10008.1.2.1"]["type"] == "Transfer Syntax"
    assert uids["1.2.840.10008.2.16.4"]["type"] == "Coding Scheme"  # DCM
    schemes = data["coding_schemes"]
    assert schemes["SCT"]["uid"] == "2.16.840.1.113883.6.96"
    assert schemes["LN"]["uid"] == "2.16.840.1.113883.6.1"
    assert schemes["UCUM"]["uid"] == "2.16.840.1.113883.6.8"
    # Table A-1's coding schemes are Table 8-1's (the two sources agree)
    a1 = {u for u, row in uids.items() if row["type"] == "Coding Scheme"}
    assert a1 <= {row["uid"] for row in schemes.values()}


def test_registered_uids_are_kept_in_any_attribute() -> None:
    # UID (0040,A124) of an SR UIDREF item is no class-valued attribute: the registry decides
    for uid in ("2.16.840.1.113883.6.96", "2.16.840.1.113883.6.1", "2.16.840.1.113883.6.8"):
        assert not is_standard_uid(uid)
        assert is_registered_uid(uid)
        assert keeps_uid(uid, 0x0040A124)
    assert not is_registered_uid("2.16.840.1.113883.6.96.1")
    assert not keeps_uid("2.16.840.1.113883.6.96.1", 0x0040A124)


def test_registry_holds_pydicom_s_dictionary_and_more() -> None:
    # pydicom 3.0's dictionary predates Label Map Segmentation; the scrub must not care
    assert set(UID_dictionary) <= registry_uids()
    assert "1.2.840.10008.5.1.4.1.1.66.7" in registry_uids()
