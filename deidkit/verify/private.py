"""Which private elements the verifier accepts under Retain Safe Private (PS3.15 E.3.10).

A private element may stay in a release only when the profile retains safe private and
either Table E.3.10-1 lists it (creator, group, element-in-block) or the instance itself
declares it non-identifying in the Private Data Element Characteristics Sequence
(0008,0300), per PS3.3 C.12.1.1.7:

* each item names a block by Private Group Reference (0008,0301) and Private Creator
  Reference (0008,0302);
* Block Identifying Information Status (0008,0303) ``SAFE`` declares every element of
  the block non-identifying; ``UNSAFE`` declares none; ``MIXED`` declares exactly the
  elements listed in Nonidentifying Private Elements (0008,0304), given as element numbers
  within the block (the low byte; a full element number is reduced to it).

Elements listed as identifying (Deidentification Action Sequence, (0008,0305)) are never
accepted: a verifier cannot tell whether their action was applied, so they stay findings.
Declarations in the top-level data set apply at every depth; a nested item's own sequence
adds to them for that item. This is the verifier's own reading of the attribute, written
apart from the scrubber's (deidkit.scrub.private), so one cannot hide a bug in the other.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from deidkit.rules.standard import safe_private_table
from deidkit.verify.records import element_text

#: ``(group, creator, element byte)``; element byte None: the whole block is declared safe.
Declared = frozenset[tuple[int, str, int | None]]
NO_DECLARATIONS: Declared = frozenset()

TAG_CHARACTERISTICS = 0x00080300
_GROUP_REF = 0x00080301
_CREATOR_REF = 0x00080302
_BLOCK_STATUS = 0x00080303
_NONIDENTIFYING = 0x00080304


def _ints(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, bytes):  # raw US values, little endian
        return [int.from_bytes(value[i : i + 2], "little") for i in range(0, len(value) - 1, 2)]
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        return []


def declared_safe_private(ds: Dataset) -> Declared:
    """The private elements ``ds`` declares non-identifying in (0008,0300); never raises."""
    if TAG_CHARACTERISTICS not in ds:
        return NO_DECLARATIONS
    found: set[tuple[int, str, int | None]] = set()
    try:
        items = ds[TAG_CHARACTERISTICS].value or []
    except Exception:  # noqa: BLE001 - a malformed declaration declares nothing
        return NO_DECLARATIONS
    for item in items:
        try:
            groups = _ints(item[_GROUP_REF].value) if _GROUP_REF in item else []
            creator = element_text(item.get(_CREATOR_REF))
            status = element_text(item.get(_BLOCK_STATUS)).upper()
            listed = _ints(item[_NONIDENTIFYING].value) if _NONIDENTIFYING in item else []
        except Exception:  # noqa: BLE001 - skip a malformed item, keep the others
            continue
        if len(groups) != 1 or groups[0] % 2 == 0 or not creator:
            continue
        group = groups[0]
        if status == "SAFE":
            found.add((group, creator, None))
        elif status == "MIXED":
            found.update((group, creator, element & 0xFF) for element in listed)
    return frozenset(found)


def block_declared(declared: Declared, group: int, creator: str) -> bool:
    """Whether any element of the block (group, creator) is declared safe."""
    return any(g == group and c == creator for g, c, _ in declared)


def element_safe(declared: Declared, creator: str, group: int, element_byte: int) -> bool:
    """Whether a private data element is on Table E.3.10-1 or declared safe by the instance."""
    if (creator, group, element_byte) in safe_private_table():
        return True
    return (group, creator, None) in declared or (group, creator, element_byte) in declared
