"""Which UIDs name something the standard (or a registry) defines, not an instance.

A UID under the DICOM root ``1.2.840.10008.`` is defined by the standard itself: SOP
classes, transfer syntaxes, well-known instances, context groups, DICOM coding schemes. It
identifies no patient, and remapping it breaks the file (no viewer recognises a SOP class
with a ``2.25.`` UID). pydicom's UID dictionary lags the standard, so the root decides, not
a list. Attributes whose value is a class, a coding scheme or a mapping resource (SNOMED CT,
LOINC, ... are not under the DICOM root) keep their value whatever it is. A UID the
standard's registries list (PS3.6 Table A-1, PS3.16 Table 8-1 coding schemes, vendored as
``deidkit/data/ps3.6-uid-registry.json``) is kept wherever it stands, whatever pydicom knows:
SNOMED CT's UID in any attribute names SNOMED CT, never a patient.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Final

from deidkit.core.resources import data_file

__all__ = [
    "DICOM_ROOT",
    "is_class_uid_tag",
    "is_registered_uid",
    "is_standard_uid",
    "keeps_uid",
    "registry_uids",
]

REGISTRY_FILE: Final = "ps3.6-uid-registry.json"

DICOM_ROOT: Final = "1.2.840.10008."

# Keywords whose value names a class, a syntax or a registry rather than an instance.
# Manufacturer Device Class UID is not one of them: E.1-1 remaps it (U), as it names a
# manufacturer's own device class under the manufacturer's root.
_CLASS_KEYWORD: Final = re.compile(r"SOPClass|TransferSyntax")
_NAMED_KEYWORDS: Final = frozenset(
    {
        "CodingSchemeUID",
        "MappingResourceUID",
        "ContextGroupExtensionCreatorUID",
        "ContextUID",
        "ImplementationClassUID",
    }
)


def is_standard_uid(value: str) -> bool:
    """Whether ``value`` lies under the DICOM root (defined by the standard, never remapped)."""
    return value.strip().rstrip("\x00").startswith(DICOM_ROOT)


@lru_cache(maxsize=1)
def _class_tags() -> frozenset[int]:
    # local import: the scrub CLI's parent process never needs pydicom (workers do)
    from pydicom.datadict import DicomDictionary  # type: ignore[attr-defined]

    return frozenset(
        tag
        for tag, (vr, _vm, _name, _retired, keyword) in DicomDictionary.items()
        if vr == "UI" and (keyword in _NAMED_KEYWORDS or _CLASS_KEYWORD.search(keyword))
    )


def is_class_uid_tag(tag: int) -> bool:
    """Whether the attribute ``tag`` holds a class / coding scheme / resource UID."""
    return int(tag) in _class_tags()


#: What a UID looks like (PS3.5 9.1): numeric components, at most 64 characters. A damaged
#: value is no registry entry, whatever its prefix or attribute: it is remapped to a valid one.
_UID_SYNTAX: Final = re.compile(r"[0-9]+(?:\.[0-9]+)*")


@lru_cache(maxsize=1)
def registry_uids() -> frozenset[str]:
    """Every UID of the vendored registry: Table A-1 rows and Table 8-1 coding schemes."""
    data: dict[str, Any] = json.loads(data_file(REGISTRY_FILE).read_text(encoding="utf-8"))
    schemes = {entry["uid"] for entry in data["coding_schemes"].values()}
    return frozenset(data["uids"]) | frozenset(schemes)


def is_registered_uid(value: str) -> bool:
    """Whether the standard's registries (PS3.6 A-1, PS3.16 8-1) list ``value``."""
    return value.strip().rstrip("\x00") in registry_uids()


def keeps_uid(value: str, tag: int) -> bool:
    """Whether a UID value at ``tag`` is kept as is.

    Kept: a UID under the DICOM root, one the registries list, any value of a class-valued
    attribute; each only when well-formed.
    """
    text = value.strip().rstrip("\x00")
    if len(text) > 64 or not _UID_SYNTAX.fullmatch(text):
        return False
    return is_standard_uid(text) or is_registered_uid(text) or is_class_uid_tag(tag)
