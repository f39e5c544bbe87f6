"""The PS3.15 Annex E tables as data: Table E.1-1, the safe private list, IOD Types, CID 7050.

Everything here is read once from the JSON files vendored in ``deidkit/data`` (see its
README) and cached; callers get plain immutable lookups. Nothing in this module knows
about a particular profile: :mod:`deidkit.rules.profile` and :mod:`deidkit.rules.recipe` combine
these facts with a profile's choices.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from deidkit.core.errors import ProfileError
from deidkit.core.resources import data_file

TABLE_EDITION = "2025b"

#: The ten option columns of Table E.1-1, in the standard's order.
OPTION_COLUMNS: tuple[str, ...] = (
    "retain_safe_private",
    "retain_uids",
    "retain_device_identity",
    "retain_institution_identity",
    "retain_patient_characteristics",
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
)

#: CID 7050 De-identification Method codes (coding scheme DCM).
CID7050_BASIC = ("113100", "Basic Application Confidentiality Profile")
CID7050: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "retain_safe_private": ("113111", "Retain Safe Private Option"),
        "retain_uids": ("113110", "Retain UIDs Option"),
        "retain_device_identity": ("113109", "Retain Device Identity Option"),
        "retain_institution_identity": ("113112", "Retain Institution Identity Option"),
        "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
        "retain_long_full_dates": (
            "113106",
            "Retain Longitudinal Temporal Information Full Dates Option",
        ),
        "retain_long_modified_dates": (
            "113107",
            "Retain Longitudinal Temporal Information Modified Dates Option",
        ),
        "clean_descriptors": ("113105", "Clean Descriptors Option"),
        "clean_structured_content": ("113104", "Clean Structured Content Option"),
        "clean_graphics": ("113103", "Clean Graphics Option"),
    }
)

#: Codes of the standard that choose by the attribute's Type in the IOD.
MIXED_CODES = frozenset({"X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"})

#: Strictness order of Types (strictest first), as in the IOD table's rule.
TYPE_ORDER: tuple[str, ...] = ("1", "1C", "2", "2C", "3")


@dataclass(frozen=True)
class TableRow:
    """One row of Table E.1-1.

    ``tag`` is the upper-case "(GGGG,EEEE)" form, or a pattern with lower-case ``x``.
    ``options`` maps an option column to its code, only where the standard's cell is filled.
    """

    tag: str
    name: str
    keyword: str
    vr: str | None
    basic: str
    options: Mapping[str, str]
    retired: bool


@lru_cache(maxsize=16384)  # called for every element an action touches, in every file
def tag_text(tag: int) -> str:
    """Format an integer tag as "(GGGG,EEEE)"."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def parse_tag_text(text: str) -> int:
    """Parse "(GGGG,EEEE)" or "GGGGEEEE" (hex) into an integer tag.

    Raises
    ------
    ValueError
        If ``text`` is neither form.
    """
    raw = text.strip().replace("(", "").replace(")", "").replace(",", "").replace(" ", "")
    if len(raw) != 8:
        raise ValueError(f"not a tag: {text!r}")
    return int(raw, 16)


def _load_json(name: str) -> Any:
    with data_file(name).open(encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=1)
def table_rows() -> tuple[TableRow, ...]:
    """All 647 rows of Table E.1-1 (2025b), in file order."""
    rows = []
    for raw in _load_json("ps3.15-e1-1.json"):
        options = {col: raw[col] for col in OPTION_COLUMNS if raw.get(col)}
        rows.append(
            TableRow(
                tag=raw["tag"],
                name=raw["name"],
                keyword=raw["keyword"],
                vr=raw.get("vr"),
                basic=raw["basic"],
                options=MappingProxyType(options),
                retired=raw.get("retired") == "Y",
            )
        )
    return tuple(rows)


@lru_cache(maxsize=1)
def concrete_rows() -> Mapping[int, TableRow]:
    """Rows with a concrete tag, keyed by integer tag (the 643 non-pattern rows)."""
    return MappingProxyType(
        {
            parse_tag_text(row.tag): row
            for row in table_rows()
            if "x" not in row.tag and "g" not in row.tag
        }
    )


@lru_cache(maxsize=1)
def pattern_rows() -> Mapping[str, TableRow]:
    """The pattern rows ("(50xx,xxxx)", "(60xx,3000)", "(60xx,4000)", "(gggg,eeee)")."""
    return MappingProxyType(
        {row.tag: row for row in table_rows() if "x" in row.tag or "g" in row.tag}
    )


def row_for_tag(tag: int) -> TableRow | None:
    """The Table E.1-1 row governing a standard (even-group) tag, patterns included."""
    row = concrete_rows().get(tag)
    if row is not None:
        return row
    group, element = tag >> 16, tag & 0xFFFF
    patterns = pattern_rows()
    if 0x5000 <= group <= 0x50FF and group % 2 == 0:
        return patterns.get("(50xx,xxxx)")
    if 0x6000 <= group <= 0x60FF and group % 2 == 0:
        if element == 0x3000:
            return patterns.get("(60xx,3000)")
        if element == 0x4000:
            return patterns.get("(60xx,4000)")
    return None


@dataclass(frozen=True)
class SafePrivate:
    """One row of Table E.3.10-1: a private element safe to keep under Retain Safe Private."""

    creator: str
    group: int
    element_in_block: int
    vr: str | None
    meaning: str


@lru_cache(maxsize=1)
def safe_private_table() -> Mapping[tuple[str, int, int], SafePrivate]:
    """Safe private elements keyed by (creator, group, element-in-block byte).

    The creator is compared after stripping padding, as Private Creator values are LO.
    """
    table: dict[tuple[str, int, int], SafePrivate] = {}
    for raw in _load_json("ps3.15-safe-private.json"):
        entry = SafePrivate(
            creator=raw["private_creator"].strip(),
            group=int(raw["group"], 16),
            element_in_block=int(raw["element_in_block"], 16),
            vr=raw.get("vr") or None,
            meaning=raw.get("meaning") or "",
        )
        table[(entry.creator, entry.group, entry.element_in_block)] = entry
    return MappingProxyType(table)


@lru_cache(maxsize=1)
def _iod_data() -> Mapping[str, Any]:
    data: dict[str, Any] = _load_json("ps3.3-iod-attribute-types.json")
    return data


def ciod_for_sop_class(sop_class_uid: str) -> str | None:
    """The Composite IOD id of a SOP Class UID, or None for an unknown (e.g. private) class."""
    entry = _iod_data()["sop_classes"].get(sop_class_uid.strip())
    return None if entry is None else str(entry["ciod"])


def sop_class_name(sop_class_uid: str) -> str | None:
    """The standard name of a SOP Class, or None if unknown."""
    entry = _iod_data()["sop_classes"].get(sop_class_uid.strip())
    return None if entry is None else str(entry["name"])


def _stricter(a: str | None, b: str) -> str:
    if a is None:
        return b
    return a if TYPE_ORDER.index(a) <= TYPE_ORDER.index(b) else b


@lru_cache(maxsize=256)
def _nested_types(ciod: str) -> Mapping[str, str]:
    """Types of nested paths ("(seq)>(attr)") for one CIOD, strictest over its modules."""
    data = _iod_data()["nested"]
    merged: dict[str, str] = {}
    for module in data["ciod_modules"].get(ciod, {}):
        for path, typ in data["modules"].get(module, {}).items():
            merged[path] = _stricter(merged.get(path), typ)
    return MappingProxyType(merged)


def attribute_type(ciod: str | None, path: tuple[int, ...]) -> str | None:
    """Type ("1", "1C", "2", "2C", "3") of an attribute at ``path`` in a CIOD.

    ``path`` is the chain of sequence tags down to the attribute (one element for a top-level
    attribute). Returns None when the CIOD is unknown or the attribute is not part of it at
    that place.
    """
    if ciod is None:
        return None
    data = _iod_data()
    if len(path) == 1:
        top: Mapping[str, str] = data["ciods"].get(ciod, {})
        tag = path[0]
        text = tag_text(tag)
        if text in top:
            return top[text]
        group = tag >> 16
        if 0x6000 <= group <= 0x60FF:
            # the IOD table stores repeating overlay attributes as (60xx,eeee)
            return top.get(f"(60xx,{tag & 0xFFFF:04X})")
        return None
    return _nested_types(ciod).get(">".join(tag_text(t) for t in path))


def is_known_ciod(ciod: str | None) -> bool:
    """Whether the IOD table has attribute Types for this CIOD."""
    return ciod is not None and ciod in _iod_data()["ciods"]


def normalise_tag(spec: str, *, where: str) -> str:
    """Turn a keyword, "(GGGG,EEEE)" or "GGGGEEEE" into "(GGGG,EEEE)".

    Raises
    ------
    ProfileError
        If ``spec`` is neither a known keyword nor a tag.
    """
    text = str(spec).strip()
    if re.fullmatch(r"\(?[0-9A-Fa-f]{4},?[0-9A-Fa-f]{4}\)?", text):
        return tag_text(parse_tag_text(text))
    # local import: the scrub CLI's parent process never needs pydicom (workers do)
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(text)
    if tag is None:
        raise ProfileError(f"{where}: unknown DICOM keyword or tag '{text}'")
    return tag_text(tag)
