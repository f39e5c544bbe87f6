"""KeyedCache: memoised keyed values equal the direct derivations, bounded, one key only."""

from __future__ import annotations

from dicom_builders import canary_dataset, to_bytes

from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import (
    date_offset_days,
    patient_pseudonym,
    pseudonymous_uid,
    study_id_pseudonym,
)
from deidkit.rules.profile import load_profile
from deidkit.scrub.cache import KeyedCache
from deidkit.scrub.engine import scrub_dataset

KEY = ProjectKey(secret=bytes(range(32)), source="test")
OTHER_KEY = ProjectKey(secret=bytes(range(1, 33)), source="test")


def test_values_equal_direct_derivations_and_stay_bounded() -> None:
    cache = KeyedCache(KEY, max_entries=3)
    for round_ in range(2):  # second round: served from the memo (or recomputed after a clear)
        for index in range(5):
            value = f"1.2.3.{index}"
            assert cache.uid(value) == pseudonymous_uid(KEY, value), round_
            assert cache.patient(value) == patient_pseudonym(KEY, value)
            assert cache.study_id(value) == study_id_pseudonym(KEY, value)
            assert cache.offset(value, (-30, -1)) == date_offset_days(
                KEY, value, shift_range=(-30, -1)
            )
            assert len(cache._text) <= 3 and len(cache._offsets) <= 3
    # the same value under two ranges is two entries, not one
    assert cache.offset("p", (-30, -1)) == date_offset_days(KEY, "p", shift_range=(-30, -1))
    assert cache.offset("p", (1, 5)) == date_offset_days(KEY, "p", shift_range=(1, 5))


def test_scrub_with_a_cache_matches_scrub_without() -> None:
    profile = load_profile("research")
    cache = KeyedCache(KEY)
    for sop in ("1", "2", "1"):
        plain, cached = canary_dataset(sop=sop), canary_dataset(sop=sop)
        fresh = scrub_dataset(plain, profile=profile, key=KEY)
        reused = scrub_dataset(cached, profile=profile, key=KEY, cache=cache)
        assert to_bytes(plain) == to_bytes(cached)
        assert fresh == reused


def test_a_cache_for_another_key_is_never_used() -> None:
    profile = load_profile("basic")
    foreign = KeyedCache(OTHER_KEY)
    foreign.patient("CANARYPID")  # would leak OTHER_KEY's pseudonym if it were used
    ds = canary_dataset()
    result = scrub_dataset(ds, profile=profile, key=KEY, cache=foreign)
    assert result.patient_pseudonym == patient_pseudonym(KEY, "CANARYPID")
