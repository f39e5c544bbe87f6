"""Per-file DICOM checks of the residual-PHI scanner (other file kinds: verify_files).

This module re-reads a released file with its own code path. It shares the PS3.15 tables
(:mod:`deidkit.rules.standard`) with the scrubber but none of its action code, so a bug in the
scrubber cannot hide itself here. Every element at every depth is visited, file meta and
private blocks included, and the raw bytes of the file are searched too.

Findings name a file, a tag path, a check and a severity, never a value.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from deidkit.rules.standard import safe_private_table
from deidkit.verify.names import after_cue, ordinary_word, vendor_word
from deidkit.verify.patterns import (
    PATTERN_DATE,
    RAW_PATTERNS,
    UID_TOKEN,
    ValueSearch,
    is_standard_vocabulary,
    scan_text,
)
from deidkit.verify.private import (
    NO_DECLARATIONS,
    TAG_CHARACTERISTICS,
    Declared,
    block_declared,
    declared_safe_private,
    element_safe,
)
from deidkit.verify.records import (
    CHECK_BURNED_IN,
    CHECK_DATE,
    CHECK_FREE_TEXT,
    CHECK_ORIGINAL_UID,
    CHECK_ORIGINAL_VALUE,
    CHECK_PERSON_NAME,
    CHECK_PRIVATE,
    CHECK_PROFILE_ACTION,
    CHECK_PROVENANCE,
    CHECK_RAW,
    CHECK_UID,
    CHECK_UID_ROOT,
    CHECK_UNREADABLE,
    IDENTIFYING_KEYWORDS,
    FileReport,
    Finding,
    OriginalIndex,
    Rules,
    element_text,
    is_registry_uid,
    keyword_of,
    vr_of,
)
from deidkit.verify.score_facts import FactCollector, ItemPath

_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"})
_TEXT_VRS = frozenset({"LO", "LT", "ST", "UT", "SH", "UC"})
_NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "AT", "UV", "SV"})
# ASCII-only VRs (PS3.5 6.2): decoded straight from the raw bytes, no character set needed.
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})
_DATE_VRS = frozenset({"DA", "DT", "TM"})
# Coded or short text that profiles keep: where the standard's vocabulary is the content.
_KEPT_CODED_VRS = frozenset({"AE", "CS", "SH", "LO"})
_STANDARD_UID_ROOT = "1.2.840.10008."
_DEID_UID_ROOT = "2.25."
_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
_CODE_PIXEL_CLEANED = "113101"
_REFERENCED_SOP_INSTANCE_UID = 0x00081155

# What the scrubber writes instead of identifiers (see deidkit.core.pseudonym): accepted anywhere.
_PSEUDONYM = re.compile(
    r"^(?:P[A-Z2-7]{16}|S[A-Z2-7]{15}|A[A-Z2-7]{15}|SITE[A-Z2-7]{8}|X[A-Z2-7]{16})$"
)
# Obvious dummies (PS3.15 "D": a non-zero-length value consistent with the VR); the
# engine's own (deidkit.scrub.actions: ANONYMIZED, 19000101, 000000, 0) are among them.
_DUMMY_TEXT = frozenset(
    {
        "ANONYMOUS",
        "ANONYMIZED",
        "ANON",
        "REMOVED",
        "DEIDENTIFIED",
        "UNKNOWN",
        "NONE",
        "DUMMY",
        "0",
        "X",
        "XXXX",
        "N/A",
        "NA",
        "SITE",
        "INSTITUTION",
        "DEVICE",
        "STATION",
        "OPERATOR",
        "PHYSICIAN",
    }
)
_DUMMY_DATES = frozenset({"19000101", "00010101", "19700101", "20000101"})
_DUMMY_TIMES = frozenset({"000000", "000000.00", "000000.000000", "0000", "00"})


@dataclass
class _Counts:
    """Element-level match counts, compared with raw-byte counts afterwards."""

    values: dict[str, int] = field(default_factory=dict)
    patterns: dict[str, int] = field(default_factory=dict)
    uids: int = 0

    def add(self, target: dict[str, int], more: Mapping[str, int]) -> None:
        for key, n in more.items():
            target[key] = target.get(key, 0) + n


class _Scanner:
    """Walks one dataset and records findings; one instance per file."""

    def __init__(self, rel: str, rules: Rules, originals: OriginalIndex | None) -> None:
        self.rel = rel
        self.rules = rules
        self.originals = originals
        self.search = _value_search(originals)
        self.findings: list[Finding] = []
        self.counts = _Counts()
        self.references: list[str] = []
        self.patient_id = ""
        self.count_elements = True
        self.codec: str | None = None
        #: Private elements the instance declares safe in (0008,0300) (verify_private).
        self.declared: Declared = NO_DECLARATIONS
        #: What the MIDI-B-style score needs of this file, collected in the same walk.
        self.facts: FactCollector | None = None

    def add(self, path: str, keyword: str, check: str, severity: str, **extra: str) -> None:
        self.findings.append(Finding(self.rel, path, check, severity, keyword, **extra))

    # -- traversal ------------------------------------------------------------------------

    def walk(self, ds: Dataset, path: str = "", kw_path: str = "", items: ItemPath = ()) -> None:
        outer = self.declared
        if TAG_CHARACTERISTICS in ds and "retain_safe_private" in self.rules.options:
            # Declarations of this level add to those above, for this subtree only.
            self.declared = outer | declared_safe_private(ds)
        try:
            self._walk(ds, path, kw_path, items)
        finally:
            self.declared = outer

    def _walk(self, ds: Dataset, path: str, kw_path: str, items: ItemPath) -> None:
        facts = self.facts
        for tag, raw in list(ds.items()):
            tag_int = int(tag)
            tag_str = f"({tag_int >> 16:04X},{tag_int & 0xFFFF:04X})"
            here = f"{path}>{tag_str}" if path else tag_str
            kw = keyword_of(tag_int) or tag_str
            kw_here = f"{kw_path}>{kw}" if kw_path else kw
            vr = vr_of(raw, tag_int)
            if (tag_int >> 16) % 2 == 1:
                self._check_private(ds, tag_int, here, kw_here)
            if vr == "SQ":
                self._check_sequence(ds, tag_int, here, kw_here, items)
                continue
            if facts is not None:
                facts.element(items, tag_int, vr, raw)
            in_bytes: dict[str, int] = {}
            if not (path == "" and tag_int in _PIXEL_TAGS):  # as in _raw_totals
                in_bytes = self._count_raw(raw)
            if vr in _BINARY_VRS or tag_int in _PIXEL_TAGS:
                # Samples, lookup tables and other numbers meet a short value's bytes by
                # chance; only binary content that is text (an UN element of a private
                # block, say) is searched as text.
                if in_bytes and self.search is not None:
                    found = _binary_text_matches(raw, vr, kw, self.search)
                    self._bytes_only(
                        {k: n for k, n in in_bytes.items() if k in found}, [], here, kw_here
                    )
                continue
            if vr in _NUMERIC_VRS:
                # Binary numbers hold no text; they only matter where the profile removes them.
                code = self.rules.code_for(tag_int) if (tag_int >> 16) % 2 == 0 else None
                if code in (None, "K", "C", "U"):
                    continue
            values = _values_of(ds, tag, raw, vr, self.codec)
            self._check_element(tag_int, vr, values, here, kw_here)
            if vr != "UI":
                self._bytes_only(in_bytes, values, here, kw_here)

    def _bytes_only(self, in_bytes: dict[str, int], values: list[str], here: str, kw: str) -> None:
        """Original values in an element's bytes that its decoded text does not show.

        The text is decoded with the declared character set; a value written in another
        encoding (UTF-8 bytes under ISO_IR 100, say) or inside a binary element is only
        visible in the bytes, and is reported here, at its element.
        """
        if not in_bytes or self.search is None:
            return
        seen = {source for value in values for source in self.search.find_in_text(value)}
        for source in sorted(set(in_bytes) - seen):
            self.add(
                here,
                kw,
                CHECK_ORIGINAL_VALUE,
                "error",
                matched_attribute=source,
                message="original value in the element's bytes",
            )

    def _check_sequence(self, ds: Dataset, tag: int, here: str, kw_here: str, at: ItemPath) -> None:
        items = ds[tag].value or []
        code = self.rules.code_for(tag) if (tag >> 16) % 2 == 0 else None
        if items and code == "X":
            self.add(
                here, kw_here, CHECK_PROFILE_ACTION, "error", message="profile requires removal"
            )
        if self.facts is not None:
            self.facts.sequence(at, tag, len(items))
        for index, item in enumerate(items):
            self.walk(item, f"{here}[{index}]", f"{kw_here}[{index}]", (*at, (tag, index)))

    def _count_raw(self, raw: DataElement | RawDataElement) -> dict[str, int]:
        """Count raw-byte matches of one element; returns its original-value counts."""
        if not self.count_elements:
            return {}
        data = raw.value if isinstance(raw, RawDataElement) else None
        if not isinstance(data, bytes) or not data:
            return {}
        found: dict[str, int] = {}
        if self.search is not None:
            found = self.search.count_in_bytes(data)
            self.counts.add(self.counts.values, found)
        for name, pattern in RAW_PATTERNS.items():
            n = len(pattern.findall(data))
            if n:
                self.counts.patterns[name] = self.counts.patterns.get(name, 0) + n
        if self.originals is not None and self.originals.uids:
            self.counts.uids += sum(
                1 for t in UID_TOKEN.findall(data) if t.decode("ascii") in self.originals.uids
            )
        return found

    # -- element checks -------------------------------------------------------------------

    def _check_private(self, ds: Dataset, tag: int, here: str, kw_here: str) -> None:
        group, element = tag >> 16, tag & 0xFFFF
        allowed = self._kept_by_profile(ds, group, element)
        if not allowed and "retain_safe_private" in self.rules.options and element >= 0x10:
            if element <= 0xFF:
                creator = element_text(ds.get(tag))
                allowed = any(
                    c == creator and g == group for c, g, _ in safe_private_table()
                ) or block_declared(self.declared, group, creator)
            elif element >= 0x1000:
                creator = element_text(ds.get((group << 16) | (element >> 8)))
                allowed = element_safe(self.declared, creator, group, element & 0xFF)
        if not allowed:
            self.add(
                here,
                kw_here,
                CHECK_PRIVATE,
                "error",
                message="private element not on the safe list",
            )

    def _kept_by_profile(self, ds: Dataset, group: int, element: int) -> bool:
        """A private creator or element the profile's ``keep_private`` names."""
        if not self.rules.keep_private or element < 0x10:
            return False
        if element <= 0xFF:
            return self.rules.keeps_private(element_text(ds.get((group << 16) | element)), group)
        if element < 0x1000:
            return False
        creator = element_text(ds.get((group << 16) | (element >> 8)))
        return self.rules.keeps_private(creator, group, element & 0xFF)

    def _check_element(self, tag: int, vr: str, values: list[str], here: str, kw: str) -> None:
        present = [v for v in values if v.strip(" \x00^")]
        if not present:
            return
        if tag == _REFERENCED_SOP_INSTANCE_UID:
            self.references.extend(v.strip().rstrip("\x00") for v in present)
        std = (tag >> 16) % 2 == 0 and (tag >> 16) != 0x0002
        code = self.rules.code_for(tag) if std else None
        if code is not None:
            self._check_code(code, vr, present, here, kw)
        if vr == "PN":
            if not all(is_pseudonym_or_dummy(v) for v in present):
                self.add(
                    here,
                    kw,
                    CHECK_PERSON_NAME,
                    "error",
                    message="person name not empty or pseudonym",
                )
        elif vr in _DATE_VRS:
            self._check_date(code, vr, present, here, kw)
        elif vr == "UI":
            self._check_uid(tag, code, present, here, kw)
        elif vr in _TEXT_VRS:
            # A top-level attribute outside Table E.1-1 is kept by every profile (e.g.
            # Software Versions with a build date): a date shape there is worth a warning,
            # not a failed release.
            kept = std and code is None and "[" not in here
            for value in present:
                for hit in scan_text(value, dates_allowed=self.rules.dates_allowed):
                    severity = "warn" if kept and hit.pattern == PATTERN_DATE else hit.severity
                    self.add(here, kw, CHECK_FREE_TEXT, severity, pattern=hit.pattern)
        if self.search is not None and vr != "UI":
            self._check_original_values(vr, present, here, kw, tag=tag, code=code)

    def _check_code(self, code: str, vr: str, present: list[str], here: str, kw: str) -> None:
        if code == "X":
            self.add(here, kw, CHECK_PROFILE_ACTION, "error", message="profile requires removal")
        elif code in ("Z", "X/Z") and vr not in ("UI",):
            if not all(is_pseudonym_or_dummy(v) for v in present):
                self.add(
                    here,
                    kw,
                    CHECK_PROFILE_ACTION,
                    "error",
                    message="profile requires empty or dummy",
                )

    def _check_date(
        self, code: str | None, vr: str, present: list[str], here: str, kw: str
    ) -> None:
        # J:<days> (a recipe's date jitter) shifts dates like C does.
        if self.rules.dates_allowed or code in ("K", "C") or (code or "").startswith("J:"):
            return
        if all(_is_dummy_date(v) for v in present):
            return
        severity = "warn" if vr == "TM" else "error"
        self.add(here, kw, CHECK_DATE, severity, message="date or time not allowed by the profile")

    def _check_uid(
        self, tag: int, code: str | None, present: list[str], here: str, kw: str
    ) -> None:
        if is_registry_uid(keyword_of(tag)):
            return  # a class or a coding scheme, kept by every profile: never an instance's
        for value in present:
            uid = value.strip().rstrip("\x00")
            if self.originals is not None:
                source = self.originals.uids.get(uid)
                if source is not None:
                    self.add(here, kw, CHECK_ORIGINAL_UID, "error", matched_attribute=source)
                    continue
                if any(uid.startswith(root) for root in self.originals.uid_roots):
                    self.add(
                        here,
                        kw,
                        CHECK_UID_ROOT,
                        "error",
                        message="UID shares a root with the originals",
                    )
                    continue
            if uid.startswith((_STANDARD_UID_ROOT, _DEID_UID_ROOT)):
                continue
            if "retain_uids" in self.rules.options or code == "K":
                continue
            if code in ("U", "X/Z/U*", "D", "Z", "X", "X/Z", "X/D", "Z/D", "X/Z/D"):
                self.add(here, kw, CHECK_UID, "error", message="UID is not a de-identified UID")
            elif not keyword_of(tag).endswith("ClassUID") and tag >> 16 != 0x0002:
                self.add(here, kw, CHECK_UID, "warn", message="UID outside 2.25 kept")

    def _check_original_values(
        self, vr: str, present: list[str], here: str, kw: str, *, tag: int, code: str | None
    ) -> None:
        assert self.search is not None and self.originals is not None
        seen: set[str] = set()
        common: set[str] = set()
        kept = self.originals.retained.get(tag, frozenset()) if code in (None, "K") else None
        descriptor = _is_descriptor(tag, vr, code)
        for value in present:
            # A value an original holds in this same attribute, which the profile keeps
            # (e.g. Manufacturer "TOSHIBA_MEC" when an Institution Name was "TOSHIBA"),
            # is the standard's retained content, not a leak: a warning, not an error
            # (unless the value is the patient's own name, ID, birth data or address).
            retained = kept is not None and " ".join(value.split()).casefold() in kept
            folded = value.casefold()
            for source, matched, start in self.search.find_spans(folded):
                if source in seen:
                    continue
                owners = (self.originals.owners or {}).get(matched)
                if self._standard_word(tag, vr, code, matched, owners, retained=retained):
                    continue
                if owners is not None and self.patient_id not in owners:
                    # Held by other patients' originals only; another value of this same
                    # attribute may still be this patient's own, so keep looking.
                    severity = "warn"
                elif descriptor and self._common_word(source, matched, folded, start):
                    # Another match of this source in the same element may still be the
                    # real leak: keep looking, warn once.
                    if source not in common:
                        common.add(source)
                        self.add(
                            here,
                            kw,
                            CHECK_ORIGINAL_VALUE,
                            "warn",
                            matched_attribute=source,
                            message=COMMON_WORD_MESSAGE,
                        )
                    continue
                else:
                    seen.add(source)
                    # The patient's own identity never counts as retained content.
                    kept_here = retained and source not in PATIENT_IDENTITY_KEYWORDS
                    severity = "warn" if kept_here else "error"
                if vr in ("DA", "DT") and _is_date_value(value):
                    severity = self._date_match_severity(value)
                    if not severity:
                        continue
                self.add(here, kw, CHECK_ORIGINAL_VALUE, severity, matched_attribute=source)

    def _common_word(self, source: str, matched: str, folded: str, start: int) -> bool:
        """Whether a match in a kept or cleaned descriptor is an ordinary word, not the value.

        Two shapes (issue 13): one word of a multi-word name that is an ordinary word
        (vendor vocabulary, philter-lite's ordinary words, the standard's vocabulary) with
        none of the name's other words in the same text ("soft" of "Dr. soft haze" in
        "Soft Tissue"); and a whole value, not a person's, that is one vocabulary word
        (Branch of Service "ABDOMEN" in "abdomen liver"). A word right after a cue
        ("Dr soft") is a name whatever the lists say.
        """
        assert self.originals is not None
        if after_cue(folded[:start]):
            return False
        others = self.originals.word_parts.get(matched)
        if others is None:
            return _vocabulary_value(source, matched)
        if not (ordinary_word(matched) or is_standard_vocabulary(matched)):
            return False  # a surname like "Merriweather": its own part is the leak
        words = set(_WORD.findall(folded))
        return not any(w in words for w in others if len(w) > 1 and w not in _TITLES)

    def _standard_word(
        self,
        tag: int,
        vr: str,
        code: str | None,
        matched: str,
        owners: frozenset[str] | None,
        *,
        retained: bool,
    ) -> bool:
        """Whether a match is the standard's own word, not a leak ("Perfusion" in Image Type).

        A name part that is also a word of the standard's vocabulary ("Perfusion",
        "Observer", "Green") is no finding in a standard attribute the profile keeps as coded
        or short text (Image Type, Code Meaning, Manufacturer). In free text, private
        elements and anything the profile acts on, it stays a finding when it is this
        patient's own value (or whose it is is unknown): the patient's surname in Image
        Comments is a leak even if it is a word of the standard. Where the kept value is
        one the originals held in the same attribute ("Recording Observer's Name" against
        a placeholder "Observer^Recording"), every word being the standard's is enough.
        """
        kept = (tag >> 16) % 2 == 0 and code in (None, "K") and vr in _KEPT_CODED_VRS
        if kept and retained and is_standard_vocabulary(matched, word_by_word=True):
            return True
        if not is_standard_vocabulary(matched):
            return False
        return kept or (owners is not None and self.patient_id not in owners)

    def _date_match_severity(self, value: str) -> str:
        """ "error", "warn" or "" (no finding) for an original date found in a date element."""
        index = self.originals
        if index is None or index.patient_dates is None:
            return "warn"  # cannot tell a leak from a shifted date that collides
        dates = index.patient_dates.get(self.patient_id, frozenset())
        day = value.strip()[:8]
        if day not in dates:
            return ""  # another patient's real date, reached by this patient's shift
        offset = (index.offsets or {}).get(self.patient_id)
        if offset is not None and _shift_day(day, -offset) in dates:
            return ""  # explained as this patient's own shifted date
        return "error"


COMMON_WORD_MESSAGE = "common word of an original value"
_WORD = re.compile(r"[^\W_]+")
# A title is no distinctive part of a name; after one, a word is a name (names.after_cue).
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "miss", "prof", "doctor"})


def _is_descriptor(tag: int, vr: str, code: str | None) -> bool:
    """A standard text attribute the profile keeps or cleans (descriptions, comments, SR
    text): ordinary words legitimately stay there, unlike in an attribute it replaces or an
    identifying one it keeps by option (Station Name, Institution Name)."""
    group = tag >> 16
    if group % 2 or group == 0x0002 or vr not in _TEXT_VRS or code not in (None, "K", "C"):
        return False
    return keyword_of(tag) not in IDENTIFYING_KEYWORDS


def _vocabulary_value(source: str, matched: str) -> bool:
    """A whole original value that is one vendor or standard vocabulary word, from an
    attribute that names no person and is not the patient's identity."""
    if " " in matched or source in PATIENT_IDENTITY_KEYWORDS:
        return False
    tag = tag_for_keyword(source)
    if tag is None or dictionary_VR(tag) == "PN":
        return False
    return vendor_word(matched) or is_standard_vocabulary(matched)


def _shift_day(day: str, days: int) -> str:
    try:
        moved = date(int(day[:4]), int(day[4:6]), int(day[6:8])) + timedelta(days=days)
    except ValueError:
        return ""
    return f"{moved.year:04d}{moved.month:02d}{moved.day:02d}"


#: Sources whose values stay errors wherever they are found in this patient's files.
PATIENT_IDENTITY_KEYWORDS = frozenset(
    {
        "PatientName",
        "PatientID",
        "OtherPatientIDs",
        "OtherPatientNames",
        "PatientBirthName",
        "PatientMotherBirthName",
        "PatientBirthDate",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "MedicalRecordLocator",
    }
)

_SEARCH_CACHE: dict[int, tuple[OriginalIndex, ValueSearch]] = {}


def _value_search(originals: OriginalIndex | None) -> ValueSearch | None:
    """Compile the originals' value search once per process (it is reused for every file)."""
    if originals is None:
        return None
    cached = _SEARCH_CACHE.get(id(originals))
    if cached is not None and cached[0] is originals:
        return cached[1]
    search = ValueSearch.from_values(originals.values)
    _SEARCH_CACHE.clear()
    _SEARCH_CACHE[id(originals)] = (originals, search)
    return search


# --- small helpers ------------------------------------------------------------------------


_CODECS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_SINGLE_VALUED_TEXT = frozenset({"LT", "ST", "UT"})


def _codec_for(ds: Dataset) -> str | None:
    """A Python codec for the data set's text, for the common character sets; else None."""
    raw = ds.get_item(0x00080005) if 0x00080005 in ds else None
    value = raw.value if raw is not None else b""
    if isinstance(value, bytes):
        text = value.decode("latin-1").strip(" \x00")
    else:
        text = str(value).strip()
    return _CODECS.get(text)


def _values_of(
    ds: Dataset, tag: Any, raw: DataElement | RawDataElement, vr: str, codec: str | None
) -> list[str]:
    """String forms of an element's values, decoded from the raw bytes where that is safe.

    ASCII VRs always, text VRs when the character set is a single common one; anything else
    goes through pydicom's (slower, complete) conversion.
    """
    if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes):
        use = "latin-1" if vr in _ASCII_VRS else codec if vr in _TEXT_VRS or vr == "PN" else None
        if use is not None:
            text = raw.value.decode(use, "replace").strip(" \x00")
            if not text:
                return []
            if vr in _SINGLE_VALUED_TEXT:
                return [text]
            return [v.strip(" \x00") for v in text.split("\\")]
    return _string_values(ds[tag])


def _string_values(elem: DataElement) -> list[str]:
    value = elem.value
    if value is None:
        return []
    if isinstance(value, bytes):
        return [value.decode("latin-1")]
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value if v is not None]
    return [str(value)]


def is_pseudonym_or_dummy(value: str) -> bool:
    """Whether a value is a deidkit pseudonym or an obvious dummy (never PHI)."""
    text = value.replace("^", " ").strip(" \x00")
    return bool(_PSEUDONYM.match(text)) or text.upper() in _DUMMY_TEXT


_PRINTABLE = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\r\n\x1b") | frozenset(range(0xA0, 0x100))
# Bytes that end a string inside mixed binary content (padding, separators, punctuation).
_STRING_ENDS = frozenset(b"\x00 \t\r\n^\\/=:;,.'\"()[]<>|")
# Arrays of numbers: words, floats, long words. OB and UN may carry text (private headers).
_NUMBER_VRS = frozenset({"OW", "OF", "OD", "OL", "OV"})


def _binary_text_matches(
    raw: DataElement | RawDataElement, vr: str, keyword: str, search: ValueSearch
) -> set[str]:
    """Source keywords of original values that a binary element holds *as text*.

    Lookup tables, pixel data and arrays of numbers are never text; in OB or UN content a
    value counts when the element reads as text, or when the value stands as a string of
    its own (between padding, separators or punctuation, as in a CSA header) rather than
    as a chance run of bytes inside numbers.
    """
    data = raw.value
    if (
        not isinstance(data, bytes)
        or vr in _NUMBER_VRS
        or keyword == "LUTData"
        or keyword.endswith("LookupTableData")
        or "PixelData" in keyword
    ):
        return set()
    body = data.rstrip(b"\x00 ")
    if sum(1 for b in body if b in _PRINTABLE) >= 0.95 * len(body):
        return set(search.count_in_bytes(data))
    return search.labels_as_strings(data, _STRING_ENDS)


def _is_date_value(value: str) -> bool:
    return bool(re.fullmatch(r"\d{8}(?:\d{2,6}(?:\.\d{1,6})?)?(?:[+-]\d{4})?", value.strip()))


def _is_dummy_date(value: str) -> bool:
    text = value.strip(" \x00")
    return text[:8] in _DUMMY_DATES or text in _DUMMY_TIMES


def _method_codes(ds: Dataset) -> set[str]:
    codes: set[str] = set()
    for item in ds.get("DeidentificationMethodCodeSequence") or []:
        code = element_text(item.get("CodeValue"))
        if code:
            codes.add(code)
    return codes


def _pixel_span(ds: Dataset, size: int) -> tuple[int, int] | None:
    """Byte range of the top-level pixel data in the file, to keep it out of pattern scans."""
    tags = sorted(int(t) for t in ds.keys())
    for i, tag in enumerate(tags):
        if tag not in _PIXEL_TAGS:
            continue
        raw = ds.get_item(tag)
        start = getattr(raw, "value_tell", None)
        length = getattr(raw, "length", None)
        if start is None:
            return None
        if length is not None and length != 0xFFFFFFFF:
            return start, start + length
        following = [getattr(ds.get_item(t), "value_tell", None) for t in tags[i + 1 :]]
        ends = [t - 12 for t in following if t is not None]
        return start, (min(ends) if ends else size)
    return None


# --- DICOM ---------------------------------------------------------------------------------


def check_dicom_bytes(
    rel: str,
    data: bytes,
    *,
    rules: Rules,
    originals: OriginalIndex | None,
    keep_dataset: bool = False,
    score_facts: bool = False,
) -> FileReport:
    """Check one DICOM file given as bytes (the release file is never modified).

    Returns a :class:`FileReport`; an unparsable file is reported, not raised. With
    ``score_facts`` the report also carries what the MIDI-B-style score compares
    (:class:`deidkit.verify.score.FactCollector`), collected in the same walk.
    """
    report = FileReport(rel=rel, kind="dicom")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=data[128:132] != b"DICM")
        if not len(ds):
            raise InvalidDicomError("no data set after the file meta")
    except (InvalidDicomError, EOFError, ValueError, OSError, TypeError, KeyError):
        report.unreadable = True
        report.findings.append(
            Finding(rel, "-", CHECK_UNREADABLE, "error", message="not readable as DICOM")
        )
        return report
    scanner = _Scanner(rel, rules, originals)
    totals = _raw_totals(scanner, data, _safe_pixel_span(ds, len(data)))
    # Element-level counting is only needed to explain raw hits; most files have none.
    scanner.count_elements = bool(totals.patterns or totals.values or totals.uids)
    try:
        scanner.patient_id = element_text(ds.get("PatientID"))
        scanner.codec = _codec_for(ds)
        if score_facts:
            scanner.facts = FactCollector(rules)
        if getattr(ds, "file_meta", None) is not None:
            scanner.walk(ds.file_meta)
        scanner.walk(ds)
        _check_top_level(scanner, ds)
        report.references = tuple(scanner.references)
    except Exception as exc:  # noqa: BLE001 - a broken file must not stop the batch
        report.unreadable = True
        scanner.add(
            "-",
            "",
            CHECK_UNREADABLE,
            "error",
            message=f"could not be parsed ({type(exc).__name__})",
        )
    _report_raw(scanner, totals)
    report.findings = scanner.findings
    report.modality = element_text(ds.get("Modality")) or "?"
    report.sop_uid = element_text(ds.get("SOPInstanceUID"))
    report.study_uid = element_text(ds.get("StudyInstanceUID"))
    report.series_uid = element_text(ds.get("SeriesInstanceUID"))
    report.patient_id = scanner.patient_id
    if keep_dataset:
        report.dataset = ds
    if scanner.facts is not None and not report.unreadable:
        report.score_facts = tuple(scanner.facts.facts)
    return report


def _safe_pixel_span(ds: Dataset, size: int) -> tuple[int, int] | None:
    try:
        return _pixel_span(ds, size)
    except Exception:  # noqa: BLE001 - then scan everything
        return None


def _check_top_level(scanner: _Scanner, ds: Dataset) -> None:
    removed = element_text(ds.get("PatientIdentityRemoved")).upper()
    if removed != "YES":
        scanner.add(
            "(0012,0062)",
            "PatientIdentityRemoved",
            CHECK_PROVENANCE,
            "error",
            message="Patient Identity Removed is not YES",
        )
    codes = _method_codes(ds)
    if not codes:
        scanner.add(
            "(0012,0064)",
            "DeidentificationMethodCodeSequence",
            CHECK_PROVENANCE,
            "error",
            message="no de-identification method codes",
        )
    else:
        expected = scanner.rules.expected_method_codes
        # Pixel and visual-feature cleaning codes depend on the data, not the profile.
        extra = codes - expected - {_CODE_PIXEL_CLEANED, "113102"}
        if expected - codes or extra:
            scanner.add(
                "(0012,0064)",
                "DeidentificationMethodCodeSequence",
                CHECK_PROVENANCE,
                "warn",
                message="method codes do not match the profile's options",
            )
    if (
        element_text(ds.get("BurnedInAnnotation")).upper() == "YES"
        and _CODE_PIXEL_CLEANED not in codes
    ):
        scanner.add(
            "(0028,0301)",
            "BurnedInAnnotation",
            CHECK_BURNED_IN,
            "error",
            message="burned-in annotation without recorded pixel cleaning",
        )


def _raw_totals(scanner: _Scanner, data: bytes, pixels: tuple[int, int] | None) -> _Counts:
    """Matches in the file's bytes outside the top-level pixel data (preamble included).

    Pixel data is left out: it is image samples, not text, and scanning it costs most of
    the time (burned-in text is a pixel question, see the burned-in check).
    """
    totals = _Counts()
    outside = data if pixels is None else data[: pixels[0]] + data[pixels[1] :]
    for name, pattern in RAW_PATTERNS.items():
        n = len(pattern.findall(outside))
        if n:
            totals.patterns[name] = n
    if scanner.search is not None:
        totals.values = scanner.search.count_in_bytes(outside)
    if scanner.originals is not None and scanner.originals.uids:
        uids = scanner.originals.uids
        totals.uids = sum(1 for t in UID_TOKEN.findall(outside) if t.decode("ascii") in uids)
    return totals


def _report_raw(scanner: _Scanner, totals: _Counts) -> None:
    """Flag matches in bytes that no element accounts for (preamble, padding, damage)."""
    for name, n in totals.patterns.items():
        if n > scanner.counts.patterns.get(name, 0):
            scanner.add(
                "-", "", CHECK_RAW, "error", pattern=name, message="pattern outside any element"
            )
    for source, n in totals.values.items():
        if n > scanner.counts.values.get(source, 0):
            scanner.add(
                "-",
                "",
                CHECK_RAW,
                "error",
                matched_attribute=source,
                message="original value in raw bytes",
            )
    if totals.uids > scanner.counts.uids:
        scanner.add(
            "-",
            "",
            CHECK_RAW,
            "error",
            matched_attribute="UID",
            message="original UID in raw bytes",
        )


def _check_raw_bytes(scanner: _Scanner, data: bytes, pixels: tuple[int, int] | None) -> None:
    """Raw-byte check of a file whose elements were not walked (all matches count)."""
    _report_raw(scanner, _raw_totals(scanner, data, pixels))
