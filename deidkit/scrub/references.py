"""The references a scrubbed instance holds, for the run report's reference counts.

A reference is a UID that names another instance, series, study or frame of reference:
Referenced SOP Instance UID and the Referenced / Related Frame of Reference UIDs at any
depth, and Study / Series Instance UID, Frame of Reference UID and SOP Instance UID inside
a sequence (Referenced Series Sequence, SR evidence, SEG per-frame sources, RT
references, ...). Read from the scrubbed dataset, so a reference removed with its
sequence is not one; only sequences and these tags are decoded (the walk has decoded the
sequences already), never the rest of a raw element.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterator
from typing import Any, Final

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset

from deidkit.core.runreport import FileReferences

__all__ = ["file_references", "uid_digest"]

_DICOM_ROOT: Final = "1.2.840.10008."
#: References wherever they are.
_ANY_DEPTH: Final = frozenset({0x00081155, 0x30060024, 0x300600C2})
#: A file's own identities at the top level; references to one inside a sequence.
_IDENTITIES: Final = (0x00080018, 0x0020000E, 0x0020000D, 0x00200052)
_NESTED: Final = _ANY_DEPTH | frozenset(_IDENTITIES)


def uid_digest(uid: str) -> bytes:
    """The 8-byte digest the run report's tally keeps for a UID (see FileReferences)."""
    return hashlib.blake2b(uid.encode("ascii", "replace"), digest_size=8).digest()


def file_references(ds: Dataset, remapped: Container[str]) -> FileReferences:
    """``ds``'s identities and references; ``remapped`` holds the UIDs the scrub made."""
    identities = tuple(uid_digest(uid) for tag in _IDENTITIES for uid in _uids(ds, tag) if uid)
    kept: list[bytes] = []
    made: list[bytes] = []
    for uid in _references(ds, nested=False):
        if uid and not uid.startswith(_DICOM_ROOT):
            (made if uid in remapped else kept).append(uid_digest(uid))
    return FileReferences(identities=identities, kept=tuple(kept), remapped=tuple(made))


def _references(ds: Dataset, *, nested: bool) -> Iterator[str]:
    wanted = _NESTED if nested else _ANY_DEPTH
    for tag, raw in ds.items():
        if (raw.VR or _dictionary_vr(int(tag))) == "SQ":
            for item in ds[tag].value or ():
                if isinstance(item, Dataset):
                    yield from _references(item, nested=True)
        elif int(tag) in wanted:
            yield from _uids(ds, int(tag))


def _dictionary_vr(tag: int) -> str | None:
    # an implicit-VR element nothing decoded yet carries no VR of its own
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def _uids(ds: Dataset, tag: int) -> list[str]:
    if tag not in ds:
        return []
    value: Any = ds[tag].value
    if value is None or isinstance(value, bytes):
        return []
    values = (
        list(value) if isinstance(value, list) or type(value).__name__ == "MultiValue" else [value]
    )
    return [str(v).strip().rstrip("\x00").strip() for v in values if v]
