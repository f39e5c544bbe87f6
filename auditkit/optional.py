"""auditkit's optional dependencies: which extra installs what, and errors that name it.

``auditkit evaluate``, ``report`` and ``gate`` need the ``eval`` extra (no torch);
``predict`` and ``demo`` need ``audit`` (``eval`` plus torch and MONAI). The console script
itself starts on the base install, and a command that reaches a missing package exits 1 with
a line naming the extra, whether the package was imported through :func:`import_optional` or
by a plain ``import`` below the command (:func:`missing_dependency`, used by the CLI).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Final

from auditkit.errors import MissingDependencyError
from deidkit.core import optional as _deidkit_optional

#: auditkit's optional packages by import name, and the extra that installs each.
AUDITKIT_EXTRAS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "pandas": "eval",
        "pyarrow": "eval",
        "scipy": "eval",
        "sklearn": "eval",
        "fairlearn": "eval",
        "jsonschema": "eval",
        "matplotlib": "eval",
        "torch": "audit",
        "monai": "audit",
    }
)


def import_optional(module: str, *, feature: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            _deidkit_optional.missing_message(feature=feature, module=module, extra=extra)
        ) from exc


#: What each extra adds to the ones it includes: ``audit`` is ``eval`` plus torch and MONAI.
_INCLUDES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"eval": ("eval",), "audit": ("eval", "audit")}
)


def require_extra(extra: str, *, feature: str) -> None:
    """Raise :class:`MissingDependencyError` unless every package of ``extra`` is installed.

    For commands that would otherwise write part of their output before reaching the
    package (``auditkit demo``); it looks the packages up without importing them.
    """
    for part in _INCLUDES[extra]:
        _deidkit_optional.require_extra(
            part, feature=feature, extras=AUDITKIT_EXTRAS, error=MissingDependencyError
        )


def missing_dependency(
    exc: BaseException, *, feature: str = "this command"
) -> MissingDependencyError | None:
    """The typed error for an uncaught import of a missing optional package (else ``None``)."""
    module = _deidkit_optional.missing_module(exc, AUDITKIT_EXTRAS)
    if module is None:
        return None
    return MissingDependencyError(
        _deidkit_optional.missing_message(
            feature=feature, module=module, extra=AUDITKIT_EXTRAS[module]
        )
    )
