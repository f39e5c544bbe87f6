"""The element walk behind :func:`deidkit.scrub.engine.scrub_dataset`.

One pass over every element at every depth (sequences, private sequences, undefined-length
items). Per element the work is a dict lookup in the profile's compiled table; elements
that need no action are never decoded from their raw bytes. Values read from the dataset
never reach an :class:`ActionRecord`, a warning or an error.
"""

from __future__ import annotations

from functools import lru_cache

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.sequence import Sequence

from deidkit.core.pseudonym import accession_pseudonym
from deidkit.rules.conditions import (
    CONDITIONAL_TAGS,
    TYPE1_REASON,
    effective_type,
    is_empty_value,
)
from deidkit.rules.decisions import (
    KEYED_TAGS,
    MISPLACED,
    TAG_ACCESSION,
    TAG_PATIENT_ID,
    TAG_PATIENT_NAME,
    TAG_STUDY_ID,
    Decision,
    keyed_decision,
    resolve_mixed,
    vr_decision,
)
from deidkit.rules.standard import MIXED_CODES, tag_text
from deidkit.scrub.actions import (
    APPEND,
    REGISTRY,
    REMOVE,
    TAG_CODE_MEANING,
    TEXT_VRS,
    UNCHANGED,
    Outcome,
    dummy_value,
    lookup,
)
from deidkit.scrub.codec import (
    convert_element,
    decoded_values,
    element_map,
    is_plain_raw,
    peek_text,
    raw_strings,
    replace_value,
    set_value,
)
from deidkit.scrub.context import ActionRecord, LinkagePair, WalkContext
from deidkit.scrub.private import KEPT_BY_PROFILE, block_creators, private_keep

# TAG_PATIENT_ID: the engine takes it from here (it is defined in rules.decisions)
__all__ = [
    "TAG_PATIENT_ID",
    "ActionRecord",
    "LinkagePair",
    "WalkContext",
    "dict_vr",
    "walk_dataset",
]

TAG_PIXEL_DATA = 0x7FE00010
_DATE_VRS = frozenset({"DA", "DT", "TM"})
_TEXT_VRS = TEXT_VRS
_CODE_TAGS = frozenset({0x00080100, 0x00080102, 0x00080103, 0x00080104, 0x00080105, 0x00080106})
_VR_RULE_VRS = frozenset({"PN", "DA", "DT", "TM", "UI", "SQ", "UN"})
_SPECIAL_TAGS = KEYED_TAGS
_REMOVE_ACTION = REGISTRY["X"]
_KEEP_ACTION = REGISTRY["K"]
_GUARDED_CODES = frozenset({"C", "Z"})
_KEPT_PRIVATE_TEXT = Decision("C", "kept private text: PHI spans removed")


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


def _apply(
    ds: pydicom.Dataset,
    tag: int,
    vr: str | None,
    decision: Decision,
    ctx: WalkContext,
    path: tuple[int, ...],
    where: str,
    mode: str,
) -> None:
    code, reason = decision.code, decision.reason
    # Type 1 attributes must never come out empty or absent (C, Z and mixed codes would;
    # a UID has no dummy, D gives it a keyed one); X, U, K and recipe codes are never
    # second-guessed here
    guard = code in _GUARDED_CODES or code in MIXED_CODES or int(tag) in CONDITIONAL_TAGS
    attr_type = effective_type(ctx.ciod, path, element_map(ds)) if guard else None
    if code in MIXED_CODES:
        code, why = resolve_mixed(code, attr_type, ciod_known=ctx.ciod_known)
        reason = f"{reason}; {why}"
    if attr_type == "1" and (
        (code in ("Z", "X") and decision.code != "X") or (code == "C" and vr == "UI")
    ):
        code, reason = "D", f"{reason}; {TYPE1_REASON}"
    elif attr_type == "2" and code == "X":
        code, reason = "Z", f"{reason}; Type 2 by its condition: emptied, not removed"
    found = lookup(code)
    action, argument = found if found is not None else (None, "")
    elements = element_map(ds)
    if action is _REMOVE_ACTION:
        del elements[tag]
        _record(ctx, where, tag, "X", reason)
        return
    raw = elements[tag]
    if action is _KEEP_ACTION and vr != "SQ" and raw.VR not in (None, "UN"):
        _record(ctx, where, tag, "K", reason)  # kept as read: no need to decode the value
        return
    tag_int = int(tag)
    if (
        action is not None
        and (action.raw_vrs is None or vr in action.raw_vrs)
        and is_plain_raw(raw, vr, tag_int)
    ):
        # The raw fast path: a still-encoded element gets its new value without pydicom
        # decoding the old one (nearly every change in a real header).
        assert vr is not None  # is_plain_raw checked it
        reads = action.reads is None or vr in action.reads
        outcome = action.apply(raw_strings(raw) if reads else (), vr, argument, ctx, tag_int)
        if _never_emptied(attr_type, code):
            outcome = _never_empty(outcome, vr)
        if outcome.value is not UNCHANGED:
            set_value(ds, tag, vr, outcome.value)
        _record(ctx, where, tag, outcome.code or code, _reason(outcome, reason))
        return
    elem = convert_element(ds, tag, vr)
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
    if action is None:
        _record(ctx, where, tag, code, reason)  # a code no action implements: left as is
        return
    reads = action.reads is None or vr in action.reads
    outcome = action.apply(decoded_values(elem.value) if reads else (), vr, argument, ctx, tag_int)
    if _never_emptied(attr_type, code):
        outcome = _never_empty(outcome, vr)
    if outcome.value is REMOVE:
        del elements[tag]
    elif outcome.value is not UNCHANGED:
        elem.value = outcome.value
    _record(ctx, where, tag, outcome.code or code, _reason(outcome, reason))


def _never_emptied(attr_type: str | None, code: str) -> bool:
    """Type 1; and a present 1C that C cleans (an SR TEXT item's Text Value: the item is
    there, so its condition holds)."""
    return attr_type == "1" or (attr_type == "1C" and code == "C")


def _never_empty(outcome: Outcome, vr: str) -> Outcome:
    """A Type 1 attribute's outcome, with a dummy of the VR where it would be empty."""
    if outcome.value is UNCHANGED or not is_empty_value(outcome.value, removed=REMOVE):
        return outcome
    return Outcome("D", dummy_value(vr), TYPE1_REASON)


def _reason(outcome: Outcome, reason: str) -> str:
    if outcome.reason is None:
        return reason
    if outcome.reason == TYPE1_REASON:
        return f"{reason}; {TYPE1_REASON}"
    if outcome.reason.startswith(APPEND):
        return reason + outcome.reason
    return outcome.reason


def _special(ds: pydicom.Dataset, tag: int, ctx: WalkContext, where: str, depth: int) -> bool:
    """Patient ID, Patient Name, Study ID and an overridden Accession Number. True if handled.

    Whether one of them is keyed, and the code and reason, come from
    :func:`~deidkit.rules.decisions.keyed_decision` (what ``deidkit explain`` shows too);
    this function only makes the keyed value.
    """
    tag_int = int(tag)  # comparisons with plain ints: BaseTag.__eq__ is slow
    decision = keyed_decision(tag_int, ctx.profile, top_level=depth == 0)
    if decision is None:
        return False
    code, reason = decision.code, decision.reason
    if tag_int == TAG_PATIENT_ID:
        if depth == 0:
            replace_value(ds, tag, "LO", ctx.patient)
        else:
            original = peek_text(ds, tag_int)
            if original:
                new = ctx.cache.patient(original)
                replace_value(ds, tag, "LO", new)
                ctx.linkage[("PatientID", original)] = new
    elif tag_int == TAG_PATIENT_NAME:
        original = peek_text(ds, tag_int)
        value = ctx.patient if code == "D" else None
        replace_value(ds, tag, "PN", value)
        if original and value:
            ctx.linkage[("PatientName", original)] = value
        code = "D" if value else "Z"
    elif tag_int == TAG_STUDY_ID:
        original = peek_text(ds, tag_int)
        study_id = ctx.cache.study_id(ctx.study_uid) if ctx.study_uid else None
        replace_value(ds, tag, "SH", study_id)
        if original and study_id:
            ctx.linkage[("StudyID", original)] = study_id
        code = "D" if study_id else "Z"  # no Study Instance UID to key it by
    elif tag_int == TAG_ACCESSION:
        original = peek_text(ds, tag_int)
        if original:
            new = accession_pseudonym(ctx.key, original)
            replace_value(ds, tag, "SH", new)
            ctx.linkage[("AccessionNumber", original)] = new
    _record(ctx, where, tag, code, reason)
    return True


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
    creator_tags: list[int] = []
    removed: dict[tuple[int, int], int] = {}
    kept_count: dict[tuple[int, int, str], int] = {}
    table = ctx.table
    elements = element_map(ds)
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
            why, safe = None, None
            if retain_private or ctx.profile.keep_private:
                if creators is None:
                    creators = block_creators(ds)
                why, safe = private_keep(
                    tag, creators, ctx.declared, ctx.profile.keep_private,
                    retain_safe=retain_private,
                )
            if why is None:
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
            rule = vr_decision(vr, ctx.profile.options, private=True)
            if rule is None and vr in _TEXT_VRS and ctx.identifiers is not None:
                rule = _KEPT_PRIVATE_TEXT  # kept text: this profile cleans free text
            if rule is None:
                if raw.VR in (None, "UN"):
                    convert_element(ds, key, vr)  # implicit VR or UN: give it the safe list's VR
                counted = (group, element >> 8, why)
                kept_count[counted] = kept_count.get(counted, 0) + 1
                continue  # kept as read; recorded once per block below, whatever the encoding
            _apply(ds, key, vr, rule, ctx, (*parent, tag), where, mode)
            continue
        if element == 0 or group in (0x0000, 0x0002):
            # group lengths are retired and would be wrong after edits; command (0000) and
            # file meta (0002) elements do not belong in a stored dataset body
            del elements[key]
            _record(ctx, prefix + tag_text(tag), tag, MISPLACED.code, MISPLACED.reason)
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
                decision = vr_decision(vr, ctx.profile.options)
            elif decision is None and mode != "keep" and vr in _TEXT_VRS and _free_text(tag, mode):
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
    for (pgroup, pblock, why), count in kept_count.items():
        where = f"{prefix}({pgroup:04X},{pblock:02X}xx)"
        if why == KEPT_BY_PROFILE:
            reason = f"private elements kept by the profile's keep_private ({count} in block)"
        else:
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


def _free_text(tag: int, mode: str) -> bool:
    """Text a D / C sequence replaces or cleans: not codes, but C cleans Code Meanings too
    (a site's own code may be named after a person; the standard's meanings have no span)."""
    return tag not in _CODE_TAGS or (mode == "clean" and tag == TAG_CODE_MEANING)


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
