"""Reading element values cheaply: raw bytes decoded directly where that is exact.

pydicom decodes a raw element through its charset and VR machinery on first access, which
costs more than the whole scrub of an element. For pure-ASCII values without escapes or
value separators every DICOM character set gives the same text, so those are decoded here.
"""

from __future__ import annotations

from typing import Any, cast

import pydicom
from pydicom.dataelem import RawDataElement


def text_value(value: Any) -> str:
    """A value as stripped text (bytes decoded as Latin-1, NUL padding removed)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return str(value).strip().rstrip("\x00").strip()


def raw_text(elem: Any) -> str | None:
    """The text of a still-raw single-valued element, decoded without pydicom, or None.

    Only pure ASCII without escape sequences or value separators is decoded here: every
    character set DICOM allows decodes such bytes the same way, so the result equals what
    pydicom's conversion would give, at a fraction of the cost. None means "ask pydicom".
    """
    if not isinstance(elem, RawDataElement) or elem.VR in ("SQ", "UN"):
        return None
    data = elem.value
    if data is None:
        return "" if elem.length == 0 else None  # None + length: a deferred read
    if not data.isascii() or b"\\" in data or b"\x1b" in data:
        return None
    return data.decode("ascii").strip().rstrip("\x00").strip()


def peek_text(ds: pydicom.Dataset, tag: int) -> str:
    """:func:`text_value` of ``ds[tag]`` ("" if absent), decoding raw bytes directly if safe."""
    elem = cast("dict[int, Any]", ds._dict).get(tag)
    if elem is None:
        return ""
    text = raw_text(elem)
    return text if text is not None else text_value(ds[tag].value)
