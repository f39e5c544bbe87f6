"""Reading and replacing element values cheaply, on raw elements, where that is exact.

pydicom decodes a raw element through its charset and VR machinery on first access, which
costs more than the whole scrub of an element. For pure-ASCII values without escapes or
value separators every DICOM character set gives the same text, so those are decoded here;
new default-repertoire values are stored pre-encoded, byte for byte as pydicom writes them.
"""

from __future__ import annotations

from typing import Any, cast

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue

#: String VRs whose new values are stored pre-encoded (see :func:`set_value`); DS, IS and UR are
#: left to pydicom, which normalises their text.
_PREENCODED_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "TM", "UI", "PN", "LO", "SH", "LT", "ST", "UT", "UC"}
)


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


def raw_strings(raw: RawDataElement) -> list[str]:
    """Values of a raw element of a default-repertoire VR, as pydicom splits them."""
    data = raw.value or b""
    # UI pads with NUL, the others with a space; text_value strips both per value
    text = data.decode("latin-1").rstrip("\x00 ")
    return text.split("\\") if text else []


def set_value(ds: pydicom.Dataset, tag: int, vr: str, value: Any) -> None:
    """Replace a still-raw element by a new value, never decoding the original.

    Text values in the default repertoire are stored pre-encoded exactly as pydicom's writer
    would encode them (values joined by backslash, padded to even length with NUL for UI,
    else a space); anything else becomes a DataElement. Our values are valid by construction
    (pseudonyms, 2.25 UIDs, shifted dates, dummies), so pydicom's validation is skipped.
    """
    elements = cast("dict[int, Any]", ds._dict)
    raw = elements[tag]
    if vr in _PREENCODED_VRS and isinstance(raw, RawDataElement):
        if value is None:
            text = ""
        elif isinstance(value, str):
            text = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = "\\".join(value)
        else:
            text = "\x80"  # not pre-encodable: fall through below
        if text.isascii():
            data = text.encode("ascii")
            if len(data) % 2:
                data += b"\x00" if vr == "UI" else b" "
            # positional construction: namedtuple._replace costs several times more
            elements[tag] = RawDataElement(
                raw.tag, vr, len(data), data, raw.value_tell, raw.is_implicit_VR,
                raw.is_little_endian, raw.is_raw, False,
            )  # fmt: skip
            return
    elements[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)


def decoded_values(value: Any) -> list[Any]:
    """A decoded element value as a list of its values (one item for a single value)."""
    return list(value) if isinstance(value, MultiValue | list) else [value]


def replace_value(ds: pydicom.Dataset, tag: int, vr: str, value: str | None) -> None:
    """Set a new text value: pre-encoded where the element is still raw, else via pydicom."""
    raw = cast("dict[int, Any]", ds._dict)[tag]
    if isinstance(raw, RawDataElement) and raw.VR in (None, vr):
        set_value(ds, tag, vr, value)
    else:
        ds[tag].value = value  # UN or an already decoded element: keep pydicom's own path
