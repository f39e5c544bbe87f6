"""Vendor normalisation: the Manufacturer spellings seen in the wild -> one name per company.

The table is data (``auditkit/data/vendors.yaml``, see its header for the matching rule), so a
spelling the shipped table lacks is a line in a user file (``--vendor-table FILE``), not a code
change. ``auditkit predict`` normalises the ``manufacturer`` column with it, and
``auditkit evaluate --normalise-vendor COLUMN`` applies it to predictions made elsewhere.

Numpy/torch-free and pandas-free: it runs on the base install, under every stage.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from auditkit.errors import UsageError
from auditkit.inputs import read_text

SHIPPED_TABLE: Final = "vendors.yaml"
_DROPPED: Final = re.compile(r"[.'’]")
_SPACED: Final = re.compile(r"[\W_]+")


def canonical_text(value: str) -> str:
    """A spelling reduced to what matching compares: ``"G.E. Medical_Systems"`` -> ``"GE MEDICAL
    SYSTEMS"``."""
    text = _DROPPED.sub("", str(value).upper())
    return " ".join(_SPACED.sub(" ", text).split())


@dataclass(frozen=True)
class VendorTable:
    """Spellings (canonical text) -> vendor name; build with :func:`load_vendor_table`.

    ``overrides`` (a user's table) are tried before ``spellings``, so a user's short spelling
    beats a longer shipped one ("TOSHIBA" -> "Toshiba" over the shipped "TOSHIBA MEC").
    """

    spellings: Mapping[str, str]
    overrides: Mapping[str, str] = field(default_factory=dict)

    def normalise(self, value: str | None) -> str:
        """The vendor name of ``value``; unknown spellings come back stripped, ``None`` -> ``""``.

        The longest spelling that is the whole value or its first words wins.
        """
        if value is None:
            return ""
        text = str(value).strip()
        words = canonical_text(text).split()
        for layer in (self.overrides, self.spellings):
            for end in range(len(words), 0, -1):
                name = layer.get(" ".join(words[:end]))
                if name is not None:
                    return name
        return text

    def merged(self, other: Mapping[str, str]) -> VendorTable:
        """This table with ``other``'s spellings tried first."""
        return VendorTable(spellings=self.spellings, overrides={**self.overrides, **other})


def parse_vendor_table(document: Any, *, source: str) -> dict[str, str]:
    """Spellings of a vendors YAML document (``{"vendors": {NAME: [SPELLING, ...]}}``).

    Raises
    ------
    UsageError
        The document does not have that shape; the message names ``source``, never a value.
    """
    vendors = document.get("vendors") if isinstance(document, dict) else None
    if not isinstance(vendors, dict) or not vendors:
        raise UsageError(
            f"vendor table {source}: expected a 'vendors' mapping of name -> spellings"
        )
    spellings: dict[str, str] = {}
    for name, values in vendors.items():
        if not isinstance(name, str) or not isinstance(values, list):
            raise UsageError(f"vendor table {source}: each vendor needs a list of spellings")
        for value in [name, *values]:
            key = canonical_text(str(value))
            if key:
                spellings[key] = name
    return spellings


@functools.cache
def _shipped() -> VendorTable:
    import yaml

    text = resources.files("auditkit").joinpath("data", SHIPPED_TABLE).read_text(encoding="utf-8")
    return VendorTable(spellings=parse_vendor_table(yaml.safe_load(text), source=SHIPPED_TABLE))


def load_vendor_table(extra: str | Path | None = None) -> VendorTable:
    """The shipped table, extended by the YAML file ``extra`` when given.

    Raises
    ------
    InputFileError
        ``extra`` is missing or unreadable.
    UsageError
        ``extra`` is not YAML of the table's shape.
    """
    import yaml

    table = _shipped()
    if extra is None:
        return table
    name = Path(extra).name
    text = read_text(extra, what="vendor table")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        raise UsageError(f"vendor table {name} is not valid YAML") from None
    return table.merged(parse_vendor_table(document, source=name))


def normalise_vendor(value: str | None, table: VendorTable | None = None) -> str:
    """``value`` through ``table`` (the shipped one when ``None``)."""
    return (table or _shipped()).normalise(value)
