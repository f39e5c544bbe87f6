"""Encode a scrubbed dataset to file bytes, fast: :func:`encode_file`.

pydicom's writer costs more than reading and scrubbing a file together, mostly in
per-element Python overhead for elements that were never touched. Most elements of a
scrubbed dataset are still :class:`~pydicom.dataelem.RawDataElement` (the engine edits raw
values without decoding them), so their encoded form is simply a header plus the bytes read
from the input. This module writes exactly what ``ds.save_as(buffer,
enforce_file_format=True)`` writes (the test suite compares the two byte for byte) but
emits raw elements directly and hands only decoded elements to pydicom's own element
writer. Anything outside the fast path (big endian, deflate, a dataset whose encoding or
character set changed since it was read, odd VRs) falls back to pydicom for that dataset or
element, so the output never depends on which path ran.
"""

from __future__ import annotations

import io
import struct
from typing import Any, Final, cast

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

__all__ = ["encode_file", "fill_missing_vrs"]

_LONG_VRS: Final = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_UNDEFINED: Final = 0xFFFFFFFF
_SEQ_DELIMITER: Final = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_ITEM_DELIMITER: Final = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_ITEM_TAG: Final = b"\xfe\xff\x00\xe0"
_PIXEL_DATA: Final = 0x7FE00010
_CHARSET: Final = 0x00080005
_SOP_CLASS: Final = 0x00080016
_SOP_INSTANCE: Final = 0x00080018
_META_CLASS: Final = 0x00020002
_META_INSTANCE: Final = 0x00020003
# Text VRs whose decoded values pydicom writes as the string itself (its string and text
# writers), with their padding; PN, dates, times and numbers have writers of their own.
_TEXT_PAD: Final = {
    **dict.fromkeys(("AE", "AS", "CS", "LO", "LT", "SH", "ST", "UC", "UT"), b" "),
    "UI": b"\x00",
}
_META_TEXT_VRS: Final = frozenset({"UI", "SH", "AE"})  # the File Meta text VRs written here
_PACK_SHORT: Final = struct.Struct("<HH2sH").pack
_PACK_LONG: Final = struct.Struct("<HH2sxxI").pack
_PACK_IMPLICIT: Final = struct.Struct("<HHI").pack
_ITEM_HEADER: Final = struct.Struct("<4sI").pack


class _Fallback(Exception):
    """The fast path does not apply here; let pydicom encode it."""


class _MissingVR(Exception):
    """An element read without a VR (implicit VR data under an explicit VR syntax)."""


def encode_file(ds: Dataset) -> bytes:
    """The bytes ``ds.save_as(buffer, enforce_file_format=True)`` would write.

    Parameters
    ----------
    ds
        A dataset read from a file and scrubbed, with its new ``file_meta`` and preamble.
        It may be modified the way pydicom's writer modifies it (the Pixel Data element is
        converted to set its undefined-length flag); callers discard it afterwards.

    Returns
    -------
    bytes
        The complete Part 10 file.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None or not _fast_syntax(syntax):
        return _pydicom_bytes(ds, syntax)
    implicit = bool(syntax.is_implicit_VR)
    try:
        try:
            return _encode_fast(ds, syntax, implicit)
        except _MissingVR:
            fill_missing_vrs(ds)  # rare: implicit VR data under an explicit VR syntax
            return _encode_fast(ds, syntax, implicit)
    except (_Fallback, _MissingVR):
        return _pydicom_bytes(ds, syntax)


def _encode_fast(ds: Dataset, syntax: UID, implicit: bool) -> bytes:
    meta_bytes = _encode_meta(ds)
    pixels = _elements(ds).get(_PIXEL_DATA)
    if pixels is not None and not _pixels_as_read(pixels, syntax):
        # dcmwrite converts Pixel Data and marks it undefined length iff compressed
        ds["PixelData"].is_undefined_length = syntax.is_compressed
    parts: list[bytes] = [bytes(ds.preamble or b"\x00" * 128), b"DICM", meta_bytes]
    _encode_dataset(parts, ds, default_encoding, implicit, top=True)
    return b"".join(parts)


def _pixels_as_read(elem: Any, syntax: UID) -> bool:
    """Whether raw Pixel Data is written as read: what converting it first would write.

    Converting the element (as dcmwrite does) only sets its undefined-length flag from the
    syntax and pads an odd length; where neither changes anything, the raw bytes go out
    unconverted.
    """
    return (
        isinstance(elem, RawDataElement)
        and elem.VR in ("OB", "OW")
        and elem.value is not None
        and (elem.length == _UNDEFINED) == bool(syntax.is_compressed)
        and len(elem.value) % 2 == 0
    )


def _fast_syntax(syntax: UID) -> bool:
    return bool(
        not syntax.is_private
        and syntax.is_transfer_syntax
        and syntax.is_little_endian
        and not syntax.is_deflated
    )


def _pydicom_bytes(ds: Dataset, syntax: UID | None) -> bytes:
    if syntax is not None and not syntax.is_implicit_VR:
        fill_missing_vrs(ds)  # an explicit VR writer cannot encode an element without one
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _encode_meta(ds: Dataset) -> bytes:
    meta = ds.file_meta
    # what dcmwrite(enforce_file_format=True) corrects before writing the meta
    for meta_tag, ds_tag in ((_META_CLASS, _SOP_CLASS), (_META_INSTANCE, _SOP_INSTANCE)):
        meta_value = _meta_text(_elements(meta).get(meta_tag))
        ds_value = _meta_text(_elements(ds).get(ds_tag))
        if meta_value is None or (ds_value and ds_value != meta_value):
            raise _Fallback
    parts: list[bytes] = []
    for tag in sorted(meta._dict, key=int):
        if tag == 0x00020000:
            continue
        elem = meta._dict[tag]
        vr = elem.VR
        if vr == "OB":
            data = bytes(elem.value or b"")
            if len(data) % 2:
                data += b"\x00"
            parts.append(_header(tag, "OB", len(data), False) + data)
            continue
        if vr not in _META_TEXT_VRS:
            raise _Fallback
        data = _canonical_text(elem)
        parts.append(_header(tag, vr, len(data), False) + data)
    body = b"".join(parts)
    group_length = _header(0x00020000, "UL", 4, False) + struct.pack("<I", len(body))
    return group_length + body


def _elements(ds: Dataset) -> dict[int, Any]:
    return cast("dict[int, Any]", ds._dict)


def _meta_text(elem: Any) -> str | None:
    # a single text value exactly as pydicom decodes it, or _Fallback where decoding could
    # fail or differ (another VR, non-ASCII bytes, several values)
    if elem is None:
        return None
    value = elem.value
    if isinstance(elem, RawDataElement):
        vr = elem.VR
        if vr not in (None, "UI", "SH", "AE") or (value and not value.isascii()):
            raise _Fallback
        value = (value or b"").decode("ascii").rstrip(" \x00")
        if vr in (None, "UI"):
            value = value.strip()  # pydicom's UID strips what convert_UI leaves
    if not isinstance(value, str) or "\\" in value:
        raise _Fallback
    return value


def _canonical_text(elem: Any) -> bytes:
    # the bytes pydicom's string writer produces for this single-valued element
    text = _meta_text(elem)
    assert text is not None
    return _even(text.encode("ascii"), elem.VR)


def _encode_dataset(
    parts: list[bytes],
    ds: Dataset,
    parent_encoding: Any,
    implicit: bool,
    *,
    top: bool = False,
) -> None:
    if ds.original_encoding != (implicit, True) or (ds.original_character_set != ds._character_set):
        if top:
            raise _Fallback
        parts.append(_pydicom_dataset(ds, parent_encoding, implicit))
        return
    elements = ds._dict
    # as pydicom does: this also decodes Specific Character Set, which then is written
    # from its decoded value
    encoding = ds[_CHARSET].value if _CHARSET in elements else parent_encoding
    for tag in sorted(elements, key=int):  # int keys: BaseTag.__lt__ is Python-level
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths are never written (PS3.5 7.2)
        elem = elements[tag]
        if isinstance(elem, RawDataElement):
            parts.append(_raw_element(elem, implicit))
            continue
        vr = elem.VR
        if vr == "SQ":
            _encode_sequence(parts, elem, encoding, implicit)
        elif vr in ("OB", "OW") and type(elem.value) is bytes:
            parts.extend(_bytes_element(elem, implicit))
        elif vr in _TEXT_PAD and (text := _ascii_text(elem.value)) is not None:
            text = _even(text, vr)
            parts.append(_header(tag, vr, len(text), implicit) + text)
        else:
            parts.append(_pydicom_element(elem, encoding, implicit))


def _even(data: bytes, vr: str) -> bytes:
    """Text bytes padded to even length as pydicom pads them (NUL for UI, else a space)."""
    return data + _TEXT_PAD[vr] if len(data) % 2 else data


def _ascii_text(value: Any) -> bytes | None:
    """A decoded text value as pydicom's string writers encode it, if it is plain ASCII.

    Every character set DICOM allows encodes ASCII as itself, so the element's character
    set does not matter; None (pydicom writes it) for anything else.
    """
    if value is None:
        return b""
    kind = type(value)
    if kind is str or kind is UID:
        text = value
    elif kind is MultiValue and all(type(v) is str or type(v) is UID for v in value):
        text = "\\".join(value)
    else:
        return None
    return text.encode("ascii") if text.isascii() else None


def _header(tag: int, vr: str | None, length: int, implicit: bool) -> bytes:
    """The element header pydicom writes for ``tag`` with ``vr`` and ``length``.

    Raises :class:`_MissingVR` or :class:`_Fallback` where pydicom would first fix the
    element (fill in its VR, or rewrite a 16-bit-length VR that cannot hold the length as UN).
    """
    group, element = tag >> 16, tag & 0xFFFF
    if implicit:
        return _PACK_IMPLICIT(group, element, length)
    if vr is None:
        raise _MissingVR
    if len(vr) != 2:
        raise _Fallback
    if vr in _LONG_VRS:
        return _PACK_LONG(group, element, vr.encode("latin-1"), length)
    if length > 0xFFFF:  # undefined length included
        raise _Fallback
    return _PACK_SHORT(group, element, vr.encode("latin-1"), length)


def _check_encapsulated(tag: int, value: bytes) -> None:
    if tag == _PIXEL_DATA and not value.startswith(_ITEM_TAG):
        raise _Fallback  # pydicom raises its own error for unencapsulated data


def _raw_element(elem: RawDataElement, implicit: bool) -> bytes:
    value = elem.value
    if value is None:
        raise _Fallback
    if elem.length != _UNDEFINED:
        return _header(elem.tag, elem.VR, len(value), implicit) + value
    _check_encapsulated(elem.tag, value)
    return _header(elem.tag, elem.VR, _UNDEFINED, implicit) + value + _SEQ_DELIMITER


def _bytes_element(elem: DataElement, implicit: bool) -> tuple[bytes, ...]:
    # Pixel Data above all: written without copying its value through a buffer
    value: bytes = elem.value
    if elem.is_undefined_length:
        _check_encapsulated(elem.tag, value)
        return _header(elem.tag, elem.VR, _UNDEFINED, implicit), value, _SEQ_DELIMITER
    pad = b"\x00" if len(value) % 2 else b""
    return _header(elem.tag, elem.VR, len(value) + len(pad), implicit), value, pad


def _encode_sequence(parts: list[bytes], elem: DataElement, encoding: Any, implicit: bool) -> None:
    encodings = convert_encodings(encoding or [default_encoding])
    body: list[bytes] = []
    for item in elem.value:
        item_parts: list[bytes] = []
        _encode_dataset(item_parts, item, encodings, implicit)
        item_body = b"".join(item_parts)
        if getattr(item, "is_undefined_length_sequence_item", False):
            body += (_ITEM_HEADER(_ITEM_TAG, _UNDEFINED), item_body, _ITEM_DELIMITER)
        else:
            body += (_ITEM_HEADER(_ITEM_TAG, len(item_body)), item_body)
    value = b"".join(body)
    undefined = elem.is_undefined_length
    parts += (_header(elem.tag, "SQ", _UNDEFINED if undefined else len(value), implicit), value)
    if undefined:
        parts.append(_SEQ_DELIMITER)


def _buffer(implicit: bool) -> DicomBytesIO:
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    return buffer


def _pydicom_element(elem: DataElement, encoding: Any, implicit: bool) -> bytes:
    buffer = _buffer(implicit)
    write_data_element(buffer, elem, encoding)
    return buffer.getvalue()


def _pydicom_dataset(ds: Dataset, parent_encoding: Any, implicit: bool) -> bytes:
    buffer = _buffer(implicit)
    write_dataset(buffer, ds, parent_encoding)
    return buffer.getvalue()


def fill_missing_vrs(ds: Dataset) -> None:
    """Give every element read without a VR its dictionary VR, at every depth.

    Some files declare an explicit VR transfer syntax but are encoded implicit VR; pydicom
    reads them, leaving raw elements without a VR, which an explicit VR writer cannot
    encode. Converting them through pydicom (dictionary VR, ``UN`` when unknown) lets the
    file be written as the transfer syntax it declares.
    """
    for tag, raw in list(ds._dict.items()):
        if isinstance(raw, RawDataElement) and raw.VR is None:
            ds[tag]  # converts the raw element with its dictionary VR (UN when unknown)
        elem = ds._dict[tag]
        if elem.VR == "SQ" and elem.value:
            for item in elem.value:
                if isinstance(item, Dataset):
                    fill_missing_vrs(item)
