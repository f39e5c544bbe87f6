"""Import optional dependencies with an error that names the feature and the extra.

The base install (``pip install deidkit-auditkit``) runs every console script and deidkit's
de-identification; the rest comes in extras (``pyproject.toml``). A command that reaches a
missing optional package says which extra installs it, whether the import went through
:func:`import_optional` or was a plain ``import`` somewhere below the command
(:func:`missing_dependency`, used by the CLI's error handling).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from types import MappingProxyType, ModuleType
from typing import Final

from deidkit.core.errors import MissingDependencyError

#: The distribution that installs the ``deidkit`` and ``auditkit`` packages. The PyPI
#: distributions named ``deidkit`` and ``auditkit`` are unrelated projects.
DISTRIBUTION: Final = "deidkit-auditkit"

#: deidkit's optional packages by import name, and the extra that installs each.
DEIDKIT_EXTRAS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "pandas": "tables",
        "pyarrow": "tables",
        "deid": "recipes",
        "SimpleITK": "deface",
        "cv2": "deface",
        "quickshear": "deface",
        "scipy": "deface",
        "PIL": "pixels",
        "pylibjpeg": "pixels",
        "fsspec": "cloud",
    }
)

# How many links of an exception's cause/context chain are searched for the import error.
_CHAIN_LIMIT: Final = 8


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_message(*, feature: str, module: str, extra: str) -> str:
    """One line naming the feature, the missing package, the extra and how to install it.

    The extra is named twice, once outside the brackets, so a console that reads brackets
    as markup still shows it.
    """
    package = module.partition(".")[0]  # the package is what is missing, not a submodule
    return (
        f"{feature} needs the optional package '{package}' of the '{extra}' extra: "
        f"{install_hint(extra)}"
    )


def import_optional(module: str, *, feature: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            missing_message(feature=feature, module=module, extra=extra)
        ) from exc


def require_extra(
    extra: str,
    *,
    feature: str,
    extras: Mapping[str, str] = DEIDKIT_EXTRAS,
    error: Callable[[str], Exception] = MissingDependencyError,
) -> None:
    """Raise ``error`` (a missing-dependency error) unless every package of ``extra`` is there.

    For commands that would otherwise write part of their output before reaching the
    package (``deidkit demo``); it looks the packages up without importing them.
    """
    for module, of_extra in extras.items():
        if of_extra == extra and importlib.util.find_spec(module) is None:
            raise error(missing_message(feature=feature, module=module, extra=extra))


def missing_module(exc: BaseException, extras: Mapping[str, str]) -> str | None:
    """The top-level name of the optional package whose import failed in ``exc``, if any.

    Only a :class:`ModuleNotFoundError` for one of ``extras`` counts (searched along the
    exception's cause and context); a missing module of deidkit's own is a bug, not an extra.
    """
    current: BaseException | None = exc
    for _ in range(_CHAIN_LIMIT):
        if current is None:
            return None
        if isinstance(current, ModuleNotFoundError) and current.name:
            top = current.name.partition(".")[0]
            if top in extras:
                return top
        current = current.__cause__ or current.__context__
    return None


def missing_dependency(
    exc: BaseException,
    *,
    feature: str = "this command",
    extras: Mapping[str, str] = DEIDKIT_EXTRAS,
) -> MissingDependencyError | None:
    """The typed error for an uncaught import of a missing optional package (else ``None``)."""
    module = missing_module(exc, extras)
    if module is None:
        return None
    return MissingDependencyError(
        missing_message(feature=feature, module=module, extra=extras[module])
    )
