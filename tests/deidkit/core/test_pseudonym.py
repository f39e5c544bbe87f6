"""Keyed pseudonyms: format, determinism, key dependence, normalisation, date offsets."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import UID

from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import (
    DEFAULT_DATE_SHIFT_RANGE,
    accession_pseudonym,
    date_offset_days,
    generic_pseudonym,
    normalise_identifier,
    patient_pseudonym,
    pseudonymous_uid,
    site_pseudonym,
    study_id_pseudonym,
)

KEY = ProjectKey(secret=bytes(range(32)), source="t")
OTHER = ProjectKey(secret=bytes(range(1, 33)), source="t")
ids = st.text(min_size=1, max_size=40).filter(lambda s: normalise_identifier(s) != "")


@settings(max_examples=50, deadline=None)
@given(value=ids)
def test_formats(value: str) -> None:
    assert re.fullmatch(r"P[A-Z2-7]{16}", patient_pseudonym(KEY, value))
    uid = pseudonymous_uid(KEY, value)
    assert uid.startswith("2.25.") and len(uid) <= 64 and UID(uid).is_valid
    assert int(uid[5:]) < 2**128
    assert len(study_id_pseudonym(KEY, value)) <= 16
    assert len(accession_pseudonym(KEY, value)) <= 16
    assert re.fullmatch(r"SITE[A-Z2-7]{8}", site_pseudonym(KEY, value))
    assert generic_pseudonym(KEY, "mrn", value).startswith("X")


@settings(max_examples=30, deadline=None)
@given(a=ids, b=ids)
def test_deterministic_and_injective_in_practice(a: str, b: str) -> None:
    assert patient_pseudonym(KEY, a) == patient_pseudonym(KEY, a)
    if normalise_identifier(a) != normalise_identifier(b):
        assert patient_pseudonym(KEY, a) != patient_pseudonym(KEY, b)
        assert pseudonymous_uid(KEY, a) != pseudonymous_uid(KEY, b)


def test_depends_on_key_and_purpose() -> None:
    assert patient_pseudonym(KEY, "123") != patient_pseudonym(OTHER, "123")
    assert pseudonymous_uid(KEY, "1.2.3") != pseudonymous_uid(OTHER, "1.2.3")
    assert study_id_pseudonym(KEY, "x")[1:] != accession_pseudonym(KEY, "x")[1:]
    assert generic_pseudonym(KEY, "a", "x") != generic_pseudonym(KEY, "b", "x")


def test_dicom_padding_is_normalised() -> None:
    assert patient_pseudonym(KEY, "12345 ") == patient_pseudonym(KEY, "12345")
    assert pseudonymous_uid(KEY, "1.2.3\x00") == pseudonymous_uid(KEY, "1.2.3")
    assert site_pseudonym(KEY, "General Hospital") == site_pseudonym(KEY, "GENERAL HOSPITAL")


def test_known_values_are_pinned() -> None:
    # Golden values: changing the derivation would break every existing release's linkage.
    assert patient_pseudonym(KEY, "PAT-001") == "PUHWMF3XEYPFMJ7XC"
    assert pseudonymous_uid(KEY, "1.2.826.0.1.3680043.99.1") == (
        "2.25.51929173400836568189332559988906251188"
    )
    assert date_offset_days(KEY, "PAT-001") == -3064


@settings(max_examples=50, deadline=None)
@given(value=ids, low=st.integers(-4000, 0), width=st.integers(0, 4000))
def test_date_offset_in_range_never_zero(value: str, low: int, width: int) -> None:
    high = low + width
    offset = date_offset_days(KEY, value, shift_range=(low, high))
    if (low, high) != (0, 0):
        assert offset != 0
    assert low <= offset <= high or (low == high == 0)


def test_date_offset_default_and_errors() -> None:
    offset = date_offset_days(KEY, "p1")
    assert DEFAULT_DATE_SHIFT_RANGE[0] <= offset <= DEFAULT_DATE_SHIFT_RANGE[1]
    assert offset == date_offset_days(KEY, "p1 ")
    try:
        date_offset_days(KEY, "p1", shift_range=(5, 1))
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("an inverted range must be refused")
