"""Standard UIDs by the DICOM root, class-valued attributes by their keyword."""

from __future__ import annotations

from deidkit.rules.uids import is_class_uid_tag, is_standard_uid, keeps_uid


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
