"""The action registry: what each PS3.15 E.1-1 code does to an element's value, once.

:mod:`deidkit.rules.decisions` says *which* code applies; this module says what the code
*does*. Every code (X, Z, D, U, C, K, the recipe codes ``R:``, ``A:`` and the date shift
``J:``) is one :class:`Action` in :data:`REGISTRY`, and both paths of the element walk
dispatch through it: the raw fast path (a still-encoded element of a default-repertoire VR,
rewritten without pydicom decoding it) and the decoded path (anything else). An action sees
the element's values as a list (raw strings or decoded values, through :func:`text_value`)
and returns the new value; how that value is written is the codec's business, not its own.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, NamedTuple

# the public registry of standard UIDs (pydicom.uid re-exports it without __all__)
from pydicom.uid import UID_dictionary  # type: ignore[attr-defined]

from deidkit.core.pseudonym import generic_pseudonym
from deidkit.rules.descriptors import clean_text, clean_text_spans
from deidkit.rules.phi_text import span_summary
from deidkit.rules.uids import keeps_uid
from deidkit.scrub.codec import text_value
from deidkit.scrub.context import WalkContext

__all__ = [
    "APPEND",
    "REGISTRY",
    "REMOVE",
    "UNCHANGED",
    "Action",
    "Outcome",
    "clean_text",
    "dummy_value",
    "lookup",
    "shift_date",
    "shift_datetime",
    "shifted_values",
]

_DUMMY_TEXT = "ANONYMIZED"
_DUMMIES: Mapping[str, object] = MappingProxyType(
    {
        "AE": "ANONYMIZED",
        "AS": "000Y",
        "CS": "ANONYMIZED",
        "DA": "19000101",
        "DT": "19000101000000",
        "TM": "000000",
        "DS": "0",
        "IS": "0",
        "LO": _DUMMY_TEXT,
        "LT": _DUMMY_TEXT,
        "PN": "ANONYMIZED",
        "SH": _DUMMY_TEXT,
        "ST": _DUMMY_TEXT,
        "UC": _DUMMY_TEXT,
        "UT": _DUMMY_TEXT,
        "UR": "",
        "US": 0,
        "SS": 0,
        "UL": 0,
        "SL": 0,
        "UV": 0,
        "SV": 0,
        "FL": 0.0,
        "FD": 0.0,
        "AT": 0,
        "OB": b"\x00\x00",
        "OW": b"\x00\x00",
        "OD": b"\x00" * 8,
        "OF": b"\x00" * 4,
        "OL": b"\x00" * 4,
        "OV": b"\x00" * 8,
        "UN": b"\x00\x00",
    }
)


def dummy_value(vr: str) -> object:
    """A non-identifying, non-empty dummy value valid for ``vr`` (code D)."""
    return _DUMMIES.get(vr, _DUMMY_TEXT)


def shift_date(value: str, days: int) -> str:
    """Shift a DA value ("YYYYMMDD", or a "A-B" range) by ``days``; unparsable -> "" (safe)."""
    parts = value.strip().split("-")
    out = []
    for part in parts:
        if not part:
            out.append("")
            continue
        digits = part.strip()[:8]
        try:
            if len(digits) != 8 or not digits.isdigit():
                return ""
            day = _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            return ""
        out.append((day + _dt.timedelta(days=days)).strftime("%Y%m%d"))
    return "-".join(out)


_DT_RE = re.compile(r"^(\d{8})(.*)$")


def shift_datetime(value: str, days: int) -> str:
    """Shift a DT value by whole days, keeping time and offset; unparsable -> "" (safe).

    A DT with only a year or year-month cannot be shifted by days without inventing
    precision, so it is emptied.
    """
    text = value.strip()
    if "-" in text[1:] and not re.search(r"[+-]\d{4}$", text):
        return "-".join(shift_datetime(p, days) if p else "" for p in text.split("-"))
    match = _DT_RE.match(text)
    if not match:
        return ""
    shifted = shift_date(match.group(1), days)
    return shifted + match.group(2) if shifted else ""


def shifted_values(values: Sequence[Any], vr: str, days: int) -> str | list[str]:
    """DA/DT values shifted by ``days`` (one value, or a list for a multi-valued element)."""
    func = shift_date if vr == "DA" else shift_datetime
    shifted = [func(text_value(v), days) if text_value(v) else "" for v in values or [""]]
    return shifted if len(shifted) > 1 else shifted[0]


# -- the registry -------------------------------------------------------------------------


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The element is left exactly as read (no write, so no re-encoding).
UNCHANGED: Final = _Marker("UNCHANGED")
#: The element is removed from its dataset.
REMOVE: Final = _Marker("REMOVE")

UID_KINDS: Final = MappingProxyType(
    {
        0x0020000D: "StudyInstanceUID",
        0x0020000E: "SeriesInstanceUID",
        0x00080018: "SOPInstanceUID",
    }
)
DATE_VRS: Final = frozenset({"DA", "DT", "TM"})
TEXT_VRS: Final = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
BINARY_VRS: Final = frozenset({"OB", "OW", "UN", "OD", "OF", "OL", "OV"})
_SHIFTABLE_VRS: Final = frozenset({"DA", "DT"})
_ALL: Final = None


class Outcome(NamedTuple):
    """What an action did: the code to record (None: the code as written) and the new value.

    ``value`` is :data:`UNCHANGED`, :data:`REMOVE`, or the new value (None or b"" for an
    empty element, a str, or a list of str for a multi-valued one).
    """

    code: str | None
    value: Any
    #: Replaces the decision's reason in the action log where the action did otherwise.
    reason: str | None = None


#: (values, VR, argument after "X:", context, tag) -> outcome.
ApplyFn = Callable[[Sequence[Any], str, str, WalkContext, int], Outcome]


@dataclass(frozen=True, slots=True)
class Action:
    """One action code.

    Attributes
    ----------
    code
        The code's letter (``"R"`` for ``"R:literal"``).
    summary
        One line for explain output and the docs.
    reads
        VRs for which :attr:`apply` needs the current values (None: every VR, empty: none);
        the walk skips reading values the action does not use.
    raw_vrs
        VRs whose still-raw elements this action may rewrite without pydicom decoding them
        (None: every VR the raw path handles). Where the action also reads values there,
        these VRs must be default-repertoire text (UI, dates), which decodes the same in
        every character set.
    apply
        The transformation, shared by the raw and the decoded path.
    """

    code: str
    summary: str
    reads: frozenset[str] | None
    raw_vrs: frozenset[str] | None
    apply: ApplyFn


def empty_value(vr: str) -> bytes | None:
    """An empty value of ``vr`` (zero length once written)."""
    return b"" if vr in BINARY_VRS else None


UID_KEPT_REASON: Final = "standard UID kept"


def new_uid(ctx: WalkContext, value: str, tag: int) -> str:
    """The keyed replacement of one UID.

    Kept as is (they identify no one): UIDs under the DICOM root or in pydicom's registry,
    and any value of an attribute naming a class, coding scheme or mapping resource.
    """
    original = value.strip().rstrip("\x00").strip()
    if not original or original in UID_dictionary or keeps_uid(original, tag):
        return original
    new = ctx.cache.uid(original)
    ctx.linkage[(UID_KINDS.get(tag, "UID"), original)] = new
    return new


def _remap(values: Sequence[Any], ctx: WalkContext, tag: int) -> Any:
    if len(values) > 1:
        return [new_uid(ctx, text_value(v), tag) for v in values]
    if values and values[0]:
        return new_uid(ctx, text_value(values[0]), tag)
    return UNCHANGED


def _remap_outcome(code: str, values: Sequence[Any], ctx: WalkContext, tag: int) -> Outcome:
    """U (or D on a UID): the keyed UIDs, or K where every value was a kept standard UID."""
    new = _remap(values, ctx, tag)
    if new is UNCHANGED:
        return Outcome(code, new)
    before = [text_value(v).strip().rstrip("\x00").strip() for v in values]
    if (new if isinstance(new, list) else [new]) == before:
        # the log must say what was done: nothing was remapped, so nothing is written
        return Outcome("K", UNCHANGED, UID_KEPT_REASON)
    return Outcome(code, new)


def _remove(values: Sequence[Any], vr: str, arg: str, ctx: WalkContext, tag: int) -> Outcome:
    return Outcome("X", REMOVE)


def _keep(values: Sequence[Any], vr: str, arg: str, ctx: WalkContext, tag: int) -> Outcome:
    return Outcome("K", UNCHANGED)


def _empty(values: Sequence[Any], vr: str, arg: str, ctx: WalkContext, tag: int) -> Outcome:
    return Outcome("Z", empty_value(vr))


def _dummy(values: Sequence[Any], vr: str, arg: str, ctx: WalkContext, tag: int) -> Outcome:
    if vr == "UI":  # a dummy UID would merge unrelated instances: UIDs get keyed ones
        return _remap_outcome("D", values, ctx, tag)
    return Outcome("D", dummy_value(vr))


def _uid(values: Sequence[Any], vr: str, arg: str, ctx: WalkContext, tag: int) -> Outcome:
    return _remap_outcome("U", values, ctx, tag)


def _shift_by(values: Sequence[Any], vr: str, days: int) -> Any:
    if vr == "TM":
        return UNCHANGED  # whole-day shifts leave times of day unchanged
    return shifted_values(values, vr, days)


def _clean(values: Sequence[Any], vr: str, arg: str, ctx: WalkContext, tag: int) -> Outcome:
    """Dates shifted, PHI spans removed from text, AE titles pseudonymised; else emptied."""
    if vr in DATE_VRS:
        if ctx.offset is None:
            return Outcome("Z", None)  # no per-patient offset: dates cannot be shifted
        return Outcome("C", _shift_by(values, vr, ctx.offset))
    if vr in TEXT_VRS or vr == "CS":
        return _clean_free_text(values, vr, ctx, tag)
    if vr == "AE" and values and values[0]:
        titles = [generic_pseudonym(ctx.key, "AE", text_value(v), length=15) for v in values]
        return Outcome("C", titles if len(titles) > 1 else titles[0])
    return Outcome("Z", empty_value(vr))


TAG_CODE_MEANING: Final = 0x00080104
#: Text Value (SR TEXT item, 1C), Unformatted Text Value (text object, 1C), Code Meaning (1).
_REQUIRED_TEXT: Final = frozenset({0x0040A160, 0x00700006, TAG_CODE_MEANING})
#: Marks an :attr:`Outcome.reason` the walk appends to the decision's reason.
APPEND: Final = "; "


def _clean_free_text(values: Sequence[Any], vr: str, ctx: WalkContext, tag: int) -> Outcome:
    """Only the PHI spans removed; the value untouched (not even re-encoded) when it has none.

    The log gets the kinds and counts of the spans, never their text. A Code Meaning is
    coded text: its eponyms are no people, so only this patient's values and the patterns
    count there.
    """
    texts = [text_value(v) for v in values]
    vocabulary = ctx.profile.vocabulary
    names = tag != TAG_CODE_MEANING
    results = [
        clean_text_spans(t, ctx.identifiers, vocabulary=vocabulary, names=names) for t in texts
    ]
    spans = [span for _, found in results for span in found]
    if not spans:
        return Outcome("C", UNCHANGED, f"{APPEND}no PHI span found, kept as written")
    cleaned = [new for new, _ in results]
    summary = f"{APPEND}PHI spans removed: {span_summary(spans)}"
    if tag in _REQUIRED_TEXT and not any(cleaned):
        # inside SR items and annotations the IOD table cannot tell the Type; these are
        # required wherever they are present
        return Outcome("D", dummy_value(vr), f"{summary}; required text: dummy instead of empty")
    return Outcome("C", cleaned if len(cleaned) > 1 else cleaned[0], summary)


def _literal(values: Sequence[Any], vr: str, arg: str, ctx: WalkContext, tag: int) -> Outcome:
    return Outcome(None, arg)


def _shift(values: Sequence[Any], vr: str, arg: str, ctx: WalkContext, tag: int) -> Outcome:
    if vr not in _SHIFTABLE_VRS:
        return Outcome(None, UNCHANGED)
    return Outcome(None, _shift_by(values, vr, int(arg)))


_NONE: Final[frozenset[str]] = frozenset()

REGISTRY: Final[Mapping[str, Action]] = MappingProxyType(
    {
        action.code: action
        for action in (
            # X never reads or writes a value: the walk removes the element before anything.
            Action("X", "remove the element", _NONE, _NONE, _remove),
            # K keeps the element as read; the walk converts only UN / implicit-VR elements
            # (to give them their VR) and recurses into sequences.
            Action("K", "keep the element", _NONE, _NONE, _keep),
            Action("Z", "empty value (zero length)", _NONE, _ALL, _empty),
            Action(
                "D", "non-identifying dummy of the VR (UIDs: keyed UID)", frozenset({"UI"}),
                _ALL, _dummy,
            ),
            Action("U", "keyed UID, consistent within the project", _ALL, frozenset({"UI"}),
                   _uid),
            Action("C", "clean: shift dates, remove PHI spans from text, pseudonymise AE titles",
                   _ALL, DATE_VRS, _clean),
            Action("R", "replace with the recipe's literal", _NONE, _NONE, _literal),
            Action("A", "set the recipe's literal (added when absent)", _NONE, _NONE, _literal),
            Action("J", "shift DA/DT values by the recipe's days", _ALL, _SHIFTABLE_VRS, _shift),
        )
    }
)


@lru_cache(maxsize=256)
def lookup(code: str) -> tuple[Action, str] | None:
    """The action for a resolved code and its argument (``"R:text"`` -> R, ``"text"``).

    None for a code no action implements: the walk records it and leaves the element.
    """
    letter, _, argument = code.partition(":")
    action = REGISTRY.get(letter)
    if action is None or (bool(argument) or ":" in code) != (letter in "RAJ"):
        return None
    return action, argument
