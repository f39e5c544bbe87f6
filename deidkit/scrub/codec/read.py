"""Parse one file's bytes into a pydicom dataset, fast: :func:`read_dicom`.

``pydicom.dcmread`` spends about as long on the dozen bytes of File Meta Information (a
generic element reader with a stop callback, a trial decode, a second pass for command-set
elements) as on the whole dataset body. For the common case (128-byte preamble, ``DICM``,
an explicit VR little endian meta group, a little endian body) this module reads the meta
group with a few ``struct`` unpacks and hands the body to pydicom's own
:func:`pydicom.filereader.read_dataset` at the same offset, building the same
:class:`~pydicom.dataset.FileDataset` that ``dcmread(..., force=True)`` builds (the test
suite compares the two element by element). Anything else goes to ``dcmread`` unchanged.
"""

from __future__ import annotations

import io
import struct
from collections.abc import MutableSequence
from typing import Final

import pydicom
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import (
    DataElement,
    RawDataElement,
    convert_raw_data_element,
    empty_value_for_VR,
)
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.filereader import read_dataset, read_sequence
from pydicom.fileutil import read_undefined_length_value
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, SequenceDelimiterTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR
from pydicom.values import convert_string

__all__ = ["read_dicom", "read_sequence_value"]

_VRS: Final = frozenset(vr.value for vr in VR if len(vr.value) == 2)
_LONG: Final = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_HEADER: Final = struct.Struct("<HH2sH").unpack_from
_UL: Final = struct.Struct("<I").unpack_from
_IMPLICIT: Final = struct.Struct("<HHI").unpack_from
_ITEM: Final = b"\xfe\xff\x00\xe0"
_IMPLICIT_LE: Final = "1.2.840.10008.1.2"
_UNDEFINED: Final = 0xFFFFFFFF
_CHARSET: Final = 0x00080005
# big endian and deflate need pydicom's own handling of the body
_NOT_FAST: Final = frozenset({"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})


def read_dicom(data: bytes) -> FileDataset:
    """The dataset ``pydicom.dcmread(io.BytesIO(data), force=True)`` returns.

    Parameters
    ----------
    data
        A whole file.

    Returns
    -------
    FileDataset
        Every element raw (undecoded) as pydicom reads it.
    """
    fast = _read_fast(data)
    if fast is not None:
        return fast
    return pydicom.dcmread(io.BytesIO(data), force=True)


def _read_fast(data: bytes) -> FileDataset | None:
    size = len(data)
    if size < 140 or data[128:132] != b"DICM":
        return None
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    pos = 132
    while True:
        if pos + 8 > size:
            return None  # nothing but meta: leave the edge cases to pydicom
        group, element, raw_vr, length = _HEADER(data, pos)
        if group != 2:
            break
        header = _explicit_header(data, pos, raw_vr, length)
        if header is None:
            return None  # implicit VR meta or garbage: pydicom knows what to do
        vr, length, start = header
        end = start + length
        if length == _UNDEFINED or end > size:
            return None
        tag = BaseTag(group << 16 | element)
        value = data[start:end] if length else empty_value_for_VR(vr, raw=True)
        elements[tag] = RawDataElement(tag, vr, length, value, start, False, True)  # type: ignore[arg-type]
        pos = end
    if group == 0 or not elements:
        return None  # command set elements, or no meta at all
    file_meta = FileMetaDataset(elements)
    file_meta.set_original_encoding(False, True, default_encoding)
    try:
        # as pydicom does: decoding the first element is its test of an explicit VR meta
        file_meta[min(elements)]  # Dataset.elements() yields in tag order
    except NotImplementedError:
        return None  # pydicom re-reads the meta as implicit VR
    syntax = file_meta.get("TransferSyntaxUID")
    if (
        not isinstance(syntax, str)
        or syntax in _NOT_FAST
        or syntax in pydicom.uid.PrivateTransferSyntaxes
    ):
        return None
    implicit = syntax == _IMPLICIT_LE
    fp = io.BytesIO(data)
    body: Dataset | dict[BaseTag, DataElement | RawDataElement] | None
    body = _read_body(data, pos, implicit, fp)
    if body is None:
        fp.seek(pos)
        try:
            body = read_dataset(fp, implicit, True)
        except EOFError:
            return None  # pydicom's own path decides what a truncated body becomes
    ds = FileDataset(fp, body, data[:128], file_meta, implicit, True)
    ds.set_original_encoding(implicit, True, ds._character_set)
    return ds


def _contradicts(data: bytes, pos: int, implicit: bool) -> bool:
    """Whether the element at ``pos`` looks encoded the other way (pydicom's own test).

    pydicom reads the two bytes where an explicit VR would be: two capital letters mean
    explicit VR. Where they disagree with ``implicit`` it switches or warns; the fast
    readers leave that to it.
    """
    if pos + 6 > len(data):
        return False
    b0, b1 = data[pos + 4], data[pos + 5]
    return (0x40 < b0 < 0x5B and 0x40 < b1 < 0x5B) == implicit


def _element_header(
    data: bytes, pos: int, implicit: bool
) -> tuple[int, int, str | None, int, int] | None:
    """Group, element, VR (None if implicit), value length and value offset at ``pos``.

    None where pydicom would not read an explicit VR header as such (see below).
    """
    if implicit:
        group, element, length = _IMPLICIT(data, pos)
        return group, element, None, length, pos + 8
    group, element, raw_vr, length = _HEADER(data, pos)
    header = _explicit_header(data, pos, raw_vr, length)
    if header is None:
        return None
    return group, element, *header


def _explicit_header(
    data: bytes, pos: int, raw_vr: bytes, short_length: int
) -> tuple[str, int, int] | None:
    """VR, value length and value offset of the explicit VR element at ``pos``, or None.

    None for a VR pydicom would not read as explicit VR (implicit data, garbage) and for a
    32-bit length cut off by the end of the file.
    """
    vr = raw_vr.decode("latin-1")
    if vr not in _VRS:
        return None
    if vr not in _LONG:
        return vr, short_length, pos + 8
    if pos + 12 > len(data):
        return None
    return vr, _UL(data, pos + 8)[0], pos + 12


def _read_body(
    data: bytes, pos: int, implicit: bool, fp: io.BytesIO
) -> dict[BaseTag, DataElement | RawDataElement] | None:
    """The top-level elements as ``read_dataset(fp, implicit, True)`` reads them, or None.

    Elements of defined length are sliced straight out of ``data``; undefined-length
    sequences and encapsulated values are read by pydicom's own functions from ``fp`` at the
    same offset. Anything a clean file does not contain (truncation, an unknown VR, a VR
    that contradicts the transfer syntax, a stray delimiter) returns None, and the caller
    lets pydicom read the body with all its recovery rules.
    """
    size = len(data)
    if _contradicts(data, pos, implicit):
        return None  # the body's encoding contradicts the transfer syntax
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    encoding: str | MutableSequence[str] = default_encoding
    while pos + 8 <= size:
        parsed = _element_header(data, pos, implicit)
        if parsed is None:
            return None
        group, element, vr, length, start = parsed
        tag = group << 16 | element
        if tag == 0xFFFEE00D or group == 0xFFFE:
            return None
        if length != _UNDEFINED:
            end = start + length
            if end > size:
                return None  # truncated value
            value = data[start:end] if length else empty_value_for_VR(vr, raw=True)
            if tag == _CHARSET:
                encoding = convert_encodings(convert_string(value or b"", True))  # type: ignore[arg-type]
            key = BaseTag(tag)
            elements[key] = RawDataElement(key, vr, length, value, start, implicit, True)  # type: ignore[arg-type]
            pos = end
            continue
        if vr is None:
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                vr = "SQ" if data[start : start + 4] == _ITEM else None
        elif vr == "UN":
            return None  # pydicom's UN-to-SQ inference is its own business
        fp.seek(start)
        try:
            if vr == "SQ":
                seq = read_sequence(fp, implicit, True, length, encoding)
                elements[BaseTag(tag)] = DataElement(
                    BaseTag(tag), vr, seq, start, is_undefined_length=True
                )
            else:
                undefined = read_undefined_length_value(fp, True, SequenceDelimiterTag, None)
                elements[BaseTag(tag)] = RawDataElement(
                    BaseTag(tag), vr, length, undefined, start, implicit, True
                )
        except EOFError:
            return None
        pos = fp.tell()
    if pos != size:
        return None  # a few stray bytes at the end: pydicom's reader decides
    # the caller's FileDataset wraps this dict directly, as it would wrap read_dataset's
    # Dataset (whose own encoding attributes it never reads): one Dataset fewer per file
    return elements


def read_sequence_value(
    raw: RawDataElement, encoding: str | MutableSequence[str] | None
) -> Sequence | None:
    """The :class:`Sequence` pydicom's conversion of the raw SQ element ``raw`` builds, or None.

    Converting a sequence is the costliest step of reading a header: pydicom parses each
    item with its generic element reader. In the common case (little endian, items and
    their elements all of defined length, the items' encoding that of the file) this slices
    the items' elements straight out of the value, building the same items with the same
    attributes. Anything else returns None, and the caller lets pydicom convert ``raw``.

    Parameters
    ----------
    raw
        A raw element of VR SQ, as read from the file.
    encoding
        The character set pydicom's conversion would be given (the parent's).
    """
    value = raw.value
    if (
        raw.VR != "SQ"
        or value is None
        or not raw.length
        or raw.length == _UNDEFINED
        or not raw.is_little_endian
    ):
        return None
    implicit = bool(raw.is_implicit_VR)
    encodings = encoding or [default_encoding]
    if isinstance(encodings, str):
        encodings = [encodings]
    offset, size, pos = raw.value_tell, len(value), 0
    items: list[Dataset] = []
    while pos < size:
        if pos + 8 > size:
            return None
        group, element, length = _IMPLICIT(value, pos)
        start = pos + 8
        if group != 0xFFFE or element != 0xE000 or length == _UNDEFINED:
            return None  # a delimiter, an undefined-length item or garbage: pydicom's rules
        if _contradicts(value, start, implicit):
            return None  # pydicom would switch the item's encoding
        end = start + length
        if end > size:
            return None  # an item running past the sequence: pydicom's rules
        elements = _read_item(value, start, end, implicit)
        if elements is None:
            return None
        item = Dataset(elements, parent_encoding=encodings)
        item_encoding: str | MutableSequence[str] = encodings
        if _CHARSET in elements:
            charset_raw = elements[BaseTag(_CHARSET)]
            assert isinstance(charset_raw, RawDataElement)  # _read_item makes raw elements only
            charset = convert_raw_data_element(charset_raw).value
            item_encoding = convert_encodings(charset)
        item.set_original_encoding(implicit, True, item_encoding)
        item.is_undefined_length_sequence_item = False
        item.seq_item_tell = pos + offset
        item.file_tell = pos + offset
        items.append(item)
        pos = end
    sequence = Sequence(items)
    sequence.is_undefined_length = False
    return sequence


def _read_item(
    data: bytes, pos: int, end: int, implicit: bool
) -> dict[BaseTag, DataElement | RawDataElement] | None:
    # The elements of one defined-length item, as pydicom's data element generator reads
    # them (value offsets relative to the sequence value), or None for anything it would
    # read differently: undefined lengths, delimiters, values running past the item.
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    while pos < end:
        parsed = _element_header(data, pos, implicit) if pos + 8 <= end else None
        if parsed is None:
            return None
        group, element, vr, length, start = parsed
        if group == 0xFFFE or length == _UNDEFINED or start + length > end:
            return None
        key = BaseTag(group << 16 | element)
        value = data[start : start + length] if length else empty_value_for_VR(vr, raw=True)
        elements[key] = RawDataElement(key, vr, length, value, start, implicit, True)  # type: ignore[arg-type]
        pos = start + length
    return elements
