"""Which action applies: a tag's PS3.15 E.1-1 code under a profile, and why.

Override > option > Basic Profile, then the mixed codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*)
resolved by the attribute's Type in the IOD. The per-profile table is compiled once
(``lru_cache``) into ``{int tag: Decision}`` so the scrub's per-element work is one dict
lookup. Shared by the scrubber, ``deidkit profiles explain`` and verify: nothing here
touches a dataset.
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
)

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


def resolve_mixed(code: str, attr_type: str | None, *, ciod_known: bool) -> tuple[str, str]:
    """Resolve X/Z, X/D, Z/D, X/Z/D and X/Z/U* by the attribute's Type in the IOD.

    Type 1/1C -> D (U for X/Z/U*), Type 2/2C -> Z, Type 3 -> X (PS3.15 E.1.1; 1C and 2C are
    treated like 1 and 2 because their conditions are not evaluated, the safe choice).

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
