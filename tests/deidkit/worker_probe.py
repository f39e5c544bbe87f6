"""Runs inside scrub workers: kept free of imports that the worker server leaves out."""

from __future__ import annotations

import sys


def loaded(names: tuple[str, ...]) -> dict[str, bool]:
    """Which of ``names`` are imported and usable in this process."""
    return {name: sys.modules.get(name) is not None for name in names}
