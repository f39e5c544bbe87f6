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
_B = r"(?<![\w])"  # no letter or digit just before
_E = r"(?![\w])"
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
        ("id", r"\b(?:MRN|MR#|ID|Acc(?:ession)?|Accn|Record)\s*(?:No\.?|Number|#)?\s*[:#]?\s*"
         r"[A-Z0-9][A-Z0-9-]{3,}(?!\w)", True),
        ("id", r"(?<![\w.])(?=[A-Z0-9-]*\d)[A-Z0-9]*\d{6,}[A-Z0-9]*(?![\w.])", True),
    )
)

_TITLE_CUE: Final = re.compile(
    r"\b(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Sr|Nurse)\b\.?\s*$", re.IGNORECASE
)
_TITLE_BEFORE: Final = re.compile(
    r"\b(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor)\b\.?\s{0,2}$", re.IGNORECASE
)
_LABEL_CUE: Final = re.compile(
    r"(?:\b(?:name|patient|pt|pat|husband|wife|son|daughter|mother|father|brother|sister"
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
    found.extend(_code_like(text, vendor_vocabulary() | vocabulary))
    if names:
        found.extend(_name_spans(text, name_lists(), vendor_vocabulary() | vocabulary))
    return _merged(found)


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
    for kind, pattern in _identifier_patterns(ids):
        for match in pattern.finditer(text):
            yield Span(match.start(), match.end(), kind)


@lru_cache(maxsize=64)
def _identifier_patterns(ids: PatientIdentifiers) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One compiled alternation per kind (the same patient's files reuse it)."""
    out: list[tuple[str, re.Pattern[str]]] = []
    literal = (
        ("name", ids.names),
        ("id", ids.ids),
        ("address", ids.addresses),
        ("institution", ids.institutions),
    )
    for kind, values in literal:
        if values:
            alternation = "|".join(_loose(v) for v in sorted(values, key=len, reverse=True))
            # a name ends where letters end ("SMITH300"); an ID where letters and digits do
            edge = r"[^\W\d_]" if kind == "name" else r"[^\W_]"
            pattern = rf"(?<!{edge})(?:{alternation})(?!{edge})"
            out.append((kind, re.compile(pattern, re.I)))
    if ids.dates:
        forms = sorted({f for d in ids.dates for f in date_forms(d)}, key=len, reverse=True)
        alternation = "|".join(_loose(f) for f in forms)
        out.append(("date", re.compile(rf"(?<![\w])(?:{alternation})(?![\w])", re.I)))
    if ids.phones:
        alternation = "|".join(r"[\s().-]*".join(p) for p in sorted(ids.phones))
        out.append(("phone", re.compile(rf"(?<!\d)(?:{alternation})(?!\d)")))
    return tuple(out)


def _loose(value: str) -> str:
    """A value as a pattern where any run of spaces may be any run of spaces or separators."""
    return r"[\s_.,^-]+".join(re.escape(part) for part in value.split())


def date_forms(day: _dt.date) -> set[str]:
    """The common written forms of one date (numeric orders, separators, month names)."""
    y, m, d = day.year, day.month, day.day
    yy = f"{y % 100:02d}"
    month, mon = _MONTHS[m - 1], _MONTHS[m - 1][:3]
    forms = {f"{y}{m:02d}{d:02d}"}
    for sep in "-/.":
        forms.update({
            f"{y}{sep}{m:02d}{sep}{d:02d}", f"{y}{sep}{m}{sep}{d}",
            f"{m:02d}{sep}{d:02d}{sep}{y}", f"{d:02d}{sep}{m:02d}{sep}{y}",
            f"{m}{sep}{d}{sep}{y}", f"{d}{sep}{m}{sep}{y}",
            f"{m:02d}{sep}{d:02d}{sep}{yy}", f"{d:02d}{sep}{m:02d}{sep}{yy}",
        })
    for name in (month, mon):
        forms.update({
            f"{d:02d}-{name}-{y}", f"{d}-{name}-{y}", f"{d} {name} {y}", f"{d:02d} {name} {y}",
            f"{name} {d}, {y}", f"{name} {d} {y}", f"{d}-{name}-{yy}",
        })
    return forms


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
        if word.low in vocabulary or len(word.text) < 2 or not _alpha(word.text):
            continue
        capital = word.text[0].isupper()
        before = text[words[i - 1].end if i else 0 : word.start]
        context = text[max(0, word.start - 24) : word.start]
        if capital and _TITLE_CUE.search(context) and "\n" not in before:
            flagged[i] = word.low not in _STOP
        elif capital and names.is_name(word.low):
            flagged[i] = True
        elif _caret_joined(text, words, i):
            flagged[i] = True  # DICOM's "FAMILY^GIVEN" written into text
        elif capital and _LABEL_CUE.search(context) and word.low not in _STOP:
            listed = word.low in names.first or word.low in names.last
            flagged[i] = listed or word.low not in names.not_names
    _extend(words, flagged, text, names, vocabulary)
    for i, (word, hit) in enumerate(zip(words, flagged, strict=True)):
        if hit:
            # "Dr Jones" is one name: the title goes with it ("Dr" alone tells nothing)
            follows_name = i > 0 and flagged[i - 1]
            title = None if follows_name else _TITLE_BEFORE.search(text, 0, word.start)
            yield Span(title.start() if title else word.start, word.end, "name")
    yield from _initials(text, words, flagged)


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
