"""PEP 562 lazy exports: a package's ``__init__`` names its public API without importing it.

A stage package lists ``{name: "deidkit.stage.module"}``; its module-level ``__getattr__``
imports the module on first use and caches the value in the package. ``import deidkit.scrub``
therefore loads neither pydicom nor the engine: the scrub CLI's parent process never needs
them, and the scrub workers' server must import them itself, after it has kept numpy out
(:mod:`deidkit.scrub.workers.server`). Each ``__init__`` also imports every name under
``TYPE_CHECKING``, so type checkers and editors see the real objects.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` serving ``exports`` on first use."""

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
