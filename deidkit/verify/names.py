"""Person names in released free text, by the names lists: verify's own detector.

The scrubber's span detector (:mod:`deidkit.rules.phi_text`) is not used here: verify
re-reads a release on its own code path and shares only the *data*, the names lists and
the vendor vocabulary of :mod:`deidkit.rules.phi_lexicon`. A name counts as found when

* a cue stands right before a capitalised word that is a listed given name or surname
  ("husband Bartholomew", "Dr Jones", "pt Smith"): an error ("seen by" and "with" are no
  cue: "reviewed by John Carter" stays the given name + surname warning below);
* a capitalised listed given name is followed by a capitalised listed surname, neither
  an ordinary word nor a vendor term ("Angela Merriweather"): a warning, as places and
  breeds read the same ("Maine Coon");
* a caret-joined pair (DICOM's ``FAMILY^GIVEN``) holds a word that is no vendor term and no
  ordinary word ("abdomen^liver" is a GE study description, not a person).

Findings name the pattern, never the text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from deidkit.rules.phi_lexicon import NameLists, name_lists, vendor_vocabulary

__all__ = ["after_cue", "caret_name", "listed_name", "ordinary_word", "vendor_word"]

_CUE: Final = re.compile(
    r"\b(?:husband|wife|son|daughter|mother|father|brother|sister|partner|spouse|patient|pt"
    r"|dr|mr|mrs|ms|miss|prof|doctor|name|nurse)\.?:?\s+$",
    re.IGNORECASE,
)
_WORD: Final = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_CARET: Final = re.compile(r"[^\W_][\w'-]*(?:\^[\w'-]*)+")


@lru_cache(maxsize=1)
def _lists() -> tuple[NameLists, frozenset[str]]:
    return name_lists(), vendor_vocabulary()


def after_cue(before: str) -> bool:
    """Whether text ending with ``before`` puts a name cue ("Dr ", "husband ") right there."""
    return bool(_CUE.search(before[-16:]))


def vendor_word(low: str) -> bool:
    """Whether a lower-case word is in the vendor vocabulary (sequences, kernels, anatomy)."""
    return low in _lists()[1]


def ordinary_word(low: str) -> bool:
    """Whether a lower-case word is in the vendor vocabulary or the names lists' ordinary
    words (philter-lite's "nonames": English and medical words also listed as names)."""
    names, vocabulary = _lists()
    return low in vocabulary or low in names.not_names


def _listed(low: str, names: NameLists) -> bool:
    return low in names.first or low in names.last


def listed_name(text: str) -> str | None:
    """``"error"`` for a listed name after a cue, ``"warn"`` for a given name + surname pair."""
    names, vocabulary = _lists()
    found: str | None = None
    words = list(_WORD.finditer(text))
    for i, match in enumerate(words):
        word = match.group()
        low = word.casefold()
        if not word[0].isupper() or low in vocabulary or len(word) < 2:
            continue
        if _CUE.search(text[max(0, match.start() - 16) : match.start()]) and _listed(low, names):
            return "error"
        if i + 1 < len(words) and names.is_first(low):
            following = words[i + 1]
            gap = text[match.end() : following.start()]
            nxt = following.group().casefold()
            if (
                gap in (" ", ", ")
                and following.group()[0].isupper()
                and nxt not in vocabulary
                and nxt in names.last
                and nxt not in names.not_names
            ):
                found = "warn"
    return found


def caret_name(text: str) -> bool:
    """A ``FAMILY^GIVEN`` pair with a word that is neither a vendor term nor an ordinary word."""
    names, vocabulary = _lists()
    for match in _CARET.finditer(text):
        parts = [p for p in re.split(r"[\^\s_-]+", match.group().casefold()) if p]
        if any(p not in vocabulary and (p not in names.not_names or _listed(p, names))
               for p in parts if not p.isdigit()):
            return True
    return False
