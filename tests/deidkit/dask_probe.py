"""Stand-ins for scrub's worker function that kill their Dask worker process, for fault tests.

Dask workers import this module by name (the test tree is on their ``sys.path``); what they
need from the test comes through files beside OUTPUT.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from deidkit.core.runreport import FileOutcome
from deidkit.scrub import per_file

#: Beside OUTPUT: created by the worker that killed itself.
DIED = "dask-worker-died"


def run_chunk_killed_once(tasks: list[tuple[str, str]]) -> list[FileOutcome]:
    """Like ``run_chunk``, but the first batch to run writes one file and half of another
    (a temp file), then SIGKILLs its worker process, once per OUTPUT."""
    config = per_file._CONFIG
    assert config is not None
    marker = config.output.parent / DIED
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return per_file.run_chunk(tasks)
    os.close(fd)
    path, rel = tasks[0]
    outcome = per_file.process_file(Path(path), rel, config)
    if outcome.output is not None:
        (config.output / outcome.output).parent.joinpath(".tmp-killed.part").write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")  # pragma: no cover
