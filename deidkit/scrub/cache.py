"""Memo of keyed derivations for one run: :class:`KeyedCache`.

Instances of one study share its patient, study, series and frame-of-reference identifiers,
so a batch derives the same HMACs again and again. A cache object belongs to its owner (a
pipeline worker, a test) and to exactly one key; nothing is kept in a module global, and the
cache is dropped with its owner.
"""

from __future__ import annotations

from collections.abc import Callable

from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import (
    date_offset_days,
    patient_pseudonym,
    pseudonymous_uid,
    study_id_pseudonym,
)

#: Entries kept before the memo starts over (bounded memory on huge batches).
MAX_ENTRIES = 50_000


class KeyedCache:
    """Keyed pseudonyms, UIDs and date offsets for one :class:`ProjectKey`, memoised.

    Parameters
    ----------
    key
        The project key every value is derived with; a cache is never used with another.
    max_entries
        Size bound; when reached the memo is cleared (values are recomputed identically).
    """

    def __init__(self, key: ProjectKey, *, max_entries: int = MAX_ENTRIES) -> None:
        self.key = key
        self._max = max_entries
        self._text: dict[tuple[str, str], str] = {}
        self._offsets: dict[tuple[str, tuple[int, int]], int] = {}

    def _memo(self, kind: str, value: str, compute: Callable[[ProjectKey, str], str]) -> str:
        slot = (kind, value)
        found = self._text.get(slot)
        if found is None:
            if len(self._text) >= self._max:
                self._text.clear()
            found = self._text[slot] = compute(self.key, value)
        return found

    def uid(self, original: str) -> str:
        """:func:`deidkit.core.pseudonym.pseudonymous_uid` of ``original``."""
        return self._memo("uid", original, pseudonymous_uid)

    def patient(self, patient_key: str) -> str:
        """:func:`deidkit.core.pseudonym.patient_pseudonym` of ``patient_key``."""
        return self._memo("patient", patient_key, patient_pseudonym)

    def study_id(self, study_uid: str) -> str:
        """:func:`deidkit.core.pseudonym.study_id_pseudonym` of ``study_uid``."""
        return self._memo("study", study_uid, study_id_pseudonym)

    def offset(self, patient_key: str, shift_range: tuple[int, int]) -> int:
        """:func:`deidkit.core.pseudonym.date_offset_days` of ``patient_key`` in ``shift_range``."""
        slot = (patient_key, shift_range)
        found = self._offsets.get(slot)
        if found is None:
            if len(self._offsets) >= self._max:
                self._offsets.clear()
            found = self._offsets[slot] = date_offset_days(
                self.key, patient_key, shift_range=shift_range
            )
        return found
