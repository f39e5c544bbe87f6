"""The state of one dataset's scrub, shared by the element walk and the action registry.

Kept apart from both so that :mod:`deidkit.scrub.actions` (what each code does to a value)
and :mod:`deidkit.scrub.elements` (where codes apply) import it and not each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from deidkit.core.keys import ProjectKey
from deidkit.rules.decisions import Decision
from deidkit.rules.phi_identifiers import PatientIdentifiers
from deidkit.rules.profile import Profile
from deidkit.scrub.cache import KeyedCache

__all__ = ["ActionRecord", "LinkagePair", "WalkContext"]


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
    table: Mapping[int, Decision]
    patterns: Mapping[str, Decision]
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
    #: This patient's values from the headers before cleaning, for code C on free text.
    identifiers: PatientIdentifiers | None = None
