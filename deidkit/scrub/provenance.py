"""Provenance and file-level facts for a scrubbed instance (no values ever leave here).

Burned-in text risk, the transfer syntax to keep, the patient key used for pseudonyms,
the PS3.15 provenance attributes with CID 7050 codes, and the new File Meta Information.
"""

from __future__ import annotations

from functools import lru_cache

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.multival import MultiValue
from pydicom.uid import UID

from deidkit import __version__
from deidkit.pixels.risk import risk_from_values
from deidkit.rules.profile import Profile
from deidkit.rules.standard import CID7050, CID7050_BASIC, TABLE_EDITION
from deidkit.scrub.codec import (
    add_element,
    element_map,
    encode_sequence,
    peek_text,
    set_new_file_meta,
    store_element,
)

#: Our implementation class UID (a fixed 2.25 UUID-derived root) and version name.
IMPLEMENTATION_CLASS_UID = "2.25.163386384127213004431540298467406930011"
IMPLEMENTATION_VERSION_NAME = "DEIDKIT_010"
_TAG_IMAGE_TYPE = 0x00080008
_TAG_CODE_SEQUENCE = 0x00120064


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return str(value).strip().rstrip("\x00").strip()


def _image_types(ds: pydicom.Dataset) -> list[str]:
    raw = element_map(ds).get(_TAG_IMAGE_TYPE)
    if raw is None:
        return [""]
    if isinstance(raw, RawDataElement) and raw.value is not None and raw.value.isascii():
        return [_text(v).upper() for v in raw.value.decode("ascii").split("\\")]
    image_type = ds.get("ImageType", None)
    if isinstance(image_type, MultiValue | list):
        return [_text(v).upper() for v in (image_type or [])]
    return [_text(image_type).upper()]


def burned_in_risk(ds: pydicom.Dataset) -> str | None:
    """Why this instance may carry burned-in text (names the attribute, never a value).

    The rules are :func:`deidkit.pixels.risk.risk_from_values`; the header is read raw.
    """
    return risk_from_values(
        burned_in=peek_text(ds, 0x00280301),
        visual_features=peek_text(ds, 0x00280302),
        modality=peek_text(ds, 0x00080060),
        sop_class=peek_text(ds, 0x00080016),
        image_types=_image_types(ds),
        conversion=peek_text(ds, 0x00080064),
    )


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


@lru_cache(maxsize=128)
def _code_sequence(
    codes: tuple[tuple[str, str], ...], implicit: bool, little: bool
) -> RawDataElement:
    """The De-identification Method Code Sequence, encoded once per code set and encoding.

    Building seven item datasets per file cost more than scrubbing its header; the encoded
    element is immutable, so every output shares it. It is encoded as the output will be
    written (the kept transfer syntax); a writer that re-encodes converts it like any element
    read from a file.
    """
    items = []
    for value, meaning in codes:
        item = pydicom.Dataset()
        add_element(item, 0x00080100, "SH", value)
        add_element(item, 0x00080102, "SH", "DCM")
        add_element(item, 0x00080104, "LO", meaning)
        items.append(item)
    return encode_sequence(_TAG_CODE_SEQUENCE, items, implicit=implicit, little=little)


def write_provenance(ds: pydicom.Dataset, profile: Profile) -> None:
    """Set the PS3.15 provenance attributes: identity removed, method, CID 7050 codes.

    Patient Identity Removed = YES; De-identification Method names the tool, the table
    edition and the profile (never a value); the Code Sequence holds 113100 (Basic) and one
    code per option applied; Longitudinal Temporal Information Modified says what happened
    to dates (MODIFIED, UNMODIFIED or REMOVED).
    """
    options = profile.options
    add_element(ds, 0x00120062, "CS", "YES")
    method = f"deidkit {__version__}; PS3.15 E.1-1 {TABLE_EDITION}; profile {profile.name}"
    if "+recipe:" in profile.source:
        method += "+recipe"
    add_element(ds, 0x00120063, "LO", method[:64])
    codes = (CID7050_BASIC, *(CID7050[o] for o in CID7050 if o in options))
    syntax = UID(transfer_syntax(ds))
    code_sequence = _code_sequence(codes, syntax.is_implicit_VR, syntax.is_little_endian)
    store_element(ds, code_sequence)
    if "retain_long_modified_dates" in options:
        temporal = "MODIFIED"
    elif "retain_long_full_dates" in options:
        temporal = "UNMODIFIED"
    else:
        temporal = "REMOVED"
    add_element(ds, 0x00280303, "CS", temporal)


def new_file_meta(ds: pydicom.Dataset, transfer_syntax: str) -> None:
    """Replace the File Meta Information with ours and zero the preamble.

    Nothing of the original meta survives (Source AE Title, private meta, implementation
    of the sending system); the transfer syntax is kept because pixel data is not re-encoded.
    """
    set_new_file_meta(
        ds,
        (
            (0x00020001, "OB", b"\x00\x01"),
            (0x00020002, "UI", peek_text(ds, 0x00080016)),
            (0x00020003, "UI", peek_text(ds, 0x00080018)),
            (0x00020010, "UI", transfer_syntax),
            (0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
            (0x00020013, "SH", IMPLEMENTATION_VERSION_NAME),
        ),
    )


def patient_key(ds: pydicom.Dataset) -> tuple[str, str | None]:
    """The value that keys the patient pseudonym, and a warning when it is a fallback.

    Patient ID is the key. Without one, the key is Patient Name + Birth Date (so one
    unnamed patient still maps to one pseudonym); without those, the Study Instance UID
    (each study then stands for its own patient, never merged with others).
    """
    pid = peek_text(ds, 0x00100020)
    if pid:
        return pid, None
    name, birth = peek_text(ds, 0x00100010), peek_text(ds, 0x00100030)
    if name or birth:
        return (
            f"name+birth:{name}|{birth}",
            "PatientID empty; pseudonym keyed on PatientName+PatientBirthDate",
        )
    study = peek_text(ds, 0x0020000D)
    return (
        f"study:{study}",
        "PatientID, PatientName and PatientBirthDate empty; pseudonym keyed on StudyInstanceUID",
    )
