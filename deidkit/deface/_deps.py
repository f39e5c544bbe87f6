"""Lazy imports of the optional ``deface`` extra, so ``import deidkit`` stays light."""

from __future__ import annotations

from types import ModuleType

from deidkit.core.optional import import_optional

_FEATURE = "deidkit deface"


def sitk() -> ModuleType:
    """Return the SimpleITK module, its filters single-threaded.

    ITK splits a filter's work by the number of threads, and the sums of its statistics and
    metrics then depend on that split, which depends on the machine's load: the same head
    could come out differently in two runs. Parallelism comes from processes instead.
    """
    module = import_optional("SimpleITK", feature=_FEATURE, extra="deface")
    module.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    return module


def cv2() -> ModuleType:
    """Return the OpenCV module (headless build)."""
    return import_optional("cv2", feature=_FEATURE, extra="deface")


def quickshear() -> ModuleType:
    """Return the quickshear module."""
    return import_optional("quickshear", feature=_FEATURE, extra="deface")


def dlib() -> ModuleType:
    """Return dlib (the ``dlib-bin`` wheel: its HOG face detector needs no model file)."""
    return import_optional("dlib", feature=_FEATURE, extra="deface")
