"""Collect the PHI of the original files, so the release can be searched for every value.

What is collected (the issue's list): person names (any PN element, at any depth), the
identifying attributes in :data:`IDENTIFYING_KEYWORDS` (IDs, accession numbers, addresses,
institution and physician data), dates (DA/DT) and UIDs, unless the profile keeps that
attribute (code K, e.g. Institution Name under Retain Institution Identity).

Short or common values would raise false alarms, so a value is skipped when, after
trimming, it is shorter than :data:`MIN_VALUE_CHARS` characters, is all digits and shorter
than :data:`MIN_DIGIT_CHARS`, or is a common placeholder (:data:`STOP_VALUES`). Person
names are searched as "family^given", "family given", "given family" and each name part of
at least :data:`MIN_VALUE_CHARS` characters. A name part of a multi-word name is remembered
with the name's other words (:attr:`OriginalHarvest.word_parts`): verify calls an ordinary
word of a name found alone ("soft" of "Dr. soft haze" in "Soft Tissue") a warning.

Free text that the profile removes (any Table E.1-1 code but K, and private elements unless
the profile keeps safe private ones) is also split into tokens; a token is indexed when it
mixes letters and digits and has at least :data:`MIN_TOKEN_CHARS` characters
(:data:`MIN_TOKEN_CHARS_CLEANED` for descriptors under Clean Descriptors, code C, where short
imaging terms such as "3PHASE" legitimately survive). Such tokens are record numbers,
accession-like codes and canaries; plain words are not indexed, as they recur in retained
text.

The collected values live in memory only; findings name the attribute keyword they came
from, never the value.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import date_offset_days, patient_pseudonym
from deidkit.verify.checks import _codec_for
from deidkit.verify.private import (
    NO_DECLARATIONS,
    TAG_CHARACTERISTICS,
    Declared,
    declared_safe_private,
    element_safe,
)
from deidkit.verify.records import (
    IDENTIFYING_KEYWORDS,
    RETAINED_VRS,
    OriginalIndex,
    Rules,
    is_registry_uid,
    keyword_of,
    vr_of,
)
from deidkit.verify.score_facts import FactCollector, ItemPath, ScoreFact

MIN_VALUE_CHARS = 4
MIN_DIGIT_CHARS = 6
MIN_TOKEN_CHARS = 6
MIN_TOKEN_CHARS_CLEANED = 10
STOP_VALUES = frozenset(
    {
        "anonymous",
        "anonymized",
        "unknown",
        "none",
        "null",
        "test",
        "n/a",
        "removed",
        "other",
        "patient",
    }
)
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
_STANDARD_UID_ROOT = "1.2.840.10008."
_DATE = re.compile(r"^\d{8}")
_WANTED_VRS = frozenset({"PN", "DA", "DT", "UI"})
_TEXT_VRS = frozenset({"LO", "LT", "ST", "UT", "SH", "UC"})
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_HAS_DIGIT = re.compile(r"[0-9]")
_HAS_LETTER = re.compile(r"[A-Za-z]")
_NAME_WORD = re.compile(r"[^\W_]+")


def _raw_values(raw: DataElement | RawDataElement, vr: str, codec: str | None) -> list[str]:
    """Values decoded straight from the raw bytes (ASCII VRs, or text in a known codec)."""
    if not (isinstance(raw, RawDataElement) and isinstance(raw.value, bytes)):
        return []
    use = "latin-1" if vr in ("DA", "DT", "UI", "CS", "AE", "IS", "DS") else codec
    if use is None:
        return []
    text = raw.value.decode(use, "replace").strip(" \x00")
    parts = [text] if vr in ("LT", "ST", "UT") else text.split("\\")
    return [v.strip(" \x00") for v in parts if v.strip(" \x00")]


@dataclass
class OriginalFile:
    """Identity of one original file (its UIDs are PHI: memory only, never written)."""

    rel: str
    sop_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    patient_id: str = ""
    references: tuple[str, ...] = ()
    unreadable: bool = False
    #: What the score compares (only when scoring), collected in the harvesting parse.
    facts: tuple[ScoreFact, ...] = ()


@dataclass
class OriginalHarvest:
    """Values and identities collected from one or more original files."""

    values: dict[str, str] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)
    dates: dict[str, set[str]] = field(default_factory=dict)  # date -> original patient ids
    files: list[OriginalFile] = field(default_factory=list)
    retained: dict[int, set[str]] = field(default_factory=dict)  # see OriginalIndex.retained
    owners: dict[str, set[str]] = field(default_factory=dict)  # value -> original patients
    #: A single word of a multi-word name -> the other words of the names it is part of.
    word_parts: dict[str, set[str]] = field(default_factory=dict)
    #: Values indexed whole (a name, an ID, a date): a word here is never only a part.
    wholes: set[str] = field(default_factory=set)

    def merge(self, other: OriginalHarvest) -> None:
        """Add another harvest (from a worker) into this one."""
        for value, keyword in other.values.items():
            self.values.setdefault(value, keyword)
        for uid, keyword in other.uids.items():
            self.uids.setdefault(uid, keyword)
        for date, owners in other.dates.items():
            self.dates.setdefault(date, set()).update(owners)
        for value, who in other.owners.items():
            self.owners.setdefault(value, set()).update(who)
        for tag, kept in other.retained.items():
            self.retained.setdefault(tag, set()).update(kept)
        for word, others in other.word_parts.items():
            self.word_parts.setdefault(word, set()).update(others)
        self.wholes.update(other.wholes)
        self.files.extend(other.files)

    def index(
        self, *, key: ProjectKey | None = None, shift_range: tuple[int, int] | None = None
    ) -> OriginalIndex:
        """Freeze into the searchable :class:`OriginalIndex`.

        With the key, dates are tied to patient pseudonyms (and their offsets, given the
        profile's shift range), so a coincidental date match is told from a leak.
        """
        patient_dates: dict[str, set[str]] | None = None
        offsets: dict[str, int] | None = None
        owners: dict[str, frozenset[str]] | None = None
        if key is not None:
            owners = {
                value: frozenset(patient_pseudonym(key, pid) for pid in pids)
                for value, pids in self.owners.items()
            }
            patient_dates, offsets = {}, {}
            for day, pids in self.dates.items():
                for pid in pids:
                    pseudonym = patient_pseudonym(key, pid)
                    patient_dates.setdefault(pseudonym, set()).add(day)
                    if shift_range is not None and pseudonym not in offsets:
                        offsets[pseudonym] = date_offset_days(key, pid, shift_range=shift_range)
        return OriginalIndex(
            values=dict(self.values),
            uids=dict(self.uids),
            uid_roots=uid_roots(self.uids),
            patient_dates=None
            if patient_dates is None
            else {k: frozenset(v) for k, v in patient_dates.items()},
            offsets=offsets,
            retained={tag: frozenset(v) for tag, v in self.retained.items()},
            owners=owners,
            word_parts={
                word: frozenset(others)
                for word, others in self.word_parts.items()
                if word not in self.wholes
            },
        )


def uid_roots(uids: dict[str, str] | set[str]) -> frozenset[str]:
    """Organisation roots of original UIDs: the common prefix of UIDs sharing 5 components.

    A root needs at least 5 components, so "1.2.826.0" (a national root) never counts,
    and 2.25 and DICOM's own 1.2.840.10008 UIDs have none.
    """
    groups: dict[tuple[str, ...], list[list[str]]] = {}
    for uid in uids:
        if uid.startswith(("2.25.", _STANDARD_UID_ROOT)):
            continue
        parts = uid.split(".")
        if len(parts) < 6:
            continue
        groups.setdefault(tuple(parts[:5]), []).append(parts)
    roots: set[str] = set()
    for members in groups.values():
        if len(members) == 1:
            prefix = members[0][:-1]
        else:
            prefix = []
            for column in zip(*members, strict=False):
                if len(set(column)) != 1:
                    break
                prefix.append(column[0])
            prefix = prefix[: min(len(m) for m in members) - 1]
        if len(prefix) >= 5:
            roots.add(".".join(prefix) + ".")
    return frozenset(roots)


def _keep(value: str) -> bool:
    text = value.strip()
    if len(text) < MIN_VALUE_CHARS or text.casefold() in STOP_VALUES:
        return False
    return not (text.isdigit() and len(text) < MIN_DIGIT_CHARS)


def name_variants(value: str) -> Iterator[str]:
    """Case-folded search forms of a DICOM PN value (first component group only)."""
    first = value.split("=")[0]
    parts = [p.strip() for p in first.split("^")]
    family, given = (parts + ["", ""])[:2]
    if family and given:
        yield f"{family}^{given}".casefold()
        yield f"{family} {given}".casefold()
        yield f"{given} {family}".casefold()
    for part in parts:
        for word in part.split():
            if _keep(word):
                yield word.casefold()
    whole = first.replace("^", " ").strip()
    if _keep(whole):
        yield " ".join(whole.split()).casefold()


def name_words(value: str) -> frozenset[str]:
    """Case-folded words (letters and digits) of a DICOM PN value's first component group."""
    return frozenset(w.casefold() for w in _NAME_WORD.findall(value.split("=")[0]))


class _Collector:
    def __init__(self, rules: Rules, harvest: OriginalHarvest, patient_id: str) -> None:
        self.rules = rules
        self.harvest = harvest
        self.patient_id = patient_id
        self.references: list[str] = []
        self.codec: str | None = None
        self.declared: Declared = NO_DECLARATIONS
        #: Score facts, collected in this same walk when the score is wanted.
        self.facts: FactCollector | None = None

    def walk(self, ds: Dataset, inherited: str | None = None, path: ItemPath = ()) -> None:
        """Collect from every element; ``inherited`` is the code of a removed parent sequence."""
        outer = self.declared
        if TAG_CHARACTERISTICS in ds and "retain_safe_private" in self.rules.options:
            self.declared = outer | declared_safe_private(ds)
        try:
            self._walk(ds, inherited, path)
        finally:
            self.declared = outer

    def _walk(self, ds: Dataset, inherited: str | None, path: ItemPath) -> None:
        facts = self.facts
        for tag, raw in list(ds.items()):
            tag_int = int(tag)
            vr = vr_of(raw, tag_int)
            if vr in _BINARY_VRS or tag_int == 0x7FE00010:
                continue
            if vr == "SQ":
                code = self.rules.code_for(tag_int) if (tag_int >> 16) % 2 == 0 else None
                # Content of a sequence the profile removes or replaces goes with it
                # (e.g. SR TextValue, not in Table E.1-1, inside Content Sequence).
                passed = code if code not in (None, "K") else inherited
                items = ds[tag].value or []
                if facts is not None:
                    facts.sequence(path, tag_int, len(items))
                for index, item in enumerate(items):
                    self.walk(item, passed, (*path, (tag_int, index)))
                continue
            if facts is not None:
                facts.element(path, tag_int, vr, raw)
            if vr in RETAINED_VRS and (tag_int >> 16) % 2 == 0 and tag_int >> 16 != 0x0002:
                self._retained(ds, tag_int, raw, vr)
            if vr in _WANTED_VRS or vr in _TEXT_VRS or keyword_of(tag_int) in IDENTIFYING_KEYWORDS:
                values = _raw_values(raw, vr, self.codec) or _values(ds[tag])
                self._element(
                    tag_int,
                    vr,
                    values,
                    safe=_is_safe_private(ds, tag_int, self.rules, self.declared),
                    inherited=inherited,
                )

    def _value(self, value: str, keyword: str, *, others: frozenset[str] | None = None) -> None:
        """Index a value; ``others``: it is one word of a name with these other words."""
        self.harvest.values.setdefault(value, keyword)
        self.harvest.owners.setdefault(value, set()).add(self.patient_id)
        if others is None:
            self.harvest.wholes.add(value)
        else:
            self.harvest.word_parts.setdefault(value, set()).update(others)

    def _name(self, value: str, keyword: str) -> None:
        words = name_words(value)
        for variant in name_variants(value):
            single = not any(c in variant for c in " ^")
            own = name_words(variant)
            others = words - own if single and words - own else None
            self._value(variant, keyword, others=others)

    def _retained(
        self, ds: Dataset, tag_int: int, raw: DataElement | RawDataElement, vr: str
    ) -> None:
        """Index the value of an attribute the profile keeps (a match on it is no leak)."""
        if self.rules.code_for(tag_int) not in (None, "K"):
            return
        for value in _raw_values(raw, vr, self.codec) or _values(ds[tag_int]):
            folded = " ".join(value.split()).casefold()
            if folded:
                self.harvest.retained.setdefault(tag_int, set()).add(folded)

    def _element(
        self, tag: int, vr: str, values: list[str], *, safe: bool, inherited: str | None
    ) -> None:
        if not values:
            return
        keyword = keyword_of(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
        code = self.rules.code_for(tag) if (tag >> 16) % 2 == 0 else None
        if vr == "UI":
            if tag == 0x00081155:  # Referenced SOP Instance UID, for reference integrity
                self.references.extend(values)
            if "retain_uids" not in self.rules.options and not is_registry_uid(keyword):
                for uid in values:
                    if not uid.startswith(_STANDARD_UID_ROOT):
                        self.harvest.uids.setdefault(uid, keyword)
            return
        if code == "K":
            return
        if vr == "PN":
            for value in values:
                self._name(value, keyword)
        elif vr in ("DA", "DT"):
            if "retain_long_full_dates" in self.rules.options:
                return
            for value in values:
                if _DATE.match(value):
                    date = value[:8]
                    self.harvest.values.setdefault(date, keyword)
                    self.harvest.dates.setdefault(date, set()).add(self.patient_id)
        elif keyword in IDENTIFYING_KEYWORDS:
            for value in values:
                if _keep(value):
                    self._value(" ".join(value.split()).casefold(), keyword)
        if vr in _TEXT_VRS or vr == "PN":
            if code is None and (tag >> 16) % 2 == 0:
                code = inherited
            self._tokens(tag, code, values, keyword, safe=safe)

    def _tokens(
        self, tag: int, code: str | None, values: list[str], keyword: str, *, safe: bool
    ) -> None:
        """Index the distinctive tokens of text the profile removes (see the module notes)."""
        private = (tag >> 16) % 2 == 1
        if private and safe:
            return  # kept under Retain Safe Private: its values may legitimately survive
        if code is None and not private:
            return  # not in Table E.1-1 nor inside a removed sequence: kept by every profile
        min_chars = MIN_TOKEN_CHARS_CLEANED if code == "C" else MIN_TOKEN_CHARS
        for value in values:
            for token in _TOKEN.findall(value):
                if (
                    len(token) >= min_chars
                    and _HAS_DIGIT.search(token)
                    and _HAS_LETTER.search(token)
                ):
                    self._value(token.casefold(), keyword)


def _is_safe_private(ds: Dataset, tag: int, rules: Rules, declared: Declared) -> bool:
    """Whether a private element is kept: named by the profile's ``keep_private``, or safe
    (listed or declared) under Retain Safe Private."""
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 == 0 or element < 0x1000:
        return False
    creator_tag = (group << 16) | (element >> 8)
    creator = str(ds[creator_tag].value).strip() if creator_tag in ds else ""
    if rules.keeps_private(creator, group, element & 0xFF):
        return True
    if "retain_safe_private" not in rules.options:
        return False
    return element_safe(declared, creator, group, element & 0xFF)


def _values(elem: DataElement) -> list[str]:
    value = elem.value
    if value is None or isinstance(value, bytes):
        return []
    items = (
        list(value) if type(value).__name__ == "MultiValue" or isinstance(value, list) else [value]
    )
    return [
        str(v).strip().rstrip("\x00").strip() for v in items if v is not None and str(v).strip()
    ]


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _patient_identity(ds: Dataset) -> str:
    """Who the file belongs to, for structure and date checks.

    An empty Patient ID does not make all such files one patient: fall back to Patient
    Name + Birth Date, then to the Study Instance UID (each study its own patient), the
    same convention the scrubber documents for keying its pseudonyms.
    """
    patient_id = _text(ds, "PatientID")
    if patient_id:
        return patient_id
    name, birth = _text(ds, "PatientName"), _text(ds, "PatientBirthDate")
    if name or birth:
        return f"name+birth:{name}|{birth}"
    return f"study:{_text(ds, 'StudyInstanceUID')}"


def harvest_file(
    path: Path, rel: str, *, rules: Rules, score_facts: bool = False
) -> OriginalHarvest:
    """Collect the PHI values and identity of one original file (never raises on bad data).

    With ``score_facts`` the same parse also collects what the MIDI-B-style score compares
    (:func:`deidkit.verify.score.original_facts`), so no original is read twice.
    """
    harvest = OriginalHarvest()
    record = OriginalFile(rel=rel)
    harvest.files.append(record)
    try:
        data = path.read_bytes()
        if data[128:132] != b"DICM" and path.suffix.lower() not in (".dcm", ".ima", ""):
            record.unreadable = True
            return harvest
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        patient_id = _patient_identity(ds)
        collector = _Collector(rules, harvest, patient_id)
        collector.codec = _codec_for(ds)
        if score_facts:
            collector.facts = FactCollector(rules)
        if getattr(ds, "file_meta", None) is not None:
            collector.walk(ds.file_meta)
        collector.walk(ds)
        record.sop_uid = _text(ds, "SOPInstanceUID")
        record.study_uid = _text(ds, "StudyInstanceUID")
        record.series_uid = _text(ds, "SeriesInstanceUID")
        record.patient_id = patient_id
        record.references = tuple(collector.references)
        if collector.facts is not None:
            record.facts = tuple(collector.facts.facts)
        if not record.sop_uid:
            record.unreadable = True
    except Exception:  # noqa: BLE001 - a broken original is counted, the batch goes on
        record.unreadable = True
    return harvest
