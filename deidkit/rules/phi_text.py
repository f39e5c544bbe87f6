"""Where PHI sits inside a text value: :func:`find_phi_spans`, and :func:`remove_spans`.

A typed detector of spans (character ranges) with a kind, for every free text the scrub
cleans (descriptors, SR TEXT items, graphic annotation text, kept private text) and for
words read off pixels. Three signals, in this order (a later span that overlaps an earlier
one is joined to it):

1. this patient's own values (:class:`~deidkit.rules.phi_identifiers.PatientIdentifiers`):
   name parts, IDs, dates in every common format, phones, addresses, institutions;
2. generic patterns: dates and date-times, phones, e-mail, URLs, street addresses and
   postal codes, MRN-like digit runs, ages over 89, institution names;
3. person names: a names list at scale (:func:`~deidkit.rules.phi_lexicon.name_lists`) and
   the cues ``Dr X``, ``Name: X``, ``pt X``, ``husband X``, ``seen by X``; a word of the
   vendor vocabulary is never taken for a name by these.

Nothing here logs; callers report kinds and counts (:func:`span_summary`), never the text.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Final, NamedTuple

from deidkit.rules.phi_identifiers import PatientIdentifiers
from deidkit.rules.phi_lexicon import NameLists, name_lists, vendor_vocabulary

__all__ = [
    "SPAN_KINDS",
    "Span",
    "find_phi_spans",
    "remove_spans",
    "span_summary",
]

SPAN_KINDS: Final = (
    "name", "date", "id", "phone", "email", "address", "age", "institution", "url",
)


class Span(NamedTuple):
    """PHI at ``text[start:end]``, of one of :data:`SPAN_KINDS`."""

    start: int
    end: int
    kind: str


_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?[ap]\.?m\.?)?)?"
# no letter or digit just before / after ("T2_2019-03-04": an underscore separates)
_B = r"(?<![^\W_])"
_E = r"(?![^\W_])"
_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (kind, re.compile(rx, re.IGNORECASE if ignore else 0))
    for kind, rx, ignore in (
        ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", True),
        ("url", r"(?:https?://|www\.)[^\s<>\"']+", True),
        # dates: ISO / year first, day or month first with one separator, 8 digits, month names
        ("date", _B + r"(?:19|20)\d{2}([-/.])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])"
         + _TIME + _E, True),
        ("date", _B + r"(?:0?[1-9]|[12]\d|3[01])([-/.])(?:0?[1-9]|[12]\d|3[01])\1(?:\d{4}|\d{2})"
         + _TIME + _E, True),
        ("date", r"(?<!\d)(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:\d{4,6}"
         r"(?:\.\d+)?)?(?!\d)", False),
        ("date", _B + r"\d{1,2}(?:st|nd|rd|th)?(?:[\s-]|\s+of\s+)" + _MONTH
         + r"\.?(?:[\s,-]+\d{4}|-\d{2})" + _TIME + _E, True),
        ("date", _B + _MONTH + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}" + _TIME + _E, True),
        ("date", _B + r"(?:" + "|".join(_MONTHS) + r")\s+(?:19|20)\d{2}" + _E, True),
        ("phone", r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)\s?|\d{2,5}[\s.-])"
         r"\d{3,4}[\s.-]\d{3,4}(?!\w)", False),
        ("phone", r"(?<![\w.])\d{3}-\d{4}(?![\w.])", False),
        ("age", _B + r"(?:9\d|1[0-4]\d)\s?-?\s?(?:y/?o|yrs?|years?(?:[\s-]old)?|y(?:ea)?r-old"
         + r")" + _E, True),
        ("age", _B + r"(?:0?9\d|1[0-4]\d)Y" + _E, False),
        ("age", r"\bage[ds]?\s*[:=]?\s*(?:9\d|1[0-4]\d)" + _E, True),
        ("address", _B + r"\d{1,5}\s+(?:[A-Z][\w'.-]*\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd"
         r"|Lane|Ln|Drive|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Terrace|Square|Highway|Hwy)\b\.?",
         False),
        ("address", r"\bP\.?\s?O\.?\s+Box\s+\d+", True),
        ("address", r"\b[A-Z]{2}\s+\d{5}(?:-\d{4})?(?!\w)|(?<!\w)\d{5}-\d{4}(?!\w)", False),
        ("address", r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b", False),
        ("institution", r"\b(?:[A-Z][\w'&.-]*\s+){1,4}(?:Hospital|Clinic|Medical Cent(?:er|re)"
         r"|Infirmary|Health(?:care)? System|Imaging Cent(?:er|re)|University)\b", False),
        ("institution", r"\b(?:University|Hospital) of(?:\s+[A-Z][\w'.-]*){1,3}", False),
        ("id", _B + r"(?:MRN|MR#|ID|Acc(?:ession)?|Accn|Record)(?![^\W_])\.?\s*(?:No\.?"
         r"|Number|#)?\s*[:#]?\s*(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,}" + _E, True),
        ("id", r"(?<![\w.])(?=[A-Z0-9-]*\d)[A-Z0-9]*\d{6,}[A-Z0-9]*(?![\w.])", True),
    )
)

_TITLE_CUE: Final = re.compile(
    r"(?<![^\W_])(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Sr|Nurse)\b\.?\s*$",
    re.IGNORECASE,
)
_TITLE_BEFORE: Final = re.compile(
    r"(?<![^\W_])(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor)\b\.?\s{0,2}$", re.IGNORECASE
)
_LABEL_CUE: Final = re.compile(
    r"(?:(?<![^\W_])(?:name|patient|pt|pat|husband|wife|son|daughter|mother|father|brother|sister"
    r"|partner|spouse|relative|friend|guardian|technologist|tech|radiologist|physician"
    r"|attending|resident|by|with|cc|attn|to|from|per)\b[:.,]?\s*$)",
    re.IGNORECASE,
)
# alphanumeric runs: "T2" is one word (never a name, never an initial), not "T" and "2"
_WORD: Final = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_INITIAL: Final = re.compile(r"[A-Z]\.?")
#: Words after a weak cue ("with", "by") that are never names.
_STOP: Final = frozenset(
    "a an the this that these those his her their its my our your no and or of in on at".split()
)


def find_phi_spans(
    text: str,
    identifiers: PatientIdentifiers | None = None,
    *,
    vocabulary: frozenset[str] = frozenset(),
    names: bool = True,
) -> tuple[Span, ...]:
    """The PHI spans of ``text``, sorted, non-overlapping, each with its kind.

    Parameters
    ----------
    text
        One text value (a descriptor, an SR TEXT item, an OCR'd word or line).
    identifiers
        This patient's values from the headers (:func:`collect_identifiers`); None: only the
        generic patterns and the names list.
    vocabulary
        Extra words (lower case) never to be taken for a name, beside the shipped vendor
        vocabulary (``deidkit/data/vendor-vocabulary.txt``).
    names
        False: leave out the names list and the name cues (coded text such as a Code
        Meaning, whose eponyms are the standard's words); this patient's names still count.
    """
    if not text or not text.strip():
        return ()
    found: list[Span] = []
    if identifiers:
        found.extend(_identifier_spans(text, identifiers))
    for kind, pattern in _PATTERNS:
        found.extend(Span(m.start(), m.end(), kind) for m in pattern.finditer(text))
    found.extend(_code_like(text, _words(vocabulary)))
    if names:
        found.extend(_name_spans(text, name_lists(), _words(vocabulary)))
    return _with_titles(text, _merged(found))


@lru_cache(maxsize=16)
def _words(extra: frozenset[str]) -> frozenset[str]:
    """The shipped vendor vocabulary and a profile's own words (joined once, not per text)."""
    return vendor_vocabulary() | extra if extra else vendor_vocabulary()


def remove_spans(text: str, spans: Iterable[Span]) -> str:
    """``text`` without the characters of ``spans``; every other character kept as it was."""
    pieces: list[str] = []
    at = 0
    for span in sorted(spans):
        if span.start > at:
            pieces.append(text[at : span.start])
        at = max(at, span.end)
    pieces.append(text[at:])
    return "".join(pieces)


def span_summary(spans: Iterable[Span]) -> str:
    """Kinds and counts, for an action log: ``"name 2, date 1"`` (never the text)."""
    counts = Counter(span.kind for span in spans)
    return ", ".join(f"{kind} {counts[kind]}" for kind in SPAN_KINDS if counts[kind])


def _merged(spans: list[Span]) -> tuple[Span, ...]:
    if not spans:
        return ()
    # earlier signals first at the same start: an identifier's kind wins over a pattern's
    ordered = sorted(enumerate(spans), key=lambda item: (item[1].start, item[0]))
    merged: list[Span] = []
    for _, span in ordered:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.start, max(last.end, span.end), last.kind)
        elif span.end > span.start:
            merged.append(span)
    return tuple(merged)


# -- this patient's values ----------------------------------------------------------------


def _identifier_spans(text: str, ids: PatientIdentifiers) -> Iterator[Span]:
    """This patient's values in ``text``: set look-ups and plain searches, no per-patient
    regular expression (each file may bring other values; compiling them cost more than
    the scrub of the file)."""
    if ids.names:
        # a name ends where letters end ("SMITH300"), or is one alphanumeric word
        for pattern in (_LETTERS, _ALNUMS):
            for match in pattern.finditer(text):
                if match.group().lower() in ids.names:
                    yield Span(match.start(), match.end(), "name")
    literal = (("id", ids.ids), ("address", ids.addresses), ("institution", ids.institutions))
    if any(values for _, values in literal):
        folded = _Folded(text)
        for kind, values in literal:
            for value in values:
                for start, end in folded.find(value):
                    yield Span(start, end, kind)
    if ids.dates:
        yield from _date_spans(text, ids.dates)
    if ids.phones:
        for match in _PHONE_LIKE.finditer(text):
            yield from _phone_spans(match, ids.phones)


def _phone_spans(match: re.Match[str], phones: frozenset[str]) -> Iterator[Span]:
    """This patient's phone digits inside a run of digits and separators."""
    where = [match.start() + i for i, c in enumerate(match.group()) if c.isdigit()]
    digits = "".join(match.group()[i - match.start()] for i in where)
    for phone in phones:
        at = digits.find(phone)
        if at >= 0:
            yield Span(where[at], where[at + len(phone) - 1] + 1, "phone")
        elif len(digits) >= 7 and phone.endswith(digits):  # written without a country code
            yield Span(where[0], where[-1] + 1, "phone")


_LETTERS: Final = re.compile(r"[^\W\d_]+")
_ALNUMS: Final = re.compile(r"[^\W_]+")
_SEPARATOR_RUN: Final = re.compile(r"[\s_.,^-]+")
_DIGIT: Final = re.compile(r"\d")
_PHONE_LIKE: Final = re.compile(r"(?<!\d)\+?\(?\d[\d\s().-]{5,}\d(?!\d)")


class _Folded:
    """A text lower-cased with every run of separators as one space, mapped back to it."""

    def __init__(self, text: str) -> None:
        pieces: list[str] = []
        self.starts: list[int] = []
        at = 0
        for match in _SEPARATOR_RUN.finditer(text):
            self._add(pieces, text, at, match.start())
            pieces.append(" ")
            self.starts.append(match.start())
            at = match.end()
        self._add(pieces, text, at, len(text))
        self.text = "".join(pieces).lower()
        self.starts.append(len(text))
        self.source = text

    def _add(self, pieces: list[str], text: str, start: int, end: int) -> None:
        pieces.append(text[start:end])
        self.starts.extend(range(start, end))

    def find(self, value: str) -> Iterator[tuple[int, int]]:
        """Where ``value`` (separators folded alike) stands as whole words."""
        needle = " ".join(_SEPARATOR_RUN.split(value.lower())).strip()
        if not needle:
            return
        at = self.text.find(needle)
        while at >= 0:
            end = at + len(needle)
            before = self.text[at - 1] if at else " "
            after = self.text[end] if end < len(self.text) else " "
            if not before.isalnum() and not after.isalnum():
                yield self.starts[at], self.starts[end - 1] + 1
            at = self.text.find(needle, at + 1)


_MONTH_NUMBER: Final = {name[:3]: i + 1 for i, name in enumerate(_MONTHS)}
_DATE_CANDIDATES: Final = (
    re.compile(r"(?<!\d)(\d{1,4})([-/.])(\d{1,2})\2(\d{2,4})(?!\d)"),
    re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?!\d)"),
    re.compile(rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th)?[\s-]+({_MONTH})\.?[\s,-]+(\d{{2,4}})(?!\d)",
               re.I),
    re.compile(rf"({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)", re.I),
)


def _date_spans(text: str, dates: frozenset[_dt.date]) -> Iterator[Span]:
    """This patient's dates in any common written form (numeric orders, month names)."""
    for index, pattern in enumerate(_DATE_CANDIDATES):
        for match in pattern.finditer(text):
            if not _readings(index, match.groups()).isdisjoint(dates):
                yield Span(match.start(), match.end(), "date")


def _readings(index: int, groups: tuple[str, ...]) -> set[_dt.date]:
    """Every date a candidate can be read as (day and month first, two-digit years)."""
    if index == 0:
        a, _, b, c = groups
        triples = [(a, b, c)] if len(a) == 4 else [(c, a, b), (c, b, a)]
    elif index == 1:
        triples = [(groups[0], groups[1], groups[2])]
    elif index == 2:
        day, month, year = groups
        triples = [(year, str(_MONTH_NUMBER[month[:3].lower()]), day)]
    else:
        month, day, year = groups
        triples = [(year, str(_MONTH_NUMBER[month[:3].lower()]), day)]
    found: set[_dt.date] = set()
    for year, month, day in triples:
        years = [int(year)] if len(year) == 4 else [2000 + int(year), 1900 + int(year)]
        for y in years:
            try:
                found.add(_dt.date(y, int(month), int(day)))
            except ValueError:
                continue
    return found


# -- record-number-like tokens ------------------------------------------------------------

_ALNUM: Final = re.compile(r"[A-Za-z0-9]+")
_STRENGTH: Final = re.compile(r"^([a-z]+)(\d{1,4})$")
#: Letters and digits mixed in a run this long are a record number, an accession-like
#: code or a canary, not a sequence name (those are short: "ep2d", "B70f", "AIDR3D").
MIN_CODE_CHARS: Final = 10


def _code_like(text: str, vocabulary: frozenset[str]) -> Iterator[Span]:
    for match in _ALNUM.finditer(text):
        token = match.group().lower()
        if len(token) < MIN_CODE_CHARS or token.isalpha() or token.isdigit():
            continue
        strength = _STRENGTH.match(token)  # "Omnipaque350": an agent and its strength
        if token in vocabulary or (strength and strength.group(1) in vocabulary):
            continue
        yield Span(match.start(), match.end(), "id")


# -- names ----------------------------------------------------------------------------------


class _Word(NamedTuple):
    start: int
    end: int
    text: str
    low: str


def _name_spans(text: str, names: NameLists, vocabulary: frozenset[str]) -> Iterator[Span]:
    words = [_Word(m.start(), m.end(), m.group(), m.group().lower()) for m in _WORD.finditer(text)]
    flagged = [False] * len(words)
    for i, word in enumerate(words):
        if len(word.text) < 2 or not _alpha(word.text):
            continue
        capital = word.text[0].isupper()
        before = text[words[i - 1].end if i else 0 : word.start]
        context = text[max(0, word.start - 24) : word.start]
        titled = word.text[1:].islower()  # "Baker" after "Dr" is a person even if an eponym
        if capital and _TITLE_CUE.search(context) and "\n" not in before:
            flagged[i] = word.low not in _STOP and (titled or word.low not in vocabulary)
        elif word.low in vocabulary:
            continue
        elif capital and names.is_name(word.low):
            flagged[i] = True
        elif _caret_joined(text, words, i):
            flagged[i] = True  # DICOM's "FAMILY^GIVEN" written into text
        elif capital and _LABEL_CUE.search(context) and word.low not in _STOP:
            listed = word.low in names.first or word.low in names.last
            flagged[i] = listed or word.low not in names.not_names
    _given_family(words, flagged, text, names)
    _extend(words, flagged, text, names, vocabulary)
    for word, hit in zip(words, flagged, strict=True):
        if hit:
            yield Span(word.start, word.end, "name")
    yield from _initials(text, words, flagged)


def _given_family(words: list[_Word], flagged: list[bool], text: str, names: NameLists) -> None:
    """A listed given name right before a capitalised surname or unknown word: both names
    ("Ahmed Lindqvist"), even where the given name is also an ordinary word."""
    for i in range(len(words) - 1):
        first, second = words[i], words[i + 1]
        if text[first.end : second.start] != " " or not (first.text + second.text).isalpha():
            continue
        if not (first.text[:1].isupper() and first.text[1:].islower()):
            continue
        if not (second.text[:1].isupper() and second.text[1:].islower()):
            continue
        surname = second.low in names.last or (
            second.low not in names.not_names and second.low not in names.first
        )
        if first.low in names.first and surname:
            flagged[i] = flagged[i + 1] = True


def _with_titles(text: str, spans: tuple[Span, ...]) -> tuple[Span, ...]:
    """Name spans with the title before them: "Dr Jones" is one name ("Dr" alone tells
    nothing), whichever signal found "Jones"."""
    out: list[Span] = []
    for span in spans:
        title = _TITLE_BEFORE.search(text, 0, span.start) if span.kind == "name" else None
        if title is not None and not (out and out[-1].end > title.start()):
            span = Span(title.start(), span.end, span.kind)
        out.append(span)
    return tuple(out)


def _caret_joined(text: str, words: list[_Word], i: int) -> bool:
    """Whether a word is part of ``A^B`` with a word outside the vocabulary on either side."""
    word = words[i]
    before = text[word.start - 1 : word.start] == "^" and i > 0
    after = text[word.end : word.end + 1] == "^" and i + 1 < len(words)
    return (before or after) and any(c.isalpha() for c in word.text)


def _alpha(word: str) -> bool:
    return word.replace("'", "").replace("\u2019", "").isalpha()


def _extend(
    words: list[_Word], flagged: list[bool], text: str, names: NameLists, vocabulary: frozenset[str]
) -> None:
    """Capitalised unknown words next to a name are part of it ("Bartholomew Quibbleforth")."""
    changed = True
    while changed:
        changed = False
        for i, word in enumerate(words):
            if flagged[i] or not word.text[0].isupper() or word.low in vocabulary:
                continue
            if len(word.text) < 2 or not _alpha(word.text):
                continue
            if word.low in _STOP:
                continue
            common = word.low in names.not_names and word.low not in names.last
            for j in (i - 1, i + 1):
                if not (0 <= j < len(words) and flagged[j]):
                    continue
                gap = text[words[min(i, j)].end : words[max(i, j)].start]
                # a common word joins a name only hyphenated to it ("Al-Farsi")
                if (gap == "-" if common else _adjacent(text, words, min(i, j))):
                    flagged[i] = changed = True
                    break


def _adjacent(text: str, words: list[_Word], left: int, *, dots: bool = False) -> bool:
    gap = text[words[left].end : words[left + 1].start]
    return len(gap) <= 2 + dots and gap.strip(" ,^_-" + ("." if dots else "")) == ""


def _initials(text: str, words: list[_Word], flagged: list[bool]) -> Iterator[Span]:
    """A single capital (with or without a dot) right before or after a flagged name."""
    for i in range(len(words)):
        if not flagged[i]:
            continue
        for j in (i - 1, i + 1):
            if 0 <= j < len(words) and len(words[j].text) == 1 and words[j].text.isupper():
                end = words[j].end + (1 if text[words[j].end : words[j].end + 1] == "." else 0)
                if _adjacent(text, words, min(i, j), dots=True):
                    yield Span(words[j].start, end, "name")
