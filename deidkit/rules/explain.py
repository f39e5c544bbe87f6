"""Explain which action applies to one tag under a profile, and why (``deidkit explain``).

The code comes from :func:`deidkit.rules.decisions.decide_tag`, the decision the scrub's
element walk makes, so what explain says is what scrub records for that tag at the top level.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.datadict import dictionary_description, dictionary_VR, keyword_for_tag

from deidkit.core.errors import ProfileError
from deidkit.rules.decisions import (
    Decision,
    clean_outcome,
    decide,
    decide_tag,
    resolve_mixed,
    vr_decision,
)
from deidkit.rules.profile import Profile
from deidkit.rules.standard import (
    MIXED_CODES,
    TableRow,
    attribute_type,
    ciod_for_sop_class,
    is_known_ciod,
    normalise_tag,
    pattern_rows,
    row_for_tag,
)


@dataclass(frozen=True)
class Explanation:
    """The action for one tag: the table's codes, what the profile chose and how it resolved."""

    tag: str
    keyword: str
    name: str
    basic: str | None
    option_codes: dict[str, str]
    code: str
    reason: str
    resolved: str
    resolution: str
    ciod: str | None
    attribute_type: str | None

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``--json`` output."""
        return dict(self.__dict__)


def explain_tag(
    spec: str, profile: Profile, *, sop_class: str | None = None, creator: str | None = None
) -> Explanation:
    """Explain the action ``profile`` applies to a top-level tag.

    Parameters
    ----------
    spec
        "(0010,0010)", "00100010" or a keyword.
    profile
        The resolved profile.
    sop_class
        SOP Class UID used to resolve mixed codes by Type; without it they are shown
        unresolved with the unknown-IOD rule.
    creator
        A private element's Private Creator; without it, the profile's ``keep_private``
        entries for that group and element byte are named in the reason.

    Raises
    ------
    ProfileError
        If ``spec`` is not a tag or known keyword.
    """
    tag_key = normalise_tag(spec, where="explain")
    tag = int(tag_key[1:5] + tag_key[6:10], 16)
    group = tag >> 16
    ciod = ciod_for_sop_class(sop_class) if sop_class else None
    if sop_class and ciod is None:
        raise ProfileError(f"explain: SOP Class {sop_class} is not in the IOD table")
    row = pattern_rows().get("(gggg,eeee)") if group & 1 else row_for_tag(tag)
    try:
        name = dictionary_description(tag)
        vr = dictionary_VR(tag)
    except KeyError:
        name, vr = ("Private attribute" if group & 1 else "unknown attribute"), ""
    keyword = keyword_for_tag(tag) or ("Private" if group & 1 else "")
    decision = _decision(tag, row, profile, tag_key)
    if decision is None:
        code, reason = _vr_rule_text(vr, profile)
    else:
        code, reason = decision.code, decision.reason
    resolved, resolution = code, "no Type resolution needed"
    typ = attribute_type(ciod, (tag,)) if ciod else None
    if code in MIXED_CODES:
        resolved, resolution = resolve_mixed(code, typ, ciod_known=is_known_ciod(ciod))
    if resolved == "C":
        emptied = clean_outcome(vr.split(" ")[0] or None, profile)
        if emptied is not None:
            resolved, resolution = emptied
    if group & 1 and tag & 0xFFFF >= 0x1000:
        kept = _kept_private(tag, profile, creator)
        if kept is not None:
            code = resolved = "K"
            reason, resolution = kept, "text values: PHI spans removed (as code C on text)"
        elif creator is not None:
            reason = f"{reason}; creator '{creator}' not in the profile's keep_private"
    return Explanation(
        tag=tag_key,
        keyword=keyword,
        name=name,
        basic=row.basic if row else None,
        option_codes=dict(row.options) if row else {},
        code=code,
        reason=reason,
        resolved=resolved,
        resolution=resolution,
        ciod=ciod,
        attribute_type=typ,
    )


#: What scrub writes into the File Meta Information it rebuilds, for the tags the table
#: does not list (Media Storage SOP Instance UID, (0002,0003), follows its table row).
_FILE_META = {
    0x00020001: Decision("D", "File Meta Information version written anew"),
    0x00020002: Decision("K", "Media Storage SOP Class UID copied from the SOP Class UID"),
    0x00020010: Decision("K", "transfer syntax kept: pixel data is never re-encoded"),
    0x00020012: Decision("D", "deidkit's own implementation class UID"),
    0x00020013: Decision("D", "deidkit's own implementation version name"),
}
_FILE_META_NOTE = "File Meta Information rebuilt from the scrubbed dataset"


def _decision(tag: int, row: TableRow | None, profile: Profile, tag_key: str) -> Decision | None:
    """The scrub's decision for a top-level tag; File Meta and pattern rows around it."""
    group = tag >> 16
    if group == 0x0002 and tag & 0xFFFF:
        # decide_tag speaks of the dataset body, where group 0002 never belongs; the File
        # Meta Information is where these tags live, and scrub writes it anew
        table = decide(row, profile, tag_key=tag_key) if row is not None else None
        if table is not None:
            return Decision(table.code, f"{table.reason}; {_FILE_META_NOTE}")
        return _FILE_META.get(tag, Decision("X", f"not carried over: {_FILE_META_NOTE}"))
    if group & 1:
        return decide(row, profile, tag_key=tag_key)
    decision = decide_tag(tag, profile)
    if decision is None and row is not None:
        return decide(row, profile, tag_key=tag_key)  # curve and overlay pattern rows
    return decision


def _kept_private(tag: int, profile: Profile, creator: str | None) -> str | None:
    """The profile's ``keep_private`` rule for a private element, as a reason, or None."""
    group, byte = tag >> 16, tag & 0xFF
    creators = sorted(c for c, g, e in profile.keep_private if g == group and e == byte)
    if creator is not None:
        creators = [c for c in creators if c == creator]
    if not creators:
        return None
    named = ", ".join(f"'{c}'" for c in creators)
    where = f"({group:04X},xx{byte:02X})"
    return (
        f"profile '{profile.name}' keep_private: {where} kept when the block's creator is "
        f"{named} (text values lose their PHI spans); any other creator: removed unless safe"
    )


def _vr_rule_text(vr: str, profile: Profile) -> tuple[str, str]:
    decision = vr_decision(vr or None, profile.options)
    if decision is None:
        return "K", "not in E.1-1: kept"
    return decision.code, f"not in E.1-1: {decision.reason}"
