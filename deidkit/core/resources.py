"""Locate the data shipped with the package: profiles, report templates, standard tables.

``profiles/`` and ``reports/`` live at the repository's top level. A wheel carries them as
``deidkit/_shipped/{profiles,reports}``; an editable install finds them beside the package.
"""

from __future__ import annotations

from pathlib import Path

# deidkit/ (this module lives in deidkit/core/).
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def shipped_dir(name: str) -> Path:
    """Return the folder of shipped data ``name`` ("profiles" or "reports").

    Raises
    ------
    FileNotFoundError
        If neither the wheel layout nor the source layout has it.
    """
    for candidate in (_PACKAGE_DIR / "_shipped" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped folder '{name}' not found next to {_PACKAGE_DIR}")


def data_file(name: str) -> Path:
    """Return a file vendored into ``deidkit/data`` (the PS3.15 / PS3.3 tables)."""
    path = _PACKAGE_DIR / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"vendored data file '{name}' is missing")
    return path
