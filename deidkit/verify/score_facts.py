"""What the MIDI-B-style score compares, collected while files are walked anyway.

The score (:mod:`deidkit.verify.score`) compares original and released values element by
element. Parsing and walking every file a second time for that would double the cost of
``deidkit verify --original``, so the two walks that happen anyway (the originals' harvest
and the release scanner) feed a :class:`FactCollector`, and the score works on the small
:data:`ScoreFact` tuples and :class:`ReleaseView` they produce. This module depends on no
other verify module, so both walkers can import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from deidkit.verify.records import Rules, keyword_of

RESEARCH_KEYWORDS = frozenset(
    {
        "Modality",
        "Rows",
        "Columns",
        "PixelSpacing",
        "SliceThickness",
        "SpacingBetweenSlices",
        "ImageOrientationPatient",
        "ImagePositionPatient",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "KVP",
        "RepetitionTime",
        "EchoTime",
        "InversionTime",
        "FlipAngle",
        "MagneticFieldStrength",
        "Manufacturer",
        "BodyPartExamined",
        "RescaleIntercept",
        "RescaleSlope",
        "WindowCenter",
        "WindowWidth",
        "SeriesNumber",
        "InstanceNumber",
        "SOPClassUID",
        "ImageType",
        "ScanningSequence",
        "SequenceVariant",
        "PatientPosition",
        "ContrastBolusAgent",
    }
)
_STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UT"}
)


#: One string value for the score: (item path, tag, VR, value). The item path is
#: ``((sequence tag, item index), ...)`` from the top level; VR "SQ" marks a sequence, its
#: value the number of items. Facts hold PHI: memory only, never written.
ScoreFact = tuple[tuple[tuple[int, int], ...], int, str, str]
ItemPath = tuple[tuple[int, int], ...]


def fact_value(raw: DataElement | RawDataElement, vr: str) -> str | None:
    """The text a fact keeps for an element (raw bytes as latin-1, as :func:`_value`)."""
    if vr not in _STRING_VRS:
        return None
    value = raw.value
    if isinstance(raw, RawDataElement):
        return value.decode("latin-1").strip(" \x00") if isinstance(value, bytes) else None
    if value is None or isinstance(value, bytes):
        return None
    text = "\\".join(str(v) for v in value) if type(value).__name__ == "MultiValue" else str(value)
    return text.strip(" \x00")


class FactCollector:
    """Collects :data:`ScoreFact` tuples from a walk over a data set that happens anyway.

    The originals' harvest and the release scanner call it while they visit each element,
    so the score needs no parse or walk of its own. With ``rules``, only what the score
    looks at is kept (elements with an action code, top-level research values and Patient
    ID), so facts stay small.
    """

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules
        self.facts: list[ScoreFact] = []
        # (tag, VR, nested) -> recorded? Asked for every element of every file, so the
        # answer is kept with the rules and shared by all files.
        self._wants = rules.facts_wanted if rules is not None else {}

    def sequence(self, path: ItemPath, tag: int, n_items: int) -> None:
        """Record a standard sequence and its number of items."""
        if tag >> 16 != 0x0002 and (tag >> 16) % 2 == 0:
            self.facts.append((path, tag, "SQ", str(n_items)))

    def element(self, path: ItemPath, tag: int, vr: str, raw: DataElement | RawDataElement) -> None:
        """Record a standard string element, if the score looks at it."""
        key = (tag, vr, bool(path))
        wanted = self._wants.get(key)
        if wanted is None:
            wanted = (
                tag >> 16 != 0x0002
                and (tag >> 16) % 2 == 0
                and vr in _STRING_VRS
                and (self.rules is None or _wanted(tag, bool(path), self.rules))
            )
            self._wants[key] = wanted
        if not wanted:
            return
        value = fact_value(raw, vr)
        if value:
            self.facts.append((path, tag, vr, value))


def original_facts(ds: Dataset, rules: Rules | None = None) -> list[ScoreFact]:
    """The standard string elements and sequences of ``ds`` at every depth.

    With ``rules``, only what the score looks at is kept (see :class:`FactCollector`).
    """
    collector = FactCollector(rules)
    _collect_facts(ds, (), collector)
    return collector.facts


def _wanted(tag: int, nested: bool, rules: Rules) -> bool:
    if rules.code_for(tag) is not None:
        return True
    return not nested and (tag == 0x00100020 or keyword_of(tag) in RESEARCH_KEYWORDS)


def _collect_facts(ds: Dataset, path: ItemPath, collector: FactCollector) -> None:
    for tag, raw in list(ds.items()):
        tag_int = int(tag)
        if (tag_int >> 16) % 2 == 1 or tag_int >> 16 == 0x0002:
            continue
        vr = str(raw.VR or "")
        if not vr:
            try:
                vr = str(dictionary_VR(tag_int))
            except KeyError:
                continue
        if vr == "SQ":
            items = ds[tag_int].value or []
            collector.sequence(path, tag_int, len(items))
            for index, item in enumerate(items):
                _collect_facts(item, (*path, (tag_int, index)), collector)
            continue
        collector.element(path, tag_int, vr, raw)


@dataclass(frozen=True)
class ReleaseView:
    """What the score needs of one released file: values and sequence sizes by item path.

    Small and picklable, so a worker process parses the released file and the main
    process scores it against the original's facts.
    """

    values: Mapping[tuple[ItemPath, int], str]
    items: Mapping[tuple[ItemPath, int], int]

    @classmethod
    def of(cls, ds: Dataset, rules: Rules | None = None) -> ReleaseView:
        """The view of a released data set."""
        return cls.from_facts(original_facts(ds, rules))

    @classmethod
    def from_facts(cls, facts: Sequence[ScoreFact]) -> ReleaseView:
        """The view from facts collected while the released file was scanned."""
        values: dict[tuple[ItemPath, int], str] = {}
        items: dict[tuple[ItemPath, int], int] = {}
        for path, tag, vr, value in facts:
            if vr == "SQ":
                items[(path, tag)] = int(value)
            else:
                values[(path, tag)] = value
        return cls(values, items)

    def has_item(self, path: ItemPath) -> bool:
        """Whether the release holds the sequence item at ``path`` (and all above it)."""
        return all(
            self.items.get((path[:depth], seq_tag), 0) > index
            for depth, (seq_tag, index) in enumerate(path)
        )
