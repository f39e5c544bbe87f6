"""Action codes of PS3.15 E.1.1: resolving a tag's code for a profile, and one small function
per value transformation (dummy per VR, date shift, descriptor cleaning, keyed UIDs).

The per-profile table is compiled once (``lru_cache``) into ``{int tag: (code, reason)}`` so
the per-element work in :mod:`deidkit.scrub.engine` is one dict lookup.
"""

from __future__ import annotations

import datetime as _dt
import re
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


# -- values -------------------------------------------------------------------------------

_DUMMY_TEXT = "ANONYMIZED"
_DUMMIES: Mapping[str, object] = MappingProxyType(
    {
        "AE": "ANONYMIZED",
        "AS": "000Y",
        "CS": "ANONYMIZED",
        "DA": "19000101",
        "DT": "19000101000000",
        "TM": "000000",
        "DS": "0",
        "IS": "0",
        "LO": _DUMMY_TEXT,
        "LT": _DUMMY_TEXT,
        "PN": "ANONYMIZED",
        "SH": _DUMMY_TEXT,
        "ST": _DUMMY_TEXT,
        "UC": _DUMMY_TEXT,
        "UT": _DUMMY_TEXT,
        "UR": "",
        "US": 0,
        "SS": 0,
        "UL": 0,
        "SL": 0,
        "UV": 0,
        "SV": 0,
        "FL": 0.0,
        "FD": 0.0,
        "AT": 0,
        "OB": b"\x00\x00",
        "OW": b"\x00\x00",
        "OD": b"\x00" * 8,
        "OF": b"\x00" * 4,
        "OL": b"\x00" * 4,
        "OV": b"\x00" * 8,
        "UN": b"\x00\x00",
    }
)


def dummy_value(vr: str) -> object:
    """A non-identifying, non-empty dummy value valid for ``vr`` (code D)."""
    return _DUMMIES.get(vr, _DUMMY_TEXT)


def shift_date(value: str, days: int) -> str:
    """Shift a DA value ("YYYYMMDD", or a "A-B" range) by ``days``; unparsable -> "" (safe)."""
    parts = value.strip().split("-")
    out = []
    for part in parts:
        if not part:
            out.append("")
            continue
        digits = part.strip()[:8]
        try:
            if len(digits) != 8 or not digits.isdigit():
                return ""
            day = _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            return ""
        out.append((day + _dt.timedelta(days=days)).strftime("%Y%m%d"))
    return "-".join(out)


_DT_RE = re.compile(r"^(\d{8})(.*)$")


def shift_datetime(value: str, days: int) -> str:
    """Shift a DT value by whole days, keeping time and offset; unparsable -> "" (safe).

    A DT with only a year or year-month cannot be shifted by days without inventing
    precision, so it is emptied.
    """
    text = value.strip()
    if "-" in text[1:] and not re.search(r"[+-]\d{4}$", text):
        return "-".join(shift_datetime(p, days) if p else "" for p in text.split("-"))
    match = _DT_RE.match(text)
    if not match:
        return ""
    shifted = shift_date(match.group(1), days)
    return shifted + match.group(2) if shifted else ""


# Words known not to identify anyone: imaging and anatomy vocabulary used in descriptions.
_SAFE_WORDS = frozenset(
    """
    t1 t2 t2* pd flair dwi adc dti swi mpr mprage spgr fspgr gre se tse fse epi bold asl tof
    stir ir dixon fat water sat fs c+ c- pre post contrast gad gd with without w wo and of
    ax axial sag sagittal cor coronal obl oblique 2d 3d 4d mip minip vr recon reformat
    localizer localiser scout survey topogram calibration cal ref reference
    head brain neck spine cervical thoracic lumbar chest thorax lung lungs abdomen pelvis
    liver kidney heart cardiac breast knee hip shoulder ankle wrist hand foot elbow
    orbit orbits sinus iac pituitary prostate whole body wb extremity upper lower left right
    lt rt bilateral l r ap pa lat lateral frontal
    ct mr mri pet spect us xr dx cr mg nm cta mra ctp perfusion angio venous arterial
    portal delayed phase early late soft tissue bone lung std standard sharp smooth kernel
    thin thick slice slices mm cm dose low high routine protocol series study exam scan
    image images screening diagnostic followup follow up baseline research
    iv oral rectal intravenous bolus infusion none no yes ml cc mg mgi mmol kg
    omnipaque iohexol isovue iopamidol visipaque iodixanol ultravist iopromide optiray
    ioversol xenetix iobitridol iomeron iomeprol imeron oxilan hexabrix conray telebrix
    omniscan gadodiamide magnevist gadopentetate dotarem gadoterate clariscan gadavist
    gadovist gadobutrol prohance gadoteridol multihance gadobenate eovist primovist
    gadoxetate elucirem vueway gadopiclenol feraheme ferumoxytol barium gastrografin
    optison definity sonovue lumason
    """.split()
)
# Short numbers with an optional unit, a letter with up to two digits, and a known word
# followed by a strength ("ISOVUE300", "Omnipaque350").
_SAFE_TOKEN = re.compile(r"^(\d{1,3}(\.\d+)?(mm|cm|ms|s|t|ml|cc|mg|mgi|mmol|%)?|[a-z]{1}\d{0,2})$")
_WORD_STRENGTH = re.compile(r"^([a-z]{3,})-?(\d{1,3})$")


def clean_text(value: str) -> str:
    """Clean a descriptor (code C under Clean Descriptors): keep only known-safe words.

    Every token that is not imaging vocabulary or a short number (at most three digits,
    optionally with a unit) is dropped, so names, IDs, dates and free text cannot survive.
    """
    kept = []
    dropped = False
    for token in re.split(r"[\s_^\\/,;:|]+", value):
        low = token.strip().lower().strip("().[]{}\"'")
        if not low:
            continue
        strength = _WORD_STRENGTH.match(low)
        if (
            low in _SAFE_WORDS
            or _SAFE_TOKEN.match(low)
            or (strength is not None and strength.group(1) in _SAFE_WORDS)
        ):
            kept.append(token.strip().strip("().[]{}\"'"))
        else:
            dropped = True
    # Nothing unknown: keep the value as written ("ISOVUE300/100" stays comparable), but
    # never with the PN separator "^", which makes a descriptor look like a person name.
    return value.strip(" \x00").replace("^", " ") if not dropped else " ".join(kept)
