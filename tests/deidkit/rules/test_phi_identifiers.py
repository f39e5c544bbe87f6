"""This patient's identifying values, collected from a header before cleaning."""

from __future__ import annotations

import datetime as dt

from dicom_builders import canary_dataset, reread, to_bytes
from pydicom.dataelem import RawDataElement

from deidkit.rules.phi_identifiers import PatientIdentifiers, collect_identifiers


def test_collects_names_dates_ids_institution_address_at_every_depth() -> None:
    ids = collect_identifiers(canary_dataset())
    assert {"canaryname", "john", "doc", "canarydeep", "one", "person"} <= ids.names
    assert {dt.date(1971, 2, 3), dt.date(2019, 4, 15)} <= ids.dates
    assert {"canaryacc", "canarypid", "canarystudyid", "canarypid-2"} <= ids.ids
    assert "canaryinst" in ids.institutions
    assert "canaryinst hospital" in ids.institutions
    assert "hospital" not in ids.institutions  # too common to point at anyone
    assert "canaryinst" in ids.addresses


def test_private_elements_are_not_read() -> None:
    ids = collect_identifiers(canary_dataset())
    assert "nested" not in ids.names
    assert not any("canarypriv" in v for v in ids.ids | ids.institutions)


def test_phone_digits() -> None:
    ds = canary_dataset()
    ds.PatientTelephoneNumbers = "+1 617 555-0142"
    assert collect_identifiers(ds).phones == frozenset({"16175550142"})


def test_reading_leaves_raw_elements_raw() -> None:
    ds = reread(to_bytes(canary_dataset()))
    before = {tag for tag, e in ds._dict.items() if isinstance(e, RawDataElement)}
    collect_identifiers(ds)
    after = {tag for tag, e in ds._dict.items() if isinstance(e, RawDataElement)}
    assert before and before == after


def test_merge_and_repr_without_values() -> None:
    one = PatientIdentifiers(names=frozenset({"quibbleforth"}))
    two = PatientIdentifiers(ids=frozenset({"acc98x21"}), names=frozenset({"zephyrine"}))
    merged = one | two
    assert merged.names == {"quibbleforth", "zephyrine"}
    assert merged.ids == {"acc98x21"}
    assert one.merge([two]) == merged
    assert "quibble" not in repr(merged) and "names=2" in repr(merged)
    assert not PatientIdentifiers()
    assert merged
