"""Lazy imports of the optional ``deface`` extra, so ``import deidkit`` stays light."""

from __future__ import annotations

from types import ModuleType

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


def dlib() -> ModuleType:
    """Return dlib (the ``dlib-bin`` wheel: its HOG face detector needs no model file)."""
    return import_optional("dlib", feature=_FEATURE, extra="deface")
