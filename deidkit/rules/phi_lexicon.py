"""Word lists behind the free-text PHI detectors: person names and the vendor vocabulary.

Shared *data* (not detection code) of the scrub's span detector
(:mod:`deidkit.rules.phi_text`) and verify's free-text check: both read the same lists, each
decides on its own.

* Names: the given names, surnames and "not a name" words that philter-lite
  (``pip install philter-lite``, BSD-3, the UCSF Philter lists) ships in its
  ``filters/set.toml``: about 97,000 given names, 161,000 surnames and 195,000 English and
  medical words that are also listed as names somewhere. Read as a plain data file, without
  importing philter-lite (whose own filter needs an NLTK model download). Absent the package,
  :func:`name_lists` is empty and the detectors fall back on cues and this patient's values.
* Vendor vocabulary: ``deidkit/data/vendor-vocabulary.txt`` (sequence, kernel, coil, preset
  and anatomy names), extended per project by a profile's ``vocabulary`` or a CLI flag;
  a listed word is never taken for a name by the names list.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from deidkit.core.errors import ProfileError
from deidkit.core.resources import data_file

__all__ = [
    "NameLists",
    "extra_vocabulary",
    "name_lists",
    "read_vocabulary",
    "vendor_vocabulary",
]

VOCABULARY_FILE = "vendor-vocabulary.txt"
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class NameLists:
    """Lower-case given names, surnames and words that are names only rarely."""

    first: frozenset[str]
    last: frozenset[str]
    not_names: frozenset[str]
    source: str

    def is_name(self, low: str) -> bool:
        """Whether a lower-case word is a listed name and not a listed ordinary word."""
        return (low in self.first or low in self.last) and low not in self.not_names

    def is_first(self, low: str) -> bool:
        return low in self.first and low not in self.not_names


_EMPTY = NameLists(frozenset(), frozenset(), frozenset(), "none")


def _philter_sets() -> Path | None:
    spec = importlib.util.find_spec("philter_lite")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "filters" / "set.toml"
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def name_lists() -> NameLists:
    """The names lists (read once per process, about 0.2 s); empty when philter-lite is absent."""
    path = _philter_sets()
    if path is None:
        return _EMPTY
    found: dict[str, frozenset[str]] = {}
    # one "key = [ ... ]" line per list: a regex is ten times faster than a TOML parser here
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            key, _, rest = line.partition("=")
            found[key.strip()] = frozenset(w.lower() for w in _QUOTED.findall(rest) if w)
    return NameLists(
        first=found.get("firstnames", frozenset()),
        last=found.get("lastnames", frozenset()),
        not_names=found.get("nonames", frozenset()),
        source="philter-lite",
    )


def read_vocabulary(lines: Iterable[str]) -> frozenset[str]:
    """Words of a vocabulary file's lines: split on whitespace, '#' comments dropped."""
    words: set[str] = set()
    for line in lines:
        words.update(w.lower() for w in line.split("#", 1)[0].split())
    return frozenset(words)


@lru_cache(maxsize=1)
def vendor_vocabulary() -> frozenset[str]:
    """The shipped vendor vocabulary (lower case)."""
    with data_file(VOCABULARY_FILE).open(encoding="utf-8") as handle:
        return read_vocabulary(handle)


def extra_vocabulary(path: Path) -> frozenset[str]:
    """A user's vocabulary file (same format as the shipped one).

    Raises
    ------
    ProfileError
        If the file cannot be read as UTF-8 text (the message names the file, not its text).
    """
    try:
        return read_vocabulary(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(
            f"vocabulary file {path.name} cannot be read: {type(exc).__name__}"
        ) from None
