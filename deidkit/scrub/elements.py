"""The element walk behind :func:`deidkit.scrub.engine.scrub_dataset`.

One pass over every element at every depth (sequences, private sequences, undefined-length
items). Per element the work is a dict lookup in the profile's compiled table; elements
that need no action are never decoded from their raw bytes. Values read from the dataset
never reach an :class:`ActionRecord`, a warning or an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple, cast

import pydicom
from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import (
    accession_pseudonym,
    generic_pseudonym,
)
from deidkit.rules.profile import Profile
from deidkit.rules.standard import (
    MIXED_CODES,
    attribute_type,
    tag_text,
)
from deidkit.scrub.actions import (
    Decision,
    clean_text,
    dummy_value,
    resolve_mixed,
    shift_date,
    shift_datetime,
)
from deidkit.scrub.cache import KeyedCache
from deidkit.scrub.codec.read import read_sequence_value
from deidkit.scrub.codec.values import raw_strings, raw_text, set_value, shifted_values, text_value
from deidkit.scrub.private import block_creators, safe_vr

TAG_PATIENT_NAME = 0x00100010
TAG_PATIENT_ID = 0x00100020
TAG_STUDY_ID = 0x00200010
TAG_ACCESSION = 0x00080050
TAG_PIXEL_DATA = 0x7FE00010
_UID_KINDS = {
    0x0020000D: "StudyInstanceUID",
    0x0020000E: "SeriesInstanceUID",
    0x00080018: "SOPInstanceUID",
}
_DATE_VRS = frozenset({"DA", "DT", "TM"})
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
_CODE_TAGS = frozenset({0x00080100, 0x00080102, 0x00080103, 0x00080104, 0x00080105, 0x00080106})
_VR_RULE_VRS = frozenset({"PN", "DA", "DT", "TM", "UI", "SQ", "UN"})
_SPECIAL_TAGS = frozenset({TAG_PATIENT_ID, TAG_PATIENT_NAME, TAG_STUDY_ID, TAG_ACCESSION})
#: VRs whose values are in the default repertoire: raw bytes decode without the charset.
_ASCII_VRS = frozenset({"UI", "DA", "DT", "TM", "AS", "CS", "DS", "IS", "AE"})
_BINARY_VRS = frozenset({"OB", "OW", "UN", "OD", "OF", "OL", "OV"})


class ActionRecord(NamedTuple):
    """What was done to one element: where, which attribute, which code and why. No values.

    A named tuple, not a dataclass: dozens are made per file and it is several times cheaper.
    """

    path: str
    keyword: str
    action: str
    reason: str


@dataclass(frozen=True)
class LinkagePair:
    """An original identifier and its replacement; in memory only, for the encrypted store."""

    kind: str
    original: str
    pseudonym: str


@dataclass
class WalkContext:
    """State of one scrub: the profile's compiled decisions, the IOD, keyed values, the log."""

    profile: Profile
    key: ProjectKey
    table: Any
    patterns: Any
    ciod: str | None
    ciod_known: bool
    offset: int | None
    patient: str
    study_uid: str
    declared: frozenset[tuple[int, str, int | None]]
    cache: KeyedCache
    actions: list[ActionRecord] = field(default_factory=list)
    linkage: dict[tuple[str, str], str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@lru_cache(maxsize=4096)
def dict_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag).split(" ")[0]
    except KeyError:
        return None


@lru_cache(maxsize=8192)
def _keyword(tag: int) -> str:
    if tag >> 16 & 1:
        return "Private"
    group = tag >> 16
    if 0x6000 <= group <= 0x60FF or 0x5000 <= group <= 0x50FF:
        return keyword_for_tag(tag & 0xFF00FFFF) or tag_text(tag)
    return keyword_for_tag(tag) or tag_text(tag)


def _record(ctx: WalkContext, path: str, tag: int, action: str, reason: str) -> None:
    # int(): the lru_cache would otherwise compare BaseTag keys with its Python-level __eq__
    keyword = _keyword(int(tag))
    ctx.actions.append(ActionRecord(path, keyword, action, reason))


def _new_uid(ctx: WalkContext, value: str, tag: int) -> str:
    original = value.strip().rstrip("\x00").strip()
    if not original or original in UID_dictionary:
        return original  # registered DICOM UIDs (SOP classes, transfer syntaxes) identify no one
    new = ctx.cache.uid(original)
    ctx.linkage[(_UID_KINDS.get(int(tag), "UID"), original)] = new
    return new


def _remap_uids(elem: DataElement, ctx: WalkContext, tag: int) -> None:
    value = elem.value
    if isinstance(value, MultiValue | list):
        elem.value = [_new_uid(ctx, str(v), tag) for v in value]
    elif value:
        elem.value = _new_uid(ctx, str(value), tag)


def _shift(elem: DataElement, vr: str, days: int) -> None:
    values = list(elem.value) if isinstance(elem.value, MultiValue | list) else [elem.value]
    if vr == "TM":
        return  # whole-day shifts leave times of day unchanged
    func = shift_date if vr == "DA" else shift_datetime
    shifted = [func(text_value(v), days) if text_value(v) else "" for v in values]
    elem.value = shifted if len(shifted) > 1 else shifted[0]


def _convert(ds: pydicom.Dataset, tag: BaseTag, vr: str | None) -> DataElement:
    elements = cast("dict[int, Any]", ds._dict)
    raw = elements[tag]
    if isinstance(raw, RawDataElement) and raw.VR == "SQ":
        # what ds[tag] does for a sequence, with the items read by deidkit's own reader
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


def _vr_rule(ctx: WalkContext, vr: str, private: bool) -> Decision | None:
    """Action for an element that the table does not list, chosen by its VR alone."""
    options = ctx.profile.options
    if vr == "PN":
        return Decision("X" if private else "Z", "person name outside the keep list")
    if vr in _DATE_VRS:
        if "retain_long_full_dates" in options:
            return Decision("K", "date/time kept: retain_long_full_dates")
        if "retain_long_modified_dates" in options:
            return Decision("C", "date/time shifted: retain_long_modified_dates")
        return Decision("X" if private else "Z", "date/time value not listed in E.1-1")
    if vr == "UI":
        if "retain_uids" in options:
            return None
        return Decision("U", "non-registered UID remapped")
    if vr == "SQ":
        return Decision("K", "sequence cleaned recursively")
    return None


def _apply(
    ds: pydicom.Dataset,
    tag: BaseTag,
    vr: str | None,
    decision: Decision,
    ctx: WalkContext,
    path: tuple[int, ...],
    where: str,
    mode: str,
) -> None:
    code, reason = decision.code, decision.reason
    if code in MIXED_CODES:
        code, why = resolve_mixed(code, attribute_type(ctx.ciod, path), ciod_known=ctx.ciod_known)
        reason = f"{reason}; {why}"
    if code == "X":
        del ds._dict[tag]
        _record(ctx, where, tag, "X", reason)
        return
    if code == "K" and vr != "SQ" and ds._dict[tag].VR not in (None, "UN"):
        _record(ctx, where, tag, "K", reason)  # kept as read: no need to decode the value
        return
    done = _apply_fast(ds, tag, vr, code, ctx)
    if done is not None:
        _record(ctx, where, tag, done, reason)
        return
    elem = _convert(ds, tag, vr)
    vr = elem.VR
    if vr == "SQ":
        if code == "Z":
            elem.value = Sequence()
            _record(ctx, where, tag, "Z", reason)
            return
        # K, U, C and D keep the items and clean every attribute inside them; under D and C
        # (structured content) free text inside is replaced or cleaned, codes are kept.
        inner = {"D": "dummy", "C": "clean"}.get(code, mode)
        if code != "K" or decision.reason.startswith(("option", "profile")):
            _record(ctx, where, tag, code, reason)
        for index, item in enumerate(elem.value):
            walk_dataset(item, ctx, path, f"{where}[{index}].", inner)
        return
    if code == "K":
        _record(ctx, where, tag, "K", reason)
        return
    if code == "Z":
        elem.value = b"" if vr in {"OB", "OW", "UN", "OD", "OF", "OL", "OV"} else None
    elif code == "U" or (code == "D" and vr == "UI"):
        _remap_uids(elem, ctx, tag)
    elif code == "D":
        elem.value = dummy_value(vr)
    elif code == "C":
        code = _clean(elem, vr, ctx)
    elif code.startswith("R:"):
        elem.value = code[2:]
    elif code.startswith("J:"):
        if vr in {"DA", "DT"}:
            _shift(elem, vr, int(code[2:]))
    elif code.startswith("A:"):
        elem.value = code[2:]
    _record(ctx, where, tag, code, reason)


def _apply_fast(
    ds: pydicom.Dataset, tag: BaseTag, vr: str | None, code: str, ctx: WalkContext
) -> str | None:
    """Apply ``code`` to a still-raw public element without decoding it through pydicom.

    Covers the codes that need no value (Z, D) or only a default-repertoire value (UIDs,
    dates), which is nearly every change in a real header. Returns the code applied, or None
    where the general path must run (sequences, private or UN elements, character-set text,
    recipe literals); the result is the same element the general path would write.
    """
    raw = ds._dict[tag]
    if (
        not isinstance(raw, RawDataElement)
        or raw.VR not in (None, vr)
        or vr is None
        or vr in ("SQ", "UN")
        or tag >> 16 & 1
        or (raw.value is None and raw.length != 0)  # deferred read
    ):
        return None
    if code == "Z":
        set_value(ds, tag, vr, b"" if vr in _BINARY_VRS else None)
        return "Z"
    if code == "D" and vr != "UI":
        set_value(ds, tag, vr, dummy_value(vr))
        return "D"
    if vr not in _ASCII_VRS:
        return None
    values = raw_strings(raw)
    if code == "U" or code == "D":
        if vr != "UI":
            return None
        if len(values) > 1:
            set_value(ds, tag, vr, [_new_uid(ctx, v, tag) for v in values])
        elif values and values[0]:
            set_value(ds, tag, vr, _new_uid(ctx, values[0], tag))
        return code
    if code == "C" and vr in _DATE_VRS:
        if ctx.offset is None:
            set_value(ds, tag, vr, None)
            return "Z"  # no per-patient offset: dates cannot be shifted, so they are emptied
        if vr != "TM":  # whole-day shifts leave times of day unchanged
            set_value(ds, tag, vr, shifted_values(values, vr, ctx.offset))
        return "C"
    if code.startswith("J:") and vr in ("DA", "DT"):
        set_value(ds, tag, vr, shifted_values(values, vr, int(code[2:])))
        return code
    return None


def _clean(elem: DataElement, vr: str, ctx: WalkContext) -> str:
    """Code C: shift dates, clean descriptors, pseudonymise AE titles; otherwise remove text."""
    if vr in _DATE_VRS:
        if ctx.offset is None:
            elem.value = None
            return "Z"
        _shift(elem, vr, ctx.offset)
        return "C"
    if vr in _TEXT_VRS or vr == "CS":
        values = list(elem.value) if isinstance(elem.value, MultiValue | list) else [elem.value]
        cleaned = [clean_text(text_value(v)) for v in values]
        elem.value = cleaned if len(cleaned) > 1 else cleaned[0]
        return "C"
    if vr == "AE" and elem.value:
        elem.value = generic_pseudonym(ctx.key, "AE", text_value(elem.value), length=15)
        return "C"
    elem.value = b"" if vr in {"OB", "OW", "UN"} else None
    return "Z"


def _original(ds: pydicom.Dataset, tag: BaseTag) -> str:
    text = raw_text(ds._dict[tag])
    return text if text is not None else text_value(ds[tag].value)


def _replace(ds: pydicom.Dataset, tag: BaseTag, vr: str, value: str | None) -> None:
    raw = ds._dict[tag]
    if isinstance(raw, RawDataElement) and raw.VR in (None, vr):
        set_value(ds, tag, vr, value)
    else:
        ds[tag].value = value  # UN or an already decoded element: keep pydicom's own path


def _special(ds: pydicom.Dataset, tag: BaseTag, ctx: WalkContext, where: str, depth: int) -> bool:
    """Patient ID, Patient Name, Study ID and an overridden Accession Number. True if handled."""
    tag_int = int(tag)  # comparisons with plain ints: BaseTag.__eq__ is slow
    name = tag_text(tag_int)
    if tag_int == TAG_PATIENT_ID:
        if depth == 0:
            _replace(ds, tag, "LO", ctx.patient)
        else:
            original = _original(ds, tag)
            if original:
                new = ctx.cache.patient(original)
                _replace(ds, tag, "LO", new)
                ctx.linkage[("PatientID", original)] = new
        _record(ctx, where, tag, "D", "Patient ID always becomes the keyed patient pseudonym")
        return True
    if tag_int == TAG_PATIENT_NAME and depth == 0 and name not in ctx.profile.overrides:
        original = _original(ds, tag)
        value = ctx.patient if ctx.profile.patient_name == "pseudonym" else None
        _replace(ds, tag, "PN", value)
        if original and value:
            ctx.linkage[("PatientName", original)] = value
        code = "D" if value else "Z"
        _record(ctx, where, tag, code, f"Patient Name per profile: {ctx.profile.patient_name}")
        return True
    if tag_int == TAG_STUDY_ID and depth == 0 and name not in ctx.profile.overrides:
        original = _original(ds, tag)
        study_id = ctx.cache.study_id(ctx.study_uid) if ctx.study_uid else None
        _replace(ds, tag, "SH", study_id)
        if original and study_id:
            ctx.linkage[("StudyID", original)] = study_id
        _record(ctx, where, tag, "D" if study_id else "Z", "Study ID keyed per study (consistent)")
        return True
    if tag_int == TAG_ACCESSION and ctx.profile.overrides.get(name) == "D":
        original = _original(ds, tag)
        if original:
            new = accession_pseudonym(ctx.key, original)
            _replace(ds, tag, "SH", new)
            ctx.linkage[("AccessionNumber", original)] = new
        _record(ctx, where, tag, "D", "Accession Number keyed pseudonym (profile override D)")
        return True
    return False


def walk_dataset(
    ds: pydicom.Dataset, ctx: WalkContext, parent: tuple[int, ...], prefix: str, mode: str
) -> None:
    """Apply the profile to every element of ``ds`` (one level), recursing into sequences.

    Parameters
    ----------
    ds
        The dataset or sequence item to clean in place.
    ctx
        The scrub's state; actions and linkage pairs are appended to it.
    parent
        Tags of the enclosing sequences (for Types of nested attributes in the IOD).
    prefix
        Record path prefix, e.g. ``"(0008,1115)[0]."``; records name tags, never values.
    mode
        ``"keep"``; or ``"dummy"`` / ``"clean"`` inside a sequence coded D / C, where free
        text not listed in the table is replaced by a dummy / cleaned (codes are kept).
    """
    depth = len(parent)
    creators: dict[tuple[int, int], str] | None = None
    kept_blocks: set[tuple[int, int]] = set()
    creator_tags: list[BaseTag] = []
    removed: dict[tuple[int, int], int] = {}
    kept_count: dict[tuple[int, int], int] = {}
    table = ctx.table
    elements = cast("dict[BaseTag, Any]", ds._dict)
    retain_private = "retain_safe_private" in ctx.profile.options
    for key in list(elements):
        # dict access with the dataset's own BaseTag keys (identity hits), arithmetic and
        # table lookups with a plain int: BaseTag.__eq__ is Python-level and slow
        tag = int(key)
        raw = elements[key]
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1:
            if element == 0:
                del elements[key]
                continue
            if element <= 0x00FF:
                creator_tags.append(key)
                continue
            keep, safe = False, None
            if retain_private:
                if creators is None:
                    creators = block_creators(ds)
                keep, safe = safe_vr(tag, creators, ctx.declared)
            if not keep:
                del elements[key]
                # one record per private block (not per element) keeps the log readable
                block = (group, element >> 8)
                removed[block] = removed.get(block, 0) + 1
                continue
            where = prefix + tag_text(tag)
            kept_blocks.add((group, element >> 8))
            vr = raw.VR if raw.VR not in (None, "UN") else safe
            if vr is None:
                del elements[key]
                _record(ctx, where, tag, "X", "safe private element of unknown VR")
                continue
            rule = _vr_rule(ctx, vr, private=True)
            if rule is None:
                if raw.VR in (None, "UN"):
                    _convert(ds, key, vr)  # implicit VR or UN: give it the safe list's VR
                kept_count[(group, element >> 8)] = kept_count.get((group, element >> 8), 0) + 1
                continue  # kept as read; recorded once per block below, whatever the encoding
            _apply(ds, key, vr, rule, ctx, (*parent, tag), where, mode)
            continue
        if element == 0 or group in (0x0000, 0x0002):
            # group lengths are retired and would be wrong after edits; command (0000) and
            # file meta (0002) elements do not belong in a stored dataset body
            del elements[key]
            _record(ctx, prefix + tag_text(tag), tag, "X", "group length / misplaced group")
            continue
        if tag in _SPECIAL_TAGS and _special(ds, key, ctx, prefix + tag_text(tag), depth):
            continue
        decision: Decision | None = table.get(tag)
        if decision is None and 0x5000 <= group <= 0x60FF:
            decision = _repeating(tag, ctx)
        vr = raw.VR or dict_vr(tag)
        if decision is None:
            if vr not in _VR_RULE_VRS and (mode == "keep" or vr not in _TEXT_VRS):
                continue  # the common case: nothing to do, the raw element is never decoded
            if vr == "UN":
                vr = dict_vr(tag)
                if vr is None:
                    decision = Decision("X", "unknown element of VR UN")
            if decision is None and vr in _VR_RULE_VRS:
                decision = _vr_rule(ctx, vr, private=False)
            elif decision is None and mode != "keep" and vr in _TEXT_VRS and tag not in _CODE_TAGS:
                decision = Decision(
                    "D" if mode == "dummy" else "C", f"free text inside a {mode} sequence"
                )
            if decision is None:
                continue
        _apply(ds, key, vr, decision, ctx, (*parent, tag), prefix + tag_text(tag), mode)
    why = "not on the safe list" if retain_private else "private elements removed"
    for (pgroup, pblock), count in removed.items():
        where = f"{prefix}({pgroup:04X},{pblock:02X}xx)"
        _record(ctx, where, (pgroup << 16) | (pblock << 8), "X", f"{why} ({count} in block)")
    for (pgroup, pblock), count in kept_count.items():
        where = f"{prefix}({pgroup:04X},{pblock:02X}xx)"
        reason = f"safe private elements kept (E.3.10 or declared safe; {count} in block)"
        _record(ctx, where, (pgroup << 16) | (pblock << 8), "K", reason)
    for creator in creator_tags:
        if (creator >> 16, creator & 0xFF) not in kept_blocks:
            del elements[creator]
            _record(
                ctx,
                prefix + tag_text(creator),
                creator,
                "X",
                "private creator of a removed block",
            )


def _repeating(tag: int, ctx: WalkContext) -> Decision | None:
    """Curves (50xx) and overlays (60xx): the pattern rows govern the whole repeating group."""
    group = tag >> 16
    if group % 2:
        return None
    if 0x5000 <= group <= 0x50FF:
        base = ctx.patterns.get("(50xx,xxxx)")
        name = "curve"
    elif 0x6000 <= group <= 0x60FF:
        base = ctx.patterns.get("(60xx,3000)")
        name = "overlay"
        if tag & 0xFFFF == 0x4000:
            base = ctx.patterns.get("(60xx,4000)")
    else:
        return None
    if base is None or base.code == "K":
        return None
    # The group is only valid as a whole; C (clean graphics) would need the bitmap decoded,
    # which this engine never does, so the whole group is removed.
    return Decision("X", f"{name} group removed ({base.reason})")
