"""Simple PS3.3 conditions evaluated for the never-empty rule."""

from __future__ import annotations

from deidkit.rules.conditions import effective_type, is_empty_value

RESPONSIBLE_PERSON = 0x00102297
SPECIES = 0x00102201
SPECIES_CODES = 0x00102202


def test_animal_makes_responsible_person_type_2() -> None:
    assert effective_type("ct-image", (RESPONSIBLE_PERSON,), {SPECIES}) == "2"
    assert effective_type("ct-image", (RESPONSIBLE_PERSON,), {SPECIES_CODES}) == "2"
    assert effective_type("ct-image", (RESPONSIBLE_PERSON,), set()) == "2C"


def test_other_types_unchanged() -> None:
    assert effective_type("rt-plan", (0x300A0002,), set()) == "1"
    assert effective_type("ct-image", (0x300A0002,), set()) is None
    assert effective_type(None, (RESPONSIBLE_PERSON,), {SPECIES}) is None


def test_is_empty_value() -> None:
    gone = object()
    for value in (None, "", " ", b"", ["", ""], gone):
        assert is_empty_value(value, removed=gone), value
    for value in ("A", ["", "B"], b"\x00\x00", 0, 0.0):
        assert not is_empty_value(value, removed=gone), value
