"""Attribute Types with the simple conditions of PS3.3 evaluated, for the never-empty rule.

:func:`~deidkit.rules.standard.attribute_type` gives the Type as the IOD table writes it
(1C and 2C unevaluated). A condition is evaluated here only where it depends on nothing but
the presence of another attribute of the same dataset, which is simple and safe; every other
1C / 2C is returned as is.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any, Final

from deidkit.rules.standard import attribute_type

__all__ = ["CONDITIONAL_TAGS", "TYPE1_REASON", "effective_type", "is_empty_value"]

TYPE1_REASON: Final = "Type 1: dummy instead of empty"

_SPECIES_DESCRIPTION: Final = 0x00102201
_SPECIES_CODES: Final = 0x00102202
# Patient Module: Responsible Person / Organization are 2C "if the patient is an animal",
# which PS3.3 signals by Patient Species Description or Patient Species Code Sequence.
_ANIMAL_2C: Final = frozenset({0x00102297, 0x00102299})
#: Tags whose Type :func:`effective_type` may change by a condition (the walk checks them
#: even under codes it otherwise never second-guesses).
CONDITIONAL_TAGS: Final = _ANIMAL_2C


def effective_type(ciod: str | None, path: tuple[int, ...], present: Container[Any]) -> str | None:
    """Type of the attribute at ``path``, with a simple condition resolved where one applies.

    ``present`` holds the dataset's elements at the attribute's level (a pydicom Dataset
    or its tags). A 2C of an animal patient becomes "2"; a 2C of a human one stays "2C".
    """
    found = attribute_type(ciod, path)
    if found == "2C" and len(path) == 1 and path[0] in _ANIMAL_2C:
        animal = _SPECIES_DESCRIPTION in present or _SPECIES_CODES in present
        return "2" if animal else found
    return found


def is_empty_value(value: Any, *, removed: object) -> bool:
    """Whether a new value leaves the attribute empty (or absent, when it is ``removed``)."""
    if value is removed or value is None:
        return True
    if isinstance(value, (str, bytes)):
        return not (value if isinstance(value, bytes) else value.strip(" \x00"))
    if isinstance(value, Sequence):
        return all(is_empty_value(v, removed=removed) for v in value)
    return False
