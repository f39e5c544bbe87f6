"""Which action applies: a tag's PS3.15 E.1-1 code under a profile, and why.

Override > option > Basic Profile, then the mixed codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*)
resolved by the attribute's Type in the IOD. The per-profile table is compiled once
(``lru_cache``) into ``{int tag: Decision}`` so the scrub's per-element work is one dict
lookup. Four identifiers (Patient ID, Patient Name, Study ID, an Accession Number overridden
to D) become keyed pseudonyms whatever the table says: :func:`keyed_decision` is the one
place that says so, and :func:`decide_tag` puts it in front of the table for the scrub's
walk and for ``deidkit explain`` alike. Shared by the scrubber, ``deidkit explain`` and
verify: nothing here touches a dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from deidkit.rules.profile import Profile
from deidkit.rules.standard import (
    OPTION_COLUMNS,
    TableRow,
    concrete_rows,
    parse_tag_text,
    pattern_rows,
    tag_text,
)

TAG_PATIENT_NAME = 0x00100010
TAG_PATIENT_ID = 0x00100020
TAG_STUDY_ID = 0x00200010
TAG_ACCESSION = 0x00080050
#: The tags :func:`keyed_decision` may take out of the table's hands.
KEYED_TAGS = frozenset({TAG_PATIENT_ID, TAG_PATIENT_NAME, TAG_STUDY_ID, TAG_ACCESSION})

#: Options applied in this order; a later option's code wins, so "C" of Modified Dates wins
#: over "K" of Retain Device Identity on calibration dates (shifting is the safer choice).
_OPTION_PRECEDENCE: tuple[str, ...] = tuple(
    [c for c in OPTION_COLUMNS if c != "retain_long_modified_dates"]
    + ["retain_long_modified_dates"]
)


@dataclass(frozen=True)
class Decision:
    """The code that applies to a tag under a profile, before Type resolution, and why."""

    code: str
    reason: str


#: Group lengths (retired, and wrong after any edit), command elements (group 0000) and
#: File Meta elements (group 0002) do not belong in a stored dataset's body.
MISPLACED = Decision("X", "group length / misplaced group")


def keyed_decision(tag: int, profile: Profile, *, top_level: bool) -> Decision | None:
    """The keyed identifiers that win over the table; None for every other tag.

    Patient ID (at any depth) becomes the keyed patient pseudonym; at the top level Patient
    Name follows ``profile.patient_name`` and Study ID gets a keyed per-study value unless
    the profile overrides them; an Accession Number the profile overrides to D becomes its
    keyed pseudonym at any depth. The scrub records Z instead of D where the keyed value
    cannot be made (a Study ID in an instance without Study Instance UID).
    """
    key = tag_text(tag)
    if tag == TAG_PATIENT_ID:
        return Decision("D", "Patient ID always becomes the keyed patient pseudonym")
    if tag == TAG_PATIENT_NAME and top_level and key not in profile.overrides:
        code = "D" if profile.patient_name == "pseudonym" else "Z"
        return Decision(code, f"Patient Name per profile: {profile.patient_name}")
    if tag == TAG_STUDY_ID and top_level and key not in profile.overrides:
        return Decision("D", "Study ID keyed per study (consistent)")
    if tag == TAG_ACCESSION and profile.overrides.get(key) == "D":
        return Decision("D", "Accession Number keyed pseudonym (profile override D)")
    return None


def decide_tag(tag: int, profile: Profile, *, top_level: bool = True) -> Decision | None:
    """Which code applies to a standard (even-group) element under a profile, and why.

    The one decision the scrub's walk and ``deidkit explain`` share: misplaced elements
    (:data:`MISPLACED`) > keyed identifiers (:func:`keyed_decision`) > the compiled table
    (override > option > Basic Profile). The walk takes the same three steps from the same
    parts inline, so that an ordinary element still costs one dict lookup. Mixed codes come
    back unresolved (see :func:`resolve_mixed`). None when none of these lists the tag: the
    curve/overlay pattern rows and the rules by VR then apply.

    Parameters
    ----------
    tag
        The element's tag as an integer.
    profile
        The profile applied.
    top_level
        False inside a sequence item (Patient Name and Study ID are keyed at the top only).
    """
    if tag & 0xFFFF == 0 or tag >> 16 in (0x0000, 0x0002):
        return MISPLACED
    if tag in KEYED_TAGS:
        keyed = keyed_decision(tag, profile, top_level=top_level)
        if keyed is not None:
            return keyed
    return compiled_table(profile).get(tag)


def decide(row: TableRow | None, profile: Profile, tag_key: str | None = None) -> Decision | None:
    """Code for one table row (or override) under a profile: override > option > Basic.

    Parameters
    ----------
    row
        The Table E.1-1 row, or None when the tag is not in the table.
    profile
        The profile applied.
    tag_key
        "(GGGG,EEEE)" to look up in ``profile.overrides`` (defaults to the row's tag).
    """
    key = tag_key if tag_key is not None else (row.tag if row is not None else None)
    if key is not None and key in profile.overrides:
        return Decision(profile.overrides[key], f"profile '{profile.name}' override")
    if row is None:
        return None
    code, reason = row.basic, f"basic profile {row.basic}"
    for option in _OPTION_PRECEDENCE:
        if option in profile.options and option in row.options:
            code = row.options[option]
            reason = f"option {option} {code} (basic {row.basic})"
    return Decision(code, reason)


@lru_cache(maxsize=64)
def compiled_table(profile: Profile) -> Mapping[int, Decision]:
    """``{tag: Decision}`` for every concrete E.1-1 row and every tag override of a profile."""
    table: dict[int, Decision] = {}
    for tag, row in concrete_rows().items():
        decision = decide(row, profile)
        if decision is not None:
            table[tag] = decision
    for key, code in profile.overrides.items():
        tag = parse_tag_text(key)
        if tag not in concrete_rows():
            table[tag] = Decision(code, f"profile '{profile.name}' override")
    return MappingProxyType(table)


@lru_cache(maxsize=64)
def pattern_decisions(profile: Profile) -> Mapping[str, Decision]:
    """Decisions for the pattern rows (curves, overlay data/comments, private attributes)."""
    result: dict[str, Decision] = {}
    for key, row in pattern_rows().items():
        decision = decide(row, profile, tag_key=key)
        if decision is not None:
            result[key] = decision
    return MappingProxyType(result)


#: VRs whose values code C can clean: dates shift, descriptors and code strings keep their
#: known-safe words, AE titles get keyed ones, sequences have their items cleaned.
CLEANABLE_VRS = frozenset({"DA", "DT", "TM", "LO", "SH", "ST", "LT", "UT", "UC", "CS", "AE", "SQ"})
_DATE_VRS = frozenset({"DA", "DT", "TM"})


def clean_outcome(vr: str | None, profile: Profile) -> tuple[str, str] | None:
    """What code C becomes on an element of ``vr``: None when it cleans, else Z and why.

    C can keep nothing of a binary, numeric, UID or person-name value, so it empties it;
    dates can only be shifted when the profile draws a per-patient offset.
    """
    if vr is None or vr in CLEANABLE_VRS - _DATE_VRS:
        return None
    if vr in _DATE_VRS:
        if "retain_long_modified_dates" in profile.options:
            return None
        return "Z", "C on a date without retain_long_modified_dates: no offset, emptied"
    return "Z", f"C on VR {vr}: nothing in the value can be kept, emptied"


_DATE_VRS = frozenset({"DA", "DT", "TM"})


def vr_decision(
    vr: str | None, options: frozenset[str], *, private: bool = False
) -> Decision | None:
    """The code for an element Table E.1-1 does not list, chosen by its VR alone.

    The one rule behind the scrub's walk, ``deidkit explain`` and the BIDS sidecar rules.
    None: nothing to do, the element is kept as read. ``private`` elements are removed
    where a public one would be emptied (no Type keeps a private element present).
    """
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


def resolve_mixed(code: str, attr_type: str | None, *, ciod_known: bool) -> tuple[str, str]:
    """Resolve X/Z, X/D, Z/D, X/Z/D and X/Z/U* by the attribute's Type in the IOD.

    Type 1/1C -> D, Type 2/2C -> Z, Type 3 -> X (PS3.15 E.1.1; 1C and 2C are treated like 1
    and 2 because their conditions are not evaluated, the safe choice).

    X/Z/U* (Referenced Image Sequence, Source Image Sequence) is always U: the references are
    kept and every instance UID inside them replaced by the same keyed UID its target gets,
    so a derived image still points at its source in the release. The standard allows that
    replacement, and it identifies no one more than the released instances' own keyed UIDs
    do; removing or emptying the sequence by its Type would only break the release.

    Unknown Type:

    * the IOD is known but the attribute is not part of it at this place: it behaves like
      Type 3, so X (removal is both valid and the most private choice);
    * the IOD is unknown (private SOP class): the choice that keeps any Type valid with no
      original value: D where allowed, else U (X/Z/U*), else Z.

    Returns
    -------
    tuple of str
        The concrete code and the reason text (names the Type, never a value).
    """
    choices = code.replace("*", "").split("/")
    if "U" in choices:
        return "U", f"{code}: references kept, instance UIDs keyed (consistent with targets)"
    if attr_type is None:
        if ciod_known:
            pick = "X" if "X" in choices else ("Z" if "Z" in choices else choices[-1])
            return pick, f"{code}: attribute not in the IOD here, treated as Type 3 -> {pick}"
        for pick in ("D", "U", "Z", "X"):
            if pick in choices:
                return pick, f"{code}: IOD unknown, safest valid choice {pick}"
    if attr_type in ("1", "1C"):
        order = ("D", "U", "Z", "X")
    elif attr_type in ("2", "2C"):
        order = ("Z", "D", "U", "X")
    else:
        order = ("X", "Z", "D", "U")
    pick = next(c for c in order if c in choices)
    return pick, f"{code}: Type {attr_type} -> {pick}"
