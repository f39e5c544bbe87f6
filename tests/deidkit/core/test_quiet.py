"""pydicom's log records (they quote element values) never reach a handler while quiet."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# In a fresh interpreter: pydicom not yet imported, as in a CLI run or a spawned worker.
_PROBE = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s")
    from deidkit.core.quiet import {entry}
    {body}
    """
)


@pytest.mark.parametrize(
    ("entry", "body"),
    [
        (
            "quiet_pydicom",
            "with quiet_pydicom():\n"
            "    import pydicom.pixels.decoders.base as b\n"
            "    b.LOGGER.error('child record')\n"
            "    logging.getLogger('pydicom').error('parent record')",
        ),
        (
            "silence_pydicom",
            "silence_pydicom()\n"
            "import pydicom.pixels.decoders.base as b\n"
            "b.LOGGER.exception('child record')\n"
            "logging.getLogger('pydicom').warning('parent record')\n"
            "import warnings; warnings.warn('a warning record', UserWarning)",
        ),
    ],
)
def test_no_pydicom_record_is_emitted(entry: str, body: str) -> None:
    code = _PROBE.format(entry=entry, body=body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "record" not in done.stdout + done.stderr


def test_quiet_restores_the_logger() -> None:
    import logging

    import pydicom.config  # noqa: F401

    from deidkit.core.quiet import quiet_pydicom

    logger = logging.getLogger("pydicom")
    before = (logger.level, logger.disabled)
    with quiet_pydicom():
        assert not logging.getLogger("pydicom.pixels.decoders.base").isEnabledFor(logging.CRITICAL)
    assert (logger.level, logger.disabled) == before
