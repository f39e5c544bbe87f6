"""Silence pydicom while it reads patient data: its warnings and log messages quote values.

Used by every stage that parses DICOM (scrub's workers, verify, deface), so it lives here
rather than in one of them.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Final

__all__ = ["quiet_pydicom", "silence_pydicom"]

_PYDICOM_LOGGER: Final = logging.getLogger("pydicom")


def _silence_logger() -> None:
    # ``disabled`` covers only records of the "pydicom" logger itself; its children (the
    # pixel decoders log tracebacks at ERROR) inherit its level, so the level silences them
    # before they propagate to the root handlers. pydicom's first import sets that level
    # (config.debug(False)): import it first, or a lazy import would undo the level set here.
    import pydicom.config  # noqa: F401

    _PYDICOM_LOGGER.disabled = True
    _PYDICOM_LOGGER.setLevel(logging.CRITICAL + 1)


def silence_pydicom() -> None:
    """Silence pydicom's logger and warnings for the rest of this process (a worker).

    A spawned or forkserver worker starts with the default warning filters, not its
    parent's, so it needs its own; every warning goes, as any library reading patient data
    (pydicom, its pixel plugins, numpy on its values) may quote what it read.
    """
    _silence_logger()
    warnings.simplefilter("ignore")


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's logger and warnings: both quote element values, i.e. PHI."""
    previous = _PYDICOM_LOGGER.disabled
    previous_level = _PYDICOM_LOGGER.level
    _silence_logger()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        _PYDICOM_LOGGER.setLevel(previous_level)
        _PYDICOM_LOGGER.disabled = previous
