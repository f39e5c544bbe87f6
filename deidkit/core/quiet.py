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


def silence_pydicom() -> None:
    """Silence pydicom's logger for the rest of this process (a worker's initializer).

    ``disabled`` covers only records of the "pydicom" logger itself; its children (the pixel
    decoders log tracebacks at ERROR) inherit its level, so the level silences them before
    they propagate to the root handlers.
    """
    # pydicom's first import sets its logger's level (config.debug(False)): import it
    # first, or a lazy import inside the quiet block would undo the level set here.
    import pydicom.config  # noqa: F401

    _PYDICOM_LOGGER.disabled = True
    _PYDICOM_LOGGER.setLevel(logging.CRITICAL + 1)


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's logger and warnings: both quote element values, i.e. PHI."""
    previous = _PYDICOM_LOGGER.disabled
    previous_level = _PYDICOM_LOGGER.level
    silence_pydicom()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        _PYDICOM_LOGGER.setLevel(previous_level)
        _PYDICOM_LOGGER.disabled = previous
