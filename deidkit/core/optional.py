"""Import optional dependencies with an error that names the feature and the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from deidkit.core.errors import MissingDependencyError


def import_optional(module: str, *, feature: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the optional package '{module}': pip install 'deidkit[{extra}]'"
        ) from exc
