"""Private elements under PS3.15 E.3.10: which private elements may be kept, and with what VR.

Private elements are removed unless the profile has Retain Safe Private and the element is
on the safe list (Table E.3.10-1, matched by creator, group and element-in-block, so a block
relocated from xx10 to xx20 still matches) or the instance declares it safe in the Private
Data Element Characteristics Sequence (0008,0300), or the profile names it in
``keep_private`` (creator, group, element byte: e.g. the Siemens CSA headers dcm2niix reads).
"""

from __future__ import annotations

from collections.abc import Mapping

import pydicom
from pydicom.datadict import private_dictionary_VR

from deidkit.rules.standard import safe_private_table
from deidkit.scrub.codec import element_map, raw_text

TAG_PRIVATE_CHARACTERISTICS = 0x00080300
_TAG_GROUP_REF = 0x00080301
_TAG_CREATOR_REF = 0x00080302
_TAG_NONIDENTIFYING = 0x00080304
_TAG_BLOCK_STATUS = 0x00080303


def block_creators(ds: pydicom.Dataset) -> dict[tuple[int, int], str]:
    """``{(group, block byte): creator}`` for the private creators in one dataset level."""
    creators: dict[tuple[int, int], str] = {}
    elements = element_map(ds)
    for tag in list(elements):
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and 0x0010 <= element <= 0x00FF:
            text = raw_text(elements[tag])
            if text is not None:
                creators[(group, element)] = text
                continue
            value = ds[tag].value
            if isinstance(value, bytes):
                value = value.decode("latin-1", "replace")
            creators[(group, element)] = str(value or "").strip().rstrip("\x00").strip()
    return creators


def declared_safe(ds: pydicom.Dataset) -> frozenset[tuple[int, str, int | None]]:
    """Private elements an instance declares non-identifying via (0008,0300).

    Returns entries ``(group, creator, element byte)``; ``element byte`` None means the whole
    block (Block Identifying Information Status SAFE).
    """
    if TAG_PRIVATE_CHARACTERISTICS not in ds:
        return frozenset()
    result: set[tuple[int, str, int | None]] = set()
    for item in ds[TAG_PRIVATE_CHARACTERISTICS].value or []:
        try:
            group = int(item[_TAG_GROUP_REF].value)
            creator = str(item[_TAG_CREATOR_REF].value).strip()
        except (KeyError, TypeError, ValueError):
            continue
        status = str(item.get(_TAG_BLOCK_STATUS).value if _TAG_BLOCK_STATUS in item else "")
        if status.strip() == "SAFE":
            result.add((group, creator, None))
        elif status.strip() == "MIXED" and _TAG_NONIDENTIFYING in item:
            values = item[_TAG_NONIDENTIFYING].value
            for element in (
                values if isinstance(values, list | pydicom.multival.MultiValue) else [values]
            ):
                result.add((group, creator, int(element) & 0xFF))
    return frozenset(result)


def safe_vr(
    tag: int,
    creators: Mapping[tuple[int, int], str],
    declared: frozenset[tuple[int, str, int | None]],
) -> tuple[bool, str | None]:
    """Whether a private data element is safe to keep, and the VR the safe list gives it.

    Returns ``(keep, vr)``; ``vr`` may be None (declared safe, or no VR in the standard).
    """
    group, element = tag >> 16, tag & 0xFFFF
    block, offset = element >> 8, element & 0xFF
    creator = creators.get((group, block))
    if creator is None:
        return False, None  # an element without a creator can never be matched
    entry = safe_private_table().get((creator, group, offset))
    if entry is not None:
        return True, entry.vr
    if (group, creator, None) in declared or (group, creator, offset) in declared:
        return True, None
    return False, None


#: Why a private element is kept: the safe list (or the instance's declaration), or the
#: profile's ``keep_private``.
KEPT_SAFE = "safe"
KEPT_BY_PROFILE = "profile"


def private_keep(
    tag: int,
    creators: Mapping[tuple[int, int], str],
    declared: frozenset[tuple[int, str, int | None]],
    keep_private: frozenset[tuple[str, int, int]],
    *,
    retain_safe: bool,
) -> tuple[str | None, str | None]:
    """Why a private data element is kept (:data:`KEPT_SAFE`, :data:`KEPT_BY_PROFILE`, None:
    removed) and its VR where the safe list or pydicom's private dictionary knows it."""
    if retain_safe:
        keep, vr = safe_vr(tag, creators, declared)
        if keep:
            return KEPT_SAFE, vr
    group, element = tag >> 16, tag & 0xFFFF
    creator = creators.get((group, element >> 8))
    if creator is None or (creator, group, element & 0xFF) not in keep_private:
        return None, None
    try:
        vr = str(private_dictionary_VR((group << 16) | 0x1000 | (element & 0xFF), creator))
    except KeyError:
        vr = "OB"  # unknown to the dictionary: its bytes are kept as they are
    return KEPT_BY_PROFILE, vr.split(" ")[0]
