"""Text patterns for the residual-PHI scanner, and a fast multi-value search.

Two tools live here, both independent of the scrubber:

* :func:`scan_text` looks for PHI-shaped text (person names, dates, phone numbers, e-mail
  addresses, record numbers) in free text, file names and NIfTI/JSON headers; person names
  also by the names lists (:mod:`deidkit.verify.names`).
* :class:`ValueSearch` finds any of many known values (collected from the originals) in
  strings or raw bytes with one compiled regular expression. The alternation is built as a
  trie, so the regex engine walks shared prefixes once instead of trying every value at every
  position (thousands of UIDs sharing a root cost little more than one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from deidkit.verify.names import caret_name, listed_name

# Pattern names (stable: reports and CI parse them; a finding's ``pattern`` field).
PATTERN_NAME = "person-name"
PATTERN_DATE = "date"
PATTERN_PHONE = "phone"
PATTERN_EMAIL = "email"
PATTERN_MRN = "mrn"

# Common given names (several cultures), matched only when followed by a capitalised word,
# so "Mark" alone or "MAY CONTRAST" is no finding but "Jane Smith" is.
_GIVEN_NAMES = frozenset(
    """
    aaron abdul adam adrian ahmed aisha alan albert alex alexander alice amanda amy ana andrea
    andrew angela anna anne anthony antonio barbara benjamin betty brian carlos carol caroline
    catherine charles christian christina christopher claire daniel david deborah dennis diana
    donald dorothy edward elena elizabeth emily emma eric fatima francesco frank gary george
    giovanni hannah hans helen henry ibrahim isabel jacob james jane janet jason jean jennifer
    jessica joan john jonathan jose joseph joshua juan julia karen katherine kenneth kevin laura
    linda lisa lucas luis margaret maria marie mark martin mary matthew michael michelle mohammed
    muhammad nancy nicholas olivia pamela patricia paul peter rachel rebecca richard robert ronald
    ruth sandra sarah scott sharon sophie stephen steven susan thomas timothy wei william yusuf
    """.split()
)

_TITLE_NAME = re.compile(
    r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof|dr)\.?\s+[A-Z][a-z'\-]{1,30}\b|"
    r"\b(?:DR|MR|MRS|MS|PROF)\.\s*[A-Z][A-Z'\-]{1,30}\b"
)
# DICOM PN form "Family^Given" left in free text.
_CARET_NAME = re.compile(r"\b[A-Za-z][A-Za-z0-9'\-]{1,40}\^[A-Za-z][A-Za-z0-9'\-]{0,40}")
# Zero-width start so overlapping pairs are all seen ("by John Carter" -> "John Carter").
_GIVEN_FAMILY = re.compile(
    r"\b(?=([A-Za-z][a-z]{1,20}|[A-Z]{2,20})\s+([A-Z][a-z'\-]{1,30}|[A-Z]{2,30})\b)"
)
_LABELLED_NAME = re.compile(
    r"\b(?:patient|name|physician|doctor|referr\w*)\s*[:=]\s*[A-Za-z]", re.I
)

_YEAR = r"(?:19|20)\d\d"
_MONTH_NAMES = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_DATE = re.compile(
    rf"(?<![\d.])(?:{_YEAR}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
    rf"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.]{_YEAR}"
    rf"|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/{_YEAR}"
    rf"|{_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?![\d.])"
    rf"|\b(?:0?[1-9]|[12]\d|3[01])\s+{_MONTH_NAMES}\.?\s+{_YEAR}\b"
    rf"|\b{_MONTH_NAMES}\.?\s+(?:0?[1-9]|[12]\d|3[01]),?\s+{_YEAR}\b",
    re.I,
)
_PHONE = re.compile(
    r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?![\w.])"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_MRN_LABELLED = re.compile(
    r"\b(?:mrn|mr#|medical record|patient id|pid|nhs|ssn)\s*[#:=]?\s*\d{4,}", re.I
)


@dataclass(frozen=True)
class TextHit:
    """One PHI-shaped match: the pattern name and its severity (never the matched text)."""

    pattern: str
    severity: str


def _has_given_family(text: str) -> bool:
    for match in _GIVEN_FAMILY.finditer(text):
        if match.group(1).casefold() in _GIVEN_NAMES:
            return True
    return False


def _phone_like(match: str) -> bool:
    # Groups of digits split by single spaces are also lists of numbers ("255 128 128" in
    # an image comment); a phone number written that way has at least 10 digits.
    if any(c in match for c in "+-.()"):
        return True
    return sum(c.isdigit() for c in match) >= 10


def scan_text(text: str, *, dates_allowed: bool = False) -> list[TextHit]:
    """PHI-shaped patterns in ``text``, one hit per pattern at most.

    Parameters
    ----------
    text
        Free text, a file name or a header string.
    dates_allowed
        The profile retains (shifted or full) dates, so date-shaped text is no finding.
    """
    hits: list[TextHit] = []
    if _EMAIL.search(text):
        hits.append(TextHit(PATTERN_EMAIL, "error"))
    if any(_phone_like(m.group(0)) for m in _PHONE.finditer(text)):
        hits.append(TextHit(PATTERN_PHONE, "error"))
    if _MRN_LABELLED.search(text):
        hits.append(TextHit(PATTERN_MRN, "error"))
    listed = listed_name(text)
    if (
        _TITLE_NAME.search(text)
        or _LABELLED_NAME.search(text)
        or (_CARET_NAME.search(text) and caret_name(text))
        or listed == "error"
    ):
        hits.append(TextHit(PATTERN_NAME, "error"))
    elif listed or _has_given_family(text):
        hits.append(TextHit(PATTERN_NAME, "warn"))
    if not dates_allowed and _DATE.search(text):
        hits.append(TextHit(PATTERN_DATE, "error"))
    return hits


# --- many known values at once ---------------------------------------------------------


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex source matching exactly the given words, factored as a prefix trie."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    # Post-order without recursion: one level per character would exceed Python's
    # recursion limit on a value a few thousand characters long (a free-text element).
    emitted: dict[int, str] = {}
    stack: list[tuple[dict, bool]] = [(trie, False)]  # type: ignore[type-arg]
    while stack:
        node, children_done = stack.pop()
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for ch, child in node.items() if ch)
            continue
        branches = [
            re.escape(ch) + emitted.pop(id(child)) for ch, child in sorted(node.items()) if ch
        ]
        if not branches:
            emitted[id(node)] = ""
            continue
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        emitted[id(node)] = "(?:" + body + ")?" if "" in node else body
    return emitted[id(trie)]


@dataclass(frozen=True)
class ValueSearch:
    """Search strings and bytes for any of a set of known values, case-folded.

    Build with :meth:`from_values`; matches are whole tokens (not inside a longer word or
    number), so the date ``20190304`` is not found inside a 40-digit 2.25 UID.
    ``labels`` maps each searched (case-folded) value to the attribute keyword it came from.
    """

    labels: Mapping[str, str]
    text_re: re.Pattern[str] | None
    bytes_re: re.Pattern[bytes] | None
    byte_labels: Mapping[bytes, str] = field(default_factory=dict)

    @classmethod
    def from_values(cls, labels: Mapping[str, str]) -> ValueSearch:
        """Compile a search for ``labels`` (case-folded value -> source attribute keyword)."""
        if not labels:
            return cls(labels={}, text_re=None, bytes_re=None)
        body = _trie_pattern(labels)
        text_re = re.compile(rf"(?<![^\W_])(?:{body})(?![^\W_])")
        byte_labels: dict[bytes, str] = {}
        for value, label in labels.items():
            for form in byte_forms(value):
                byte_labels.setdefault(form, label)
        byte_body = _trie_pattern(b.decode("latin-1") for b in byte_labels)
        # Matched against lower-cased bytes: faster than re.IGNORECASE on a large trie.
        bytes_re = re.compile(rf"(?<![a-z0-9])(?:{byte_body})(?![a-z0-9])".encode("latin-1"))
        return cls(labels=dict(labels), text_re=text_re, bytes_re=bytes_re, byte_labels=byte_labels)

    def find_in_text(self, text: str) -> list[str]:
        """Source keywords of the known values found in ``text`` (case-folded, ^ as space)."""
        return [label for label, _value in self.find_matches(text)]

    def find_matches(self, text: str) -> list[tuple[str, str]]:
        """``(source keyword, matched case-folded value)`` of the known values in ``text``."""
        return [(label, value) for label, value, _start in self.find_spans(text.casefold())]

    def find_spans(self, folded: str) -> list[tuple[str, str, int]]:
        """``(source keyword, matched value, start)`` in already case-folded ``folded``."""
        if self.text_re is None:
            return []
        found = [(m.group(0), m.start()) for m in self.text_re.finditer(folded)]
        if "^" in folded:
            spaced = folded.replace("^", " ")
            found += [(m.group(0), m.start()) for m in self.text_re.finditer(spaced)]
        return [(self.labels[v], v, start) for v, start in found if v in self.labels]

    def count_in_bytes(self, data: bytes) -> dict[str, int]:
        """Occurrences per source keyword of the known values in raw ``data``.

        Each value is searched in UTF-8 and Latin-1 (the encodings of Specific Character
        Set ISO_IR 192 and ISO_IR 100, and the default repertoire), ASCII case-folded, and
        with non-ASCII letters in lower or upper case ("müller", "MÜLLER").
        """
        counts: dict[str, int] = {}
        if self.bytes_re is None:
            return counts
        for match in self.bytes_re.finditer(data.lower()):
            label = self.byte_labels.get(match.group(0))
            if label is not None:
                counts[label] = counts.get(label, 0) + 1
        return counts

    def labels_as_strings(self, data: bytes, ends: frozenset[int]) -> set[str]:
        """Source keywords of values in ``data`` that start and end at one of ``ends``."""
        found: set[str] = set()
        if self.bytes_re is None:
            return found
        low = data.lower()
        for match in self.bytes_re.finditer(low):
            start, stop = match.span()
            before = start == 0 or low[start - 1] in ends
            after = stop == len(low) or low[stop] in ends
            label = self.byte_labels.get(match.group(0))
            if before and after and label is not None:
                found.add(label)
        return found


def byte_forms(value: str) -> set[bytes]:
    """Byte forms of a case-folded value as a raw-byte search meets them (ASCII lower-cased)."""
    forms: set[bytes] = set()
    cased = {value, value.lower()}
    if not value.isascii():
        # bytes.lower() folds ASCII only, so non-ASCII letters appear in either case.
        cased |= {"".join(c if c.isascii() else c.upper() for c in v) for v in list(cased)}
    for text in cased:
        for encoding in ("utf-8", "latin-1"):
            try:
                forms.add(text.encode(encoding).lower())
            except UnicodeEncodeError:
                continue
    return {f for f in forms if f}


#: Raw-byte patterns searched in every file outside pixel data (high precision only).
RAW_PATTERNS: Mapping[str, re.Pattern[bytes]] = {
    PATTERN_EMAIL: re.compile(_EMAIL.pattern.encode("ascii")),
    PATTERN_PHONE: re.compile(_PHONE.pattern.encode("ascii")),
}

#: UID-shaped tokens in raw bytes, to look up in the set of original UIDs.
UID_TOKEN = re.compile(rb"(?<![0-9.])[0-9]+(?:\.[0-9]+){2,}")


# --- the standard's own vocabulary ---------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


def _normalised(text: str) -> str:
    return " ".join(w.casefold() for w in _WORD.findall(text))


@lru_cache(maxsize=1)
def _dictionary_names() -> tuple[frozenset[str], str]:
    """Words, and all names one a line, of the attribute names and keywords of pydicom's
    data dictionary (case-folded, punctuation as spaces)."""
    from pydicom._dicom_dict import DicomDictionary

    names = [_normalised(entry[2]) for entry in DicomDictionary.values()]
    names += [entry[4].casefold() for entry in DicomDictionary.values()]
    return frozenset(w for name in names for w in name.split()), "\n".join(names)


@lru_cache(maxsize=1)
def _concept_names() -> tuple[frozenset[str], str]:
    """The same for the code meanings pydicom ships (DCM, SNOMED CT, NCIt concepts).

    Loaded only when a match needs it: the table costs most of a second to import.
    """
    from pydicom.sr._concepts_dict import concepts

    schemes: dict[str, dict[str, dict[str, tuple[str, list[int]]]]] = concepts  # type: ignore[assignment]
    names = [
        _normalised(meaning)
        for scheme in schemes.values()
        for keyword_codes in scheme.values()
        for meaning, _cids in keyword_codes.values()
    ]
    return frozenset(w for name in names for w in name.split()), "\n".join(names)


@lru_cache(maxsize=4096)
def is_standard_vocabulary(text: str, *, word_by_word: bool = False) -> bool:
    """Whether ``text`` is the standard's own wording (attribute names, keywords, code
    meanings): one word that is a word of theirs ("Perfusion", "Observer"), or several
    that stand together in one of them. "Saint Elsewhere Hospital" is not, though each of
    its words is; with ``word_by_word`` it is (every word is the standard's).
    """
    phrase = _normalised(text)
    if not phrase:
        return False
    if word_by_word and " " in phrase:
        return all(is_standard_vocabulary(word) for word in phrase.split())
    single = " " not in phrase
    found = re.compile(rf"(?<![^\W_]){re.escape(phrase)}(?![^\W_])")
    for source in (_dictionary_names, _concept_names):
        words, lines = source()
        if (phrase in words) if single else bool(found.search(lines)):
            return True
    return False
