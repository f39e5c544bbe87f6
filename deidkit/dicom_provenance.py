"""Provenance and file-level facts for a scrubbed instance (no values ever leave here).

Burned-in text risk, the transfer syntax to keep, the patient key used for pseudonyms,
the PS3.15 provenance attributes with CID 7050 codes, and the new File Meta Information.
"""

from __future__ import annotations

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID

from deidkit import __version__
from deidkit.profile import Profile
from deidkit.standard import CID7050, CID7050_BASIC, TABLE_EDITION

#: Our implementation class UID (a fixed 2.25 UUID-derived root) and version name.
IMPLEMENTATION_CLASS_UID = "2.25.163386384127213004431540298467406930011"
IMPLEMENTATION_VERSION_NAME = "DEIDKIT_010"
_SC_PREFIX = "1.2.840.10008.5.1.4.1.1.7"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return str(value).strip().rstrip("\x00").strip()


def burned_in_risk(ds: pydicom.Dataset) -> str | None:
    """Why this instance may carry burned-in text (names the attribute, never a value)."""
    if _text(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        return "BurnedInAnnotation is YES"
    modality = _text(ds.get("Modality", "")).upper()
    if modality in {"US", "IVUS"}:
        return f"modality {modality} often carries burned-in text"
    sop_class = _text(ds.get("SOPClassUID", ""))
    if sop_class.startswith(_SC_PREFIX):
        return "Secondary Capture SOP class often carries burned-in text"
    image_type = ds.get("ImageType", None)
    values = (
        [_text(v).upper() for v in (image_type or [])]
        if isinstance(image_type, MultiValue | list)
        else [_text(image_type).upper()]
    )
    if any(v in {"SCREEN", "SCREENSHOT", "SCREEN SAVE", "CAPTURE"} for v in values):
        return "ImageType marks a screen capture"
    if _text(ds.get("ConversionType", "")).upper() in {"WSD", "SD", "SI", "DRW"}:
        return "ConversionType marks a screen or document capture"
    return None


def transfer_syntax(ds: pydicom.Dataset) -> str:
    """The transfer syntax to write: the original one (pixel data is never re-encoded)."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return str(meta.TransferSyntaxUID)
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        implicit, little = ds.is_implicit_VR, ds.is_little_endian
    if implicit:
        return pydicom.uid.ImplicitVRLittleEndian
    return (
        pydicom.uid.ExplicitVRLittleEndian
        if little is not False
        else pydicom.uid.ExplicitVRBigEndian
    )


def _add(ds: pydicom.Dataset, tag: int, vr: str, value: object) -> None:
    # direct DataElements: keyword lookups through __setattr__ cost more than the scrub itself
    # our constants are valid by construction: skip pydicom's per-value validation
    ds.add(DataElement(tag, vr, value, validation_mode=config.IGNORE))


def write_provenance(ds: pydicom.Dataset, profile: Profile) -> None:
    """Set the PS3.15 provenance attributes: identity removed, method, CID 7050 codes.

    Patient Identity Removed = YES; De-identification Method names the tool, the table
    edition and the profile (never a value); the Code Sequence holds 113100 (Basic) and one
    code per option applied; Longitudinal Temporal Information Modified says what happened
    to dates (MODIFIED, UNMODIFIED or REMOVED).
    """
    options = profile.options
    _add(ds, 0x00120062, "CS", "YES")
    method = f"deidkit {__version__}; PS3.15 E.1-1 {TABLE_EDITION}; profile {profile.name}"
    if "+recipe:" in profile.source:
        method += "+recipe"
    _add(ds, 0x00120063, "LO", method[:64])
    codes = [CID7050_BASIC] + [CID7050[o] for o in CID7050 if o in options]
    items = []
    for value, meaning in codes:
        item = pydicom.Dataset()
        _add(item, 0x00080100, "SH", value)
        _add(item, 0x00080102, "SH", "DCM")
        _add(item, 0x00080104, "LO", meaning)
        items.append(item)
    _add(ds, 0x00120064, "SQ", Sequence(items))
    if "retain_long_modified_dates" in options:
        temporal = "MODIFIED"
    elif "retain_long_full_dates" in options:
        temporal = "UNMODIFIED"
    else:
        temporal = "REMOVED"
    _add(ds, 0x00280303, "CS", temporal)


def new_file_meta(ds: pydicom.Dataset, transfer_syntax: str) -> None:
    """Replace the File Meta Information with ours and zero the preamble.

    Nothing of the original meta survives (Source AE Title, private meta, implementation
    of the sending system); the transfer syntax is kept because pixel data is not re-encoded.
    """
    meta = FileMetaDataset()
    _add(meta, 0x00020001, "OB", b"\x00\x01")
    _add(meta, 0x00020002, "UI", UID(_text(ds.get("SOPClassUID", ""))))
    _add(meta, 0x00020003, "UI", UID(_text(ds.get("SOPInstanceUID", ""))))
    _add(meta, 0x00020010, "UI", UID(transfer_syntax))
    _add(meta, 0x00020012, "UI", UID(IMPLEMENTATION_CLASS_UID))
    _add(meta, 0x00020013, "SH", IMPLEMENTATION_VERSION_NAME)
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128


def patient_key(ds: pydicom.Dataset) -> tuple[str, str | None]:
    """The value that keys the patient pseudonym, and a warning when it is a fallback.

    Patient ID is the key. Without one, the key is Patient Name + Birth Date (so one
    unnamed patient still maps to one pseudonym); without those, the Study Instance UID
    (each study then stands for its own patient, never merged with others).
    """
    pid = _text(ds.get("PatientID", ""))
    if pid:
        return pid, None
    name, birth = _text(ds.get("PatientName", "")), _text(ds.get("PatientBirthDate", ""))
    if name or birth:
        return (
            f"name+birth:{name}|{birth}",
            "PatientID empty; pseudonym keyed on PatientName+PatientBirthDate",
        )
    study = _text(ds.get("StudyInstanceUID", ""))
    return (
        f"study:{study}",
        "PatientID, PatientName and PatientBirthDate empty; pseudonym keyed on StudyInstanceUID",
    )
