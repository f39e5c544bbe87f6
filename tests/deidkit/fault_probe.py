"""Stand-ins for scrub's worker function that make the worker die (os._exit), for fault tests.

They run in forkserver workers, which import this module by name; what they need from the
test comes through files beside OUTPUT (a worker does not see the test's globals).
"""

from __future__ import annotations

import os
from pathlib import Path

from deidkit.core.runreport import FileOutcome
from deidkit.scrub import per_file

#: Beside OUTPUT: the relative path of the input whose chunk kills its worker once.
DIE_AT = "die-at"
#: Beside OUTPUT: created by the worker that died.
DIED = "worker-died"


def run_chunk_dying_once(tasks: list[tuple[str, str]]) -> list[FileOutcome]:
    """Like ``run_chunk``, but the chunk holding the chosen file writes its first file and
    then kills its worker, once."""
    config = per_file._CONFIG
    assert config is not None
    beside = config.output.parent
    target = (beside / DIE_AT).read_text()
    if any(rel == target for _path, rel in tasks) and not (beside / DIED).exists():
        path, rel = tasks[0]
        per_file.process_file(Path(path), rel, config)  # written, then its worker is lost
        (beside / DIED).touch()
        os._exit(9)
    return per_file.run_chunk(tasks)


def run_chunk_always_dying(_tasks: list[tuple[str, str]]) -> list[FileOutcome]:
    """Every chunk kills its worker (a file that crashes its reader, every time)."""
    os._exit(9)
