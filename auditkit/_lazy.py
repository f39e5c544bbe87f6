"""PEP 562 lazy exports: a package's ``__init__`` names its public API without importing it.

A package lists ``{name: "auditkit.module.path"}``; its module-level ``__getattr__`` imports
the module on first use and caches the value in the package, so ``import auditkit`` (or
``import auditkit.report``) stays cheap and heavy dependencies (torch, pandas, matplotlib)
load only when the name that needs them is used. Each such ``__init__`` also imports every
name under ``TYPE_CHECKING``, so type checkers and editors see the real objects.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any


def load_export(package: str, exports: Mapping[str, str], name: str) -> Any:
    """Import ``name`` from the module ``exports`` names and cache it in ``package``.

    Raises
    ------
    AttributeError
        If ``name`` is not one of the package's exports (the normal ``getattr`` miss).
    """
    module_name = exports.get(name)
    if module_name is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    setattr(sys.modules[package], name, value)
    return value


def export_dir(namespace: Mapping[str, Any], exports: Mapping[str, str]) -> list[str]:
    """``dir()`` of a lazy package: what is loaded plus every export."""
    return sorted(set(namespace) | set(exports))
