"""Which recognised words are PHI: this file's own header values and generic patterns.

Each line of recognised words goes through the free-text detector of issue 14,
:func:`deidkit.rules.phi_text.find_phi_spans` (this patient's values from
:func:`~deidkit.rules.phi_identifiers.collect_identifiers`, dates in every format, IDs,
phones, names). OCR output is not typed text, so :func:`find_phi_spans` here adds what
reading pixels needs: identifiers that match with one OCR slip (``0``/``O``, ``1``/``I``, one
character wrong or missing), inside words glued by a misread separator (``DOE*JANE``) or read
in part, and the rest of a line after a screen label (``Name:``, ``ID``, ``DOB``). Spans
have the same shape as the detector's (start, end, kind), never the value.

:func:`identifiers_of` collects the values to look for; they stay in memory, never logged.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from deidkit.rules.phi_identifiers import PatientIdentifiers, collect_identifiers
from deidkit.rules.phi_text import find_phi_spans as find_text_spans

if TYPE_CHECKING:
    import pydicom

    from deidkit.pixels.ocr import Word

__all__ = [
    "MIN_TEXT_CONFIDENCE",
    "Identifiers",
    "PhiSpan",
    "find_phi_spans",
    "from_patient",
    "identifiers_of",
    "phi_words",
]

#: Words common in place names that alone identify nobody.
_PLACE_STOPWORDS: Final = frozenset(
    {"HOSPITAL", "CLINIC", "MEDICAL", "CENTER", "CENTRE", "UNIVERSITY", "STREET", "ROAD",
     "THE", "AND", "SAINT", "HEALTH", "GENERAL", "DEPARTMENT", "RADIOLOGY", "INFIRMARY"}
)  # fmt: skip
#: Screen labels after which the rest of the line is a patient's value.
_LABELS: Final = frozenset(
    {"NAME", "PATIENT", "PAT", "PT", "ID", "MRN", "DOB", "BORN", "BIRTH", "ACC", "ACCESSION"}
)
#: Words below this confidence are not read as free text (speckle read as letters); the
#: file's own identifiers are still looked for in them.
MIN_TEXT_CONFIDENCE: Final = 30.0
#: A word the names list alone calls a name must be read this surely (and be 3+ letters).
MIN_NAME_CONFIDENCE: Final = 75.0
_CONFUSIONS: Final = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1",
                                    "|": "1", "S": "5", "B": "8", "Z": "2", "G": "6"})  # fmt: skip
_NON_ALNUM: Final = re.compile(r"[^0-9A-Z]")
#: Digits with date separators (no colon: a time of day identifies no one).
_NUMBER_RUN: Final = re.compile(r"['‘’\"(]?\d[\d./\-,]*\d[)'‘’\",.]?")


_MONTH_NAMES: Final = (
    "january february march april may june july august september october november december"
).split()


def date_forms(day: _dt.date) -> set[str]:
    """The common written forms of one date (numeric orders, separators, month names)."""
    y, m, d = day.year, day.month, day.day
    yy = f"{y % 100:02d}"
    forms = {f"{y}{m:02d}{d:02d}"}
    for sep in "-/.":
        forms |= {
            f"{y}{sep}{m:02d}{sep}{d:02d}", f"{m:02d}{sep}{d:02d}{sep}{y}",
            f"{d:02d}{sep}{m:02d}{sep}{y}", f"{m}{sep}{d}{sep}{y}", f"{d}{sep}{m}{sep}{y}",
            f"{m:02d}{sep}{d:02d}{sep}{yy}", f"{d:02d}{sep}{m:02d}{sep}{yy}",
        }  # fmt: skip
    for name in (_MONTH_NAMES[m - 1], _MONTH_NAMES[m - 1][:3]):
        forms |= {f"{d:02d}-{name}-{y}", f"{d} {name} {y}", f"{d:02d} {name} {y}",
                  f"{name} {d}, {y}", f"{name} {d} {y}", f"{d}-{name}-{yy}"}  # fmt: skip
    return forms


@dataclass(frozen=True)
class PhiSpan:
    """Characters ``[start, end)`` of a text that hold PHI of ``kind`` (name, id, date, ...)."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True)
class Identifiers:
    """This file's identifying values: as the text detector wants them (``patient``) and
    normalised for OCR-tolerant matching (upper case letters and digits only)."""

    patient: PatientIdentifiers = PatientIdentifiers()
    names: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    places: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.names or self.ids or self.dates or self.places)

    def __repr__(self) -> str:  # never the values
        return f"Identifiers({self.patient!r})"


def _norm(text: str) -> str:
    return _NON_ALNUM.sub("", text.upper())


def from_patient(patient: PatientIdentifiers) -> Identifiers:
    """OCR-tolerant forms of a patient's identifiers."""
    dates = {_norm(form) for day in patient.dates for form in date_forms(day)}
    places = {
        _norm(word)
        for value in patient.institutions | patient.addresses
        for word in value.split()
        if len(_norm(word)) >= 4 and _norm(word) not in _PLACE_STOPWORDS
    }
    return Identifiers(
        patient=patient,
        names=frozenset(n for n in map(_norm, patient.names) if len(n) >= 2),
        ids=frozenset(i for i in map(_norm, patient.ids) if len(i) >= 3),
        dates=frozenset(d for d in dates if len(d) >= 6),
        places=frozenset(places),
    )


def identifiers_of(ds: pydicom.Dataset) -> Identifiers:
    """The identifying values of ``ds`` (every depth; kept in memory, never logged)."""
    return from_patient(collect_identifiers(ds))


def _within_one(a: str, b: str) -> bool:
    """Levenshtein distance of ``a`` and ``b`` is at most one."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = j = edits = 0
    while i < len(a) and j < len(b):
        if a[i] != b[j]:
            edits += 1
            if edits > 1:
                return False
            if len(a) == len(b):
                i += 1
            j += 1
            continue
        i += 1
        j += 1
    return edits + (len(b) - j) <= 1


def _number_run(token: str) -> bool:
    return bool(_NUMBER_RUN.fullmatch(token)) and sum(c.isdigit() for c in token) >= 6


def _token_kind(token: str, ids: Identifiers) -> str | None:
    word = _norm(token)
    if len(word) < 2:
        return None
    for kind, values in (("name", ids.names), ("place", ids.places)):
        for value in values:
            if word == value or (len(value) >= 3 and value in word):
                return kind
            if len(word) >= 3 and word in value and len(word) * 4 >= len(value) * 3:
                return kind  # a name read in part ("ANE" of "JANE")
            if len(value) >= 4 and _within_one(word, value):
                return kind
    confused = word.translate(_CONFUSIONS)
    for kind, values in (("id", ids.ids), ("date", ids.dates)):
        for value in values:
            target = value.translate(_CONFUSIONS)
            if confused == target or (len(target) >= 4 and target in confused):
                return kind
            if len(target) >= 6 and _within_one(confused, target):
                return kind
            if len(confused) >= 4 and confused in target and len(confused) * 2 >= len(target):
                return kind
    return None


def find_phi_spans(
    text: str, identifiers: Identifiers, *, fuzzy_only: bool = False
) -> list[PhiSpan]:
    """Spans of a line of OCR text that hold PHI (overlapping spans are all returned).

    Parameters
    ----------
    text
        Words of one line, joined by single spaces.
    identifiers
        This file's values (:func:`identifiers_of`).
    fuzzy_only
        Only the OCR-tolerant identifier match (for words read with low confidence).
    """
    spans: list[PhiSpan] = []
    if not fuzzy_only:
        found = find_text_spans(text, identifiers.patient, names=False)
        spans += [PhiSpan(s.start, s.end, s.kind) for s in found]
    tokens = list(re.finditer(r"\S+", text))
    for index, match in enumerate(tokens):
        kind = _token_kind(match.group(), identifiers)
        if kind is None and not fuzzy_only and _number_run(match.group()):
            kind = "number"  # a date or ID read with a wrong separator or digit
        if kind is not None:
            spans.append(PhiSpan(match.start(), match.end(), kind))
        label = match.group().upper().rstrip(":")
        if not fuzzy_only and label in _LABELS and index + 1 < len(tokens):
            spans.append(PhiSpan(tokens[index + 1].start(), tokens[-1].end(), "labelled"))
    return spans


def _line_spans(line: list[Word], identifiers: Identifiers) -> list[tuple[Word, str]]:
    text, offsets = "", []
    for word in line:
        offsets.append(len(text))
        text += word.text + " "
    spans = find_phi_spans(text, identifiers)
    loose = find_phi_spans(text, identifiers, fuzzy_only=True)
    # a names list knows thousands of short given names; speckle read as "Ee" is none
    names = [PhiSpan(s.start, s.end, s.kind) for s in find_text_spans(text, None)
             if s.kind == "name"]  # fmt: skip
    found = []
    for word, start in zip(line, offsets, strict=True):
        end = start + len(word.text)
        confident = word.confidence >= MIN_TEXT_CONFIDENCE
        listed = confident and word.confidence >= MIN_NAME_CONFIDENCE and len(word.text) >= 3
        pool = (spans if confident else loose) + (names if listed else [])
        kinds = [s.kind for s in pool if s.start < end and s.end > start]
        if kinds:
            found.append((word, kinds[0]))
    return found


def _lines(words: Sequence[Word]) -> dict[tuple[int, int, int, int], list[Word]]:
    lines: dict[tuple[int, int, int, int], list[Word]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    return lines


def phi_words(words: Iterable[Word], identifiers: Identifiers) -> list[tuple[Word, str]]:
    """The words that hold PHI, each with its kind (line by line, as read)."""
    found: list[tuple[Word, str]] = []
    for line in _lines(list(words)).values():
        if all(w.angle == 0.0 for w in line):  # a turned line keeps its reading order
            line.sort(key=lambda w: w.left)
        found += _line_spans(line, identifiers)
    return found
