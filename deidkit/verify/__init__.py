"""Verify: prove that a release holds no residual PHI, without trusting the scrubber.

:func:`verify_release` scans every released file (:mod:`~deidkit.verify.files`,
:mod:`~deidkit.verify.checks`, :mod:`~deidkit.verify.patterns`,
:mod:`~deidkit.verify.private`), optionally against the originals
(:mod:`~deidkit.verify.originals`, :mod:`~deidkit.verify.structure`) and scores it the way
the MIDI-B scorer does (:mod:`~deidkit.verify.score`); :func:`render_release_report`
writes the HTML release report. verify never imports :mod:`deidkit.scrub`: it reads the
rules and the key, not the scrubber's code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deidkit._lazy import lazy_exports

if TYPE_CHECKING:
    from deidkit.verify.records import (
        FileReport,
        Finding,
    )
    from deidkit.verify.release import (
        VerifyResult,
        verify_release,
    )
    from deidkit.verify.report import (
        ReleaseSummary,
        render_release_report,
    )
    from deidkit.verify.score import (
        IdentifierMap,
        ScoreCounts,
    )

_EXPORTS = {
    "VerifyResult": "deidkit.verify.release",
    "verify_release": "deidkit.verify.release",
    "Finding": "deidkit.verify.records",
    "FileReport": "deidkit.verify.records",
    "ReleaseSummary": "deidkit.verify.report",
    "render_release_report": "deidkit.verify.report",
    "IdentifierMap": "deidkit.verify.score",
    "ScoreCounts": "deidkit.verify.score",
}

__all__ = [
    "FileReport",
    "Finding",
    "IdentifierMap",
    "ReleaseSummary",
    "ScoreCounts",
    "VerifyResult",
    "render_release_report",
    "verify_release",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
