"""Lazy imports of the optional ``deface`` extra, so ``import deidkit`` stays light."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from deidkit.core.errors import MissingDependencyError
from deidkit.core.optional import import_optional

_FEATURE = "deidkit deface"


def sitk() -> ModuleType:
    """Return the SimpleITK module."""
    return import_optional("SimpleITK", feature=_FEATURE, extra="deface")


def cv2() -> ModuleType:
    """Return the OpenCV module (headless build)."""
    return import_optional("cv2", feature=_FEATURE, extra="deface")


def quickshear() -> ModuleType:
    """Return the quickshear module."""
    return import_optional("quickshear", feature=_FEATURE, extra="deface")


def pydeface_data() -> ModuleType:
    """Return the pydeface package (it ships the mean head and face mask)."""
    return import_optional("pydeface", feature=_FEATURE, extra="deface")


def nilearn_data_file(name: str) -> Path:
    """Path of a file in nilearn's shipped ``datasets/data`` folder, without importing nilearn.

    Importing nilearn pulls in scikit-learn and takes seconds; the template files are plain
    NIfTI files that nibabel reads directly.
    """
    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            f"{_FEATURE} needs the optional package 'nilearn': pip install 'deidkit[deface]'"
        )
    return Path(spec.origin).parent / "datasets" / "data" / name
