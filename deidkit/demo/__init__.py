"""The sample export (synthetic DICOM with planted PHI) and the demo that runs scrub, verify
and deface on it. Not a library stage: nothing else imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deidkit._lazy import lazy_exports

if TYPE_CHECKING:
    from deidkit.demo.run import (
        DemoResult,
        run_demo,
    )
    from deidkit.demo.sample import (
        SampleCorpus,
        generate_sample_corpus,
    )

_EXPORTS = {
    "SampleCorpus": "deidkit.demo.sample",
    "generate_sample_corpus": "deidkit.demo.sample",
    "DemoResult": "deidkit.demo.run",
    "run_demo": "deidkit.demo.run",
}

__all__ = [
    "DemoResult",
    "SampleCorpus",
    "generate_sample_corpus",
    "run_demo",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
