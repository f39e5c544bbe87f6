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

__all__ = ["quiet_pydicom"]

_PYDICOM_LOGGER: Final = logging.getLogger("pydicom")


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's logger and warnings: both quote element values, i.e. PHI."""
    previous = _PYDICOM_LOGGER.disabled
    _PYDICOM_LOGGER.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        _PYDICOM_LOGGER.disabled = previous
