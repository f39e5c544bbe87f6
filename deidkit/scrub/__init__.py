"""Scrub: apply a profile to DICOM files, one file at a time, in parallel.

The path of one file: :mod:`~deidkit.scrub.inputs` finds and reads it (through the
:mod:`~deidkit.scrub.codec`), :func:`scrub_dataset` (:mod:`~deidkit.scrub.engine`) walks its
elements (:mod:`~deidkit.scrub.elements`), applying the code :mod:`deidkit.rules` decides
through the one action registry (:mod:`~deidkit.scrub.actions`), private-element rules
(:mod:`~deidkit.scrub.private`) and provenance (:mod:`~deidkit.scrub.provenance`); the
codec encodes it and :mod:`~deidkit.scrub.per_file` writes it atomically.
:func:`scrub_tree` (:mod:`~deidkit.scrub.pipeline`) is the one loop over files: it runs
chunks on the executor, settles duplicates (:mod:`~deidkit.scrub.duplicates`) and writes
the action log and the run report. :mod:`~deidkit.scrub.workers` exists only for speed
(forkserver start-up, read-ahead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deidkit._lazy import lazy_exports

if TYPE_CHECKING:
    from deidkit.scrub.actions import (
        REGISTRY,
        Action,
        lookup,
    )
    from deidkit.scrub.cache import (
        KeyedCache,
    )
    from deidkit.scrub.context import (
        ActionRecord,
        LinkagePair,
    )
    from deidkit.scrub.engine import (
        ScrubResult,
        scrub_dataset,
    )
    from deidkit.scrub.inputs import (
        iter_input_files,
        read_input,
    )
    from deidkit.scrub.per_file import (
        ScrubSettings,
        process_file,
    )
    from deidkit.scrub.pipeline import (
        RunOptions,
        ScrubSummary,
        count_input_files,
        scrub_tree,
    )

_EXPORTS = {
    "ScrubResult": "deidkit.scrub.engine",
    "scrub_dataset": "deidkit.scrub.engine",
    "ActionRecord": "deidkit.scrub.context",
    "LinkagePair": "deidkit.scrub.context",
    "REGISTRY": "deidkit.scrub.actions",
    "Action": "deidkit.scrub.actions",
    "lookup": "deidkit.scrub.actions",
    "KeyedCache": "deidkit.scrub.cache",
    "iter_input_files": "deidkit.scrub.inputs",
    "read_input": "deidkit.scrub.inputs",
    "ScrubSettings": "deidkit.scrub.per_file",
    "process_file": "deidkit.scrub.per_file",
    "RunOptions": "deidkit.scrub.pipeline",
    "ScrubSummary": "deidkit.scrub.pipeline",
    "scrub_tree": "deidkit.scrub.pipeline",
    "count_input_files": "deidkit.scrub.pipeline",
}

__all__ = [
    "Action",
    "ActionRecord",
    "KeyedCache",
    "LinkagePair",
    "REGISTRY",
    "RunOptions",
    "ScrubResult",
    "ScrubSettings",
    "ScrubSummary",
    "count_input_files",
    "iter_input_files",
    "lookup",
    "process_file",
    "read_input",
    "scrub_dataset",
    "scrub_tree",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
