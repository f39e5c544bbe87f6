"""BIDS JSON files under a profile's rules: sidecar keys are DICOM keywords Table E.1-1 rules on.

A BIDS sidecar (``sub-01_T1w.json``) is a DICOM header flattened into JSON by a converter:
its keys are DICOM keywords (``InstitutionName``, ``AcquisitionDateTime``,
``DeviceSerialNumber``...) beside keys BIDS adds (``PhaseEncodingDirection``, ``SliceTiming``,
``IntendedFor``...). So a key is judged the way the scrub judges the element it came from:

* **A DICOM keyword** gets its tag's code under the profile (:func:`decide_tag`: override >
  option > Basic Profile, keyed identifiers first); a keyword the table does not list gets
  the scrub's rule by VR (person names and UIDs removed, dates and times by the date
  options, anything else kept). Then:

  - ``K``: kept (objects and lists inside are judged key by key);
  - ``X``, ``Z``, ``D``, ``U`` and every mixed code (``X/Z/D``...): the key is **removed**.
    JSON has no "present but empty" form that BIDS reads as such (an empty string would read
    as a value), a dummy would read as real metadata, and a keyed UID joins nothing without
    the DICOM release, so all of them remove the key;
  - ``C``: dates (DA/DT) are shifted by the subject's keyed offset when the caller has one
    (``shift_date``), else removed; times (TM) are kept with an offset (whole-day shifts
    leave a time of day as it was, as in the scrub) and removed without one; descriptors
    (LO, SH, ST, LT, UT, UC, CS) keep only known imaging words
    (:func:`~deidkit.rules.descriptors.clean_text`, the scrub's own vocabulary) and are
    removed when nothing is left; sequences are judged item by item; anything else is
    removed.

* **Any other key** (BIDS' own, a converter's): numbers, booleans and null are kept (they are
  acquisition parameters: ``RepetitionTime``, ``SliceTiming``...), objects are judged key by
  key, and text is kept only under a key of :data:`SAFE_TEXT_KEYS` (technical enumerations
  and file references such as ``PhaseEncodingDirection`` or ``IntendedFor``). Free text under
  any other key is removed: nothing says it is free of names or dates. A list holding text
  follows the text's rule as a whole, so a list is kept whole or removed, never shortened.

``dataset_description.json`` (:func:`scrub_description`) keeps the fields BIDS defines for
it (:data:`DESCRIPTION_FIELDS`: written by the dataset's curators, for publication), and the
data dictionaries of tables (``participants.json``, ``*_scans.json``...,
:func:`scrub_data_dictionary`) keep the column fields BIDS defines (:data:`COLUMN_FIELDS`);
every other key of both follows the sidecar rules. :func:`scrub_bids_json` picks the rule
by file name. Nothing here reads or writes a file, and no message quotes a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from deidkit.rules.decisions import clean_outcome, decide_tag, vr_decision
from deidkit.rules.descriptors import clean_text
from deidkit.rules.phi_identifiers import PatientIdentifiers, identifiers_from_values
from deidkit.rules.profile import Profile, load_profile

__all__ = [
    "COLUMN_FIELDS",
    "DESCRIPTION_FIELDS",
    "SAFE_TEXT_KEYS",
    "DateShift",
    "KeyRule",
    "ScrubbedJson",
    "json_kind",
    "key_rule",
    "scrub_bids_json",
    "scrub_data_dictionary",
    "scrub_description",
    "scrub_sidecar",
]

#: Shifts one date text by the subject's offset; None when the text is not a date.
DateShift = Callable[[str], str | None]

#: BIDS keys (not DICOM keywords) whose text is a technical enumeration, a software name or
#: a reference to another file of the dataset, never free text about a person.
SAFE_TEXT_KEYS: frozenset[str] = frozenset(
    {
        "AnatomicalLandmarkCoordinateSystem",
        "AnatomicalLandmarkCoordinateUnits",
        "ArterialSpinLabelingType",
        "B0FieldIdentifier",
        "B0FieldSource",
        "BidsGuess",
        "BolusCutOffTechnique",
        "CoilCombinationMethod",
        "CoilString",
        "ContrastBolusIngredient",
        "ConversionSoftware",
        "ConversionSoftwareVersion",
        "GradientSetType",
        "ImageTypeText",
        "InPlanePhaseEncodingDirectionDICOM",
        "IntendedFor",
        "M0Type",
        "ManufacturersModelName",
        "MatrixCoilMode",
        "MRTransmitCoilSequence",
        "MTPulseShape",
        "ParallelAcquisitionTechnique",
        "PartialFourierDirection",
        "PhaseEncodingDirection",
        "PulseSequenceType",
        "RawSources",
        "ReceiveCoilActiveElements",
        "SliceEncodingDirection",
        "Sources",
        "SpoilingType",
        "TaskName",
        "Units",
    }
)

#: The fields BIDS defines for ``dataset_description.json``: kept as they are.
DESCRIPTION_FIELDS: frozenset[str] = frozenset(
    {
        "Acknowledgements",
        "Authors",
        "BIDSVersion",
        "DatasetDOI",
        "DatasetLinks",
        "DatasetType",
        "EthicsApprovals",
        "Funding",
        "GeneratedBy",
        "HEDVersion",
        "HowToAcknowledge",
        "License",
        "Name",
        "ReferencesAndLinks",
        "SourceDatasets",
    }
)

#: The fields BIDS defines for a column of a table's data dictionary: kept as they are.
COLUMN_FIELDS: frozenset[str] = frozenset(
    {
        "Delimiter",
        "Description",
        "Format",
        "HED",
        "Levels",
        "LongName",
        "Maximum",
        "Minimum",
        "TermURL",
        "Units",
    }
)

#: Names (or name endings) of the data dictionaries of BIDS tables.
_DICTIONARY_NAMES = ("participants.json", "samples.json")
_DICTIONARY_ENDINGS = (
    "_scans.json",
    "_sessions.json",
    "_events.json",
    "_channels.json",
    "_electrodes.json",
)

_DATE_VRS = frozenset({"DA", "DT"})
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "CS"})


@dataclass(frozen=True)
class KeyRule:
    """What happens to a sidecar key: ``keep``, ``drop``, ``clean`` or ``bids``, and why.

    ``bids`` is a key that is no DICOM keyword: its value decides (numbers kept, text only
    under :data:`SAFE_TEXT_KEYS`). ``code`` is the E.1-1 code behind a keyword's rule (empty
    for ``bids``), ``vr`` the keyword's VR.
    """

    action: str
    code: str
    reason: str
    vr: str | None = None


@dataclass(frozen=True)
class ScrubbedJson:
    """A scrubbed BIDS JSON document and the date keys that could not be kept.

    ``unshifted`` names (key names, never values) the keys whose code is ``C`` on a date
    (DA/DT) that were removed because no offset was given or the value is not a date the
    offset can shift; a caller that must not lose a date refuses the file then.
    """

    data: Any
    unshifted: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def _basic() -> Profile:
    return load_profile("basic")


@lru_cache(maxsize=4096)
def _keyword_tag(key: str) -> tuple[int, str | None] | None:
    # Imported here: most rules users (the scrub's parent process) never need pydicom.
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(key)
    if tag is None:
        return None
    try:
        vr: str | None = dictionary_VR(tag).split(" ")[0]
    except KeyError:
        vr = None
    return int(tag), vr


def _vr_rule(vr: str | None, profile: Profile) -> KeyRule:
    """A keyword E.1-1 does not list: the scrub's rule by VR (a sidecar has no keyed UID or
    empty value, so anything the scrub would change is removed)."""
    decision = vr_decision(vr, profile.options)
    if decision is None or decision.code == "K":
        return KeyRule("keep", "K", "not in E.1-1: kept, as the scrub keeps it", vr)
    if decision.code == "C":
        return KeyRule("clean", "C", f"not in E.1-1: {decision.reason}", vr)
    return KeyRule("drop", decision.code, f"not in E.1-1: {decision.reason}; removed", vr)


def key_rule(key: str, profile: Profile | None = None, *, top_level: bool = True) -> KeyRule:
    """The rule for one sidecar key under ``profile`` (default: the Basic Profile).

    Parameters
    ----------
    key
        The JSON key.
    profile
        The profile applied.
    top_level
        False inside an object or a list (Patient Name and Study ID are keyed at the top only;
        both are removed either way).
    """
    profile = profile if profile is not None else _basic()
    found = _keyword_tag(key)
    if found is None:
        return KeyRule("bids", "", "not a DICOM keyword: numbers kept, text only if known safe")
    tag, vr = found
    decision = decide_tag(tag, profile, top_level=top_level)
    if decision is None:
        return _vr_rule(vr, profile)
    if decision.code == "K":
        return KeyRule("keep", "K", decision.reason, vr)
    if decision.code == "C":
        emptied = clean_outcome(vr, profile)
        if emptied is not None:
            return KeyRule("drop", "C", emptied[1], vr)
        return KeyRule("clean", "C", decision.reason, vr)
    return KeyRule("drop", decision.code, decision.reason, vr)


@dataclass
class _Walk:
    profile: Profile
    shift_date: DateShift | None
    unshifted: set[str] = field(default_factory=set)
    #: The sidecar's own identifying values (its PN, date and ID keys), for code C's text.
    identifiers: PatientIdentifiers | None = None

    def mapping(self, data: dict[str, Any], *, top_level: bool) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for key, value in data.items():
            rule = key_rule(str(key), self.profile, top_level=top_level)
            if rule.action == "bids":
                new = self.bids_value(str(key), value)
            elif rule.action == "keep":
                new = self.nested(value)
            elif rule.action == "clean":
                new = self.cleaned(str(key), rule.vr, value)
            else:
                new = _DROP
            if new is not _DROP:
                kept[key] = new
        return kept

    def nested(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self.mapping(value, top_level=False)
        if isinstance(value, list):
            items = [self.nested(v) for v in value]
            return _DROP if any(i is _DROP for i in items) else items
        return value

    def bids_value(self, key: str, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return value if key in SAFE_TEXT_KEYS else _DROP
        if isinstance(value, dict):
            return self.mapping(value, top_level=False)
        if isinstance(value, list):
            items = [self.bids_value(key, v) for v in value]
            return _DROP if any(i is _DROP for i in items) else items
        return _DROP

    def cleaned(self, key: str, vr: str | None, value: Any) -> Any:
        if vr == "SQ":
            return self.nested(value)
        if vr in _TEXT_VRS:
            return self.clean_texts(value)
        if vr in _DATE_VRS or vr == "TM":
            new = self.dated(vr, value)
            # A lost time of day loses no interval; a lost date (a value, not null or an
            # object) does, and the caller may refuse the file for it.
            lost = vr in _DATE_VRS and isinstance(value, str | int | float | list)
            if new is _DROP and lost and not isinstance(value, bool):
                self.unshifted.add(key)
            return new
        return _DROP

    def clean_texts(self, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if not texts or not all(isinstance(t, str) for t in texts):
            return _DROP
        vocabulary = self.profile.vocabulary
        cleaned = [clean_text(t, self.identifiers, vocabulary=vocabulary) for t in texts]
        if not any(cleaned):
            return _DROP
        return cleaned if isinstance(value, list) else cleaned[0]

    def dated(self, vr: str, value: Any) -> Any:
        if self.shift_date is None:
            return _DROP
        if vr == "TM":
            # Whole-day offsets leave a time of day as it was (the scrub keeps TM under C).
            return value if isinstance(value, str | int | float) else _DROP
        texts = value if isinstance(value, list) else [value]
        shifted = [self.shift_date(t) if isinstance(t, str) else None for t in texts]
        if not shifted or any(s is None for s in shifted):
            return _DROP
        return shifted if isinstance(value, list) else shifted[0]


class _Dropped:
    """The marker of a removed value (None is a value JSON can hold)."""

    __slots__ = ()


_DROP: Any = _Dropped()




def _merge(
    original: dict[str, Any], fields: frozenset[str], rest: dict[str, Any]
) -> dict[str, Any]:
    # The known fields as they are and the scrubbed rest, in the original's key order.
    return {
        k: v if k in fields else rest[k] for k, v in original.items() if k in fields or k in rest
    }


def _keyword_values(data: Any) -> Iterator[tuple[str, str, Any]]:
    """``(keyword, VR, value)`` of every DICOM keyword in a JSON document, at any depth."""
    if isinstance(data, list):
        for item in data:
            yield from _keyword_values(item)
    elif isinstance(data, dict):
        for key, value in data.items():
            found = _keyword_tag(str(key))
            nested = not found or found[1] == "SQ"
            if isinstance(value, dict) or (isinstance(value, list) and nested):
                yield from _keyword_values(value)
            elif found is not None and found[1] is not None:
                yield str(key), found[1], value


def _walk(
    data: Any, profile: Profile | None, shift_date: DateShift | None
) -> tuple[_Walk, Callable[[Any], Any]]:
    walk = _Walk(profile if profile is not None else _basic(), shift_date)
    walk.identifiers = identifiers_from_values(_keyword_values(data))

    def top(value: Any) -> Any:
        if isinstance(value, dict):
            return walk.mapping(value, top_level=True)
        new = walk.nested(value)
        return [] if new is _DROP else new

    return walk, top


def scrub_sidecar(
    sidecar: Any, *, profile: Profile | None = None, shift_date: DateShift | None = None
) -> Any:
    """Return a copy of a BIDS JSON sidecar scrubbed by ``profile``'s rules (module docstring).

    ``profile`` defaults to the Basic Profile; ``shift_date`` shifts the dates code ``C``
    keeps (without it they are removed). The input is not modified.
    """
    return scrub_bids_json("sidecar.json", sidecar, profile=profile, shift_date=shift_date).data


def scrub_description(
    description: Any, *, profile: Profile | None = None, shift_date: DateShift | None = None
) -> ScrubbedJson:
    """``dataset_description.json``: BIDS' own fields kept, every other key by the rules."""
    walk, top = _walk(description, profile, shift_date)
    if not isinstance(description, dict):
        return ScrubbedJson(top(description))
    rest = top({k: v for k, v in description.items() if k not in DESCRIPTION_FIELDS})
    data = _merge(description, DESCRIPTION_FIELDS, rest)
    return ScrubbedJson(data, tuple(sorted(walk.unshifted)))


def scrub_data_dictionary(
    dictionary: Any, *, profile: Profile | None = None, shift_date: DateShift | None = None
) -> ScrubbedJson:
    """A table's data dictionary: per column, BIDS' column fields kept, the rest by the rules.

    A top-level key whose value is an object describes a column; any other key (and any
    non-column field inside a column) follows the sidecar rules.
    """
    walk, top = _walk(dictionary, profile, shift_date)
    if not isinstance(dictionary, dict):
        return ScrubbedJson(top(dictionary))
    data: dict[str, Any] = {}
    for key, value in dictionary.items():
        if isinstance(value, dict):
            others = {k: v for k, v in value.items() if k not in COLUMN_FIELDS}
            data[key] = _merge(value, COLUMN_FIELDS, walk.mapping(others, top_level=False))
        else:
            data.update(walk.mapping({key: value}, top_level=True))
    return ScrubbedJson(data, tuple(sorted(walk.unshifted)))


def json_kind(name: str) -> str:
    """The rule a BIDS JSON file gets by name: ``description``, ``dictionary`` or ``sidecar``."""
    lowered = name.casefold()
    if lowered == "dataset_description.json":
        return "description"
    if lowered in _DICTIONARY_NAMES or lowered.endswith(_DICTIONARY_ENDINGS):
        return "dictionary"
    return "sidecar"


def scrub_bids_json(
    name: str,
    data: Any,
    *,
    profile: Profile | None = None,
    shift_date: DateShift | None = None,
) -> ScrubbedJson:
    """Scrub one BIDS JSON document by the rule its file ``name`` calls for (:func:`json_kind`).

    Parameters
    ----------
    name
        The file's name (not its path): picks the description, dictionary or sidecar rule.
    data
        The parsed JSON document (not modified).
    profile
        The profile whose E.1-1 codes apply (default: the Basic Profile).
    shift_date
        Shifts a date text by the subject's offset (None: dates code ``C`` keeps are removed).
    """
    kind = json_kind(name)
    if kind == "description":
        return scrub_description(data, profile=profile, shift_date=shift_date)
    if kind == "dictionary":
        return scrub_data_dictionary(data, profile=profile, shift_date=shift_date)
    walk, top = _walk(data, profile, shift_date)
    return ScrubbedJson(top(data), tuple(sorted(walk.unshifted)))
