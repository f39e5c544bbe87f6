"""Which UIDs name something the standard (or a registry) defines, not an instance.

A UID under the DICOM root ``1.2.840.10008.`` is defined by the standard itself: SOP
classes, transfer syntaxes, well-known instances, context groups, DICOM coding schemes. It
identifies no patient, and remapping it breaks the file (no viewer recognises a SOP class
with a ``2.25.`` UID). pydicom's UID dictionary lags the standard, so the root decides, not
a list. Attributes whose value is a class, a coding scheme or a mapping resource (SNOMED CT,
LOINC, ... are not under the DICOM root) keep their value whatever it is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

__all__ = ["DICOM_ROOT", "is_class_uid_tag", "is_standard_uid", "keeps_uid"]

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


def keeps_uid(value: str, tag: int) -> bool:
    """Whether a UID value at ``tag`` is kept as is (standard UID or class-valued attribute)."""
    text = value.strip().rstrip("\x00")
    if len(text) > 64 or not _UID_SYNTAX.fullmatch(text):
        return False
    return is_standard_uid(text) or is_class_uid_tag(tag)
