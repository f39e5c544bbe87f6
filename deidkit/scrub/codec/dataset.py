"""The dataset internals the scrub relies on for speed, in one place.

pydicom keeps a dataset's elements in ``Dataset._dict``, still raw (undecoded) until first
access. The scrub reads and edits that map directly: decoding every element through the
public API would cost more than the whole scrub. Everything that reaches past pydicom's
public API (the element map, positional ``RawDataElement`` construction, the pixel
representation hook, the character set of a dataset) lives here, behind small typed
functions, so a pydicom upgrade has one module to check.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable
from typing import Any, cast

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from deidkit.scrub.codec.read import read_sequence_value

__all__ = [
    "Element",
    "add_element",
    "convert_element",
    "element_map",
    "encode_sequence",
    "is_plain_raw",
    "is_short_read",
    "set_new_file_meta",
    "store_element",
]

_UNDEFINED = 0xFFFFFFFF

#: An entry of the element map: still raw, or decoded.
Element = RawDataElement | DataElement


def element_map(ds: pydicom.Dataset) -> dict[int, Any]:
    """The live ``{tag: element}`` map of one dataset level (edits apply to ``ds``).

    Elements are :class:`RawDataElement` until decoded. Keys are pydicom's ``BaseTag``; look
    up with those (identity hits) or plain ints.
    """
    return cast("dict[int, Any]", ds._dict)


def is_plain_raw(raw: Any, vr: str | None, tag: int) -> bool:
    """Whether ``raw`` is a still-encoded public element of a known, non-sequence ``vr``.

    Such an element can get a new value without pydicom decoding the old one.
    """
    return not (
        not isinstance(raw, RawDataElement)
        or raw.VR not in (None, vr)
        or vr is None
        or vr in ("SQ", "UN")
        or tag >> 16 & 1
        or (raw.value is None and raw.length != 0)  # deferred read
    )


def convert_element(ds: pydicom.Dataset, tag: int, vr: str | None) -> DataElement:
    """Decode ``ds[tag]``, giving an implicit-VR or UN element the VR ``vr`` if it has one.

    Sequences are read by deidkit's own item reader (same items and attributes as pydicom's
    conversion, faster); anything it does not handle goes to pydicom.
    """
    elements = element_map(ds)
    raw = elements[tag]
    if isinstance(raw, RawDataElement) and raw.VR == "SQ":
        sequence = read_sequence_value(raw, ds.original_character_set or ds._character_set)
        if sequence is not None:
            elem = DataElement(
                raw.tag, "SQ", sequence, raw.value_tell, False, already_converted=True
            )
            ds[tag] = elem
            ds._set_pixel_representation(elem)
            return elem
    if isinstance(raw, RawDataElement) and vr and raw.VR in (None, "UN") and vr != "UN":
        # implicit VR or UN private element: decode with the safe list's / dictionary's VR
        elements[tag] = convert_raw_data_element(raw._replace(VR=vr), ds=ds)
    elem = ds[tag]
    if vr and elem.VR == "UN" and vr != "UN" and isinstance(elem.value, bytes):
        elements[tag] = convert_raw_data_element(
            RawDataElement(
                BaseTag(tag),
                vr,
                len(elem.value),
                elem.value,
                0,
                ds.is_implicit_VR is True,
                ds.is_little_endian is not False,
            ),
            ds=ds,
        )
        elem = ds[tag]
    return elem


def add_element(ds: pydicom.Dataset, tag: int, vr: str, value: object) -> None:
    """Add or replace a public, non-pixel element whose value is valid by construction."""
    # direct DataElements: keyword lookups through __setattr__ cost more than the scrub itself,
    # and pydicom's per-value validation would only re-check our own constants
    elem = DataElement(tag, vr, value, validation_mode=config.IGNORE)
    if vr == "SQ":
        ds.add(elem)  # pydicom links the items to their parent dataset
    else:
        element_map(ds)[elem.tag] = elem


def store_element(ds: pydicom.Dataset, elem: Element) -> None:
    """Put an already built (possibly raw, shared) element into ``ds``."""
    element_map(ds)[BaseTag(elem.tag)] = elem


def encode_sequence(
    tag: int, items: Iterable[pydicom.Dataset], *, implicit: bool, little: bool
) -> RawDataElement:
    """A sequence element encoded once, in the given encoding, as an immutable raw element.

    A raw element can be shared by every output file; a writer that re-encodes converts it
    like any element read from a file.
    """
    holder = pydicom.Dataset()
    add_element(holder, tag, "SQ", Sequence(list(items)))
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = implicit, little
    write_dataset(buffer, holder)
    encoded = read_dataset(io.BytesIO(buffer.getvalue()), implicit, little)
    return cast(RawDataElement, element_map(encoded)[BaseTag(tag)])


def _meta_element(tag: int, vr: str, value: str | bytes) -> Element:
    """A File Meta element, pre-encoded (the meta is always Explicit VR Little Endian)."""
    if isinstance(value, str):
        if not value.isascii():
            return DataElement(tag, vr, value, validation_mode=config.IGNORE)
        # UI pads to even length with NUL, other strings with a space, as pydicom writes them
        value = value.encode("ascii")
        if len(value) % 2:
            value += b"\x00" if vr == "UI" else b" "
    return RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True, True, False)


class _NewFileMeta(FileMetaDataset):
    """Our File Meta Information: pydicom deep-copies it on every write.

    Its elements are pre-encoded raw elements, immutable tuples, so a copy can share them;
    the generic deep copy of tags and values cost more than writing the whole header.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> _NewFileMeta:
        copied = self.__class__.__new__(self.__class__)
        memo[id(self)] = copied
        for name, value in self.__dict__.items():
            if name == "_dict":
                value = {
                    tag: elem if isinstance(elem, RawDataElement) else copy.deepcopy(elem, memo)
                    for tag, elem in value.items()
                }
            else:
                value = copy.deepcopy(value, memo)
            object.__setattr__(copied, name, value)
        return copied


def set_new_file_meta(
    ds: pydicom.Dataset, elements: Iterable[tuple[int, str, str | bytes]]
) -> None:
    """Replace the File Meta Information by exactly ``(tag, VR, value)`` elements; zero the
    preamble."""
    meta = _NewFileMeta()
    target = element_map(meta)
    for tag, vr, value in elements:
        target[BaseTag(tag)] = _meta_element(tag, vr, value)
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128


def is_short_read(ds: pydicom.Dataset) -> bool:
    """Whether any element holds fewer bytes than its header declares (a truncated file).

    pydicom stops quietly at end of file, so this compares each declared length with what
    was read.
    """
    for raw in element_map(ds).values():
        if (
            isinstance(raw, RawDataElement)
            and raw.length != _UNDEFINED
            and raw.value is not None
            and len(raw.value) < raw.length
        ):
            return True
    return False
