"""scrub with INPUT or OUTPUT as an fsspec URL (``s3://``, ``gs://``, ``memory://``).

The per-file pipeline is the local one: a worker reads each input's bytes through fsspec
(:class:`~deidkit.scrub.per_file.WorkerConfig` ``source``) and puts each finished output once
(``release``): a single object put is atomic on object stores, so no partial file is ever
visible, and a worker killed mid-batch leaves nothing behind. The run report and the action
log go beside OUTPUT as in a local run (``<OUTPUT>.run-report.json``,
``<OUTPUT>.actions.jsonl``): the log is written to a private local temp file and put once
the run is done. ``--linkage`` and ``--cohort-manifest`` hold identifiers and stay local
paths, on the machine that runs the command.

Resume: a non-empty URL OUTPUT is resumed when its run report has the same settings
fingerprint; outputs already present with the same bytes come back ``unchanged``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from deidkit.core.errors import OutputPathError, UsageError
from deidkit.core.io import OutputKind, check_output_path
from deidkit.core.locations import Location
from deidkit.core.runreport import (
    ACTION_LOG_SUFFIX,
    REPORT_FORMAT,
    RUN_REPORT_SUFFIX,
    RunReport,
    dump_report,
)

if TYPE_CHECKING:
    from deidkit.core.dask_executor import DaskCluster
    from deidkit.scrub.pipeline import RunOptions

__all__ = [
    "check_url_locations",
    "prepare_url_output",
    "url_action_log",
    "url_input_totals",
    "url_sidecar",
    "write_url_report",
]

_LOG_BUFFER: Final = 1 << 20


def url_sidecar(out: Location, suffix: str) -> Location:
    """The run report (``RUN_REPORT_SUFFIX``) or action log beside a URL OUTPUT."""
    return out.with_suffix_beside(suffix)


def check_url_locations(src: Location, out: Location, options: RunOptions) -> None:
    """The local location rules, for an INPUT or OUTPUT that is a URL.

    Raises
    ------
    UsageError
        INPUT does not exist, OUTPUT is, contains or lies inside INPUT, or memory:// is
        asked of a cluster whose workers are other processes. Messages name the scheme only.
    """
    if not (src.exists() if src.is_remote else src.local_path.exists()):
        raise UsageError("INPUT does not exist")
    if src.overlaps(out):
        raise OutputPathError("OUTPUT must not be, lie inside or contain INPUT")
    if not (src.shared and out.shared) and not _in_this_process(options.cluster):
        raise UsageError(
            "memory:// lives in this process: a Dask cluster's workers cannot see it "
            "(use s3://, gs:// or a shared folder, or run without --executor dask)"
        )
    inputs = {"INPUT": None if src.is_remote else src.local_path}
    releases = {"OUTPUT": None if out.is_remote else out.local_path}
    if not out.is_remote:
        check_output_path(out.local_path, option="OUTPUT", kind=OutputKind.TREE, inputs=inputs)
    sides = (
        ("--linkage", options.linkage_path, OutputKind.APPEND),
        ("--cohort-manifest", options.cohort_manifest, OutputKind.FILE),
    )
    for option, path, kind in sides:
        if path is not None:
            check_output_path(path, option=option, kind=kind, inputs=inputs,
                              releases=releases, sensitive=True, force=True)  # fmt: skip


def _in_this_process(cluster: DaskCluster | None) -> bool:
    """Whether every worker runs in this process (no cluster, or a cluster of threads)."""
    if cluster is None:
        return True
    pids = cluster.client.run(os.getpid)
    return bool(pids) and set(pids.values()) == {os.getpid()}


def url_input_totals(src: Location) -> tuple[int, int]:
    """How many files a URL INPUT holds, and their size (one streaming listing pass)."""
    files = size = 0
    for _path, _rel, length in src.walk():
        files += 1
        size += length
    return files, size


def prepare_url_output(out: Location, fingerprint: str) -> bool:
    """Check a non-empty URL OUTPUT was made with these settings; whether this resumes it.

    Raises
    ------
    OutputPathError
        OUTPUT holds files but no run report with the same settings fingerprint.
    """
    if out.is_empty():
        out.makedirs()
        return False
    previous = _read_report(url_sidecar(out, RUN_REPORT_SUFFIX))
    if previous is None or previous.get("settings_fingerprint") != fingerprint:
        raise OutputPathError(
            "OUTPUT is not empty and was not made by deidkit with the same profile, key and "
            "options; choose an empty OUTPUT (a run without a key file is never resumable)"
        )
    out.remove_temp_files()
    return True


def _read_report(where: Location) -> dict[str, Any] | None:
    data = where.read_root()
    if data is None:
        return None
    try:
        report = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        return None
    return report


def write_url_report(out: Location, report: RunReport) -> None:
    """Put the run report beside a URL OUTPUT (one atomic put).

    Raises
    ------
    OutputPathError
        The put failed (no permission, no bucket): named by the error's type only, as
        the backends' messages quote the URL.
    """
    where = url_sidecar(out, RUN_REPORT_SUFFIX)
    try:
        where.put_bytes(where.root, dump_report(report).encode("utf-8"))
    except Exception as exc:
        raise OutputPathError(
            f"OUTPUT: its run report cannot be written ({type(exc).__name__})"
        ) from exc


@contextlib.contextmanager
def url_action_log(out: Location) -> Iterator[IO[bytes]]:
    """A private local temp file for the action log, put beside OUTPUT when the run ends.

    On an exception nothing is put (as a local run publishes no partial log) and the temp
    file is removed.
    """
    where = url_sidecar(out, ACTION_LOG_SUFFIX)
    fd, name = tempfile.mkstemp(prefix="deidkit-actions-", suffix=".jsonl")  # 0600
    try:
        with os.fdopen(fd, "wb", buffering=_LOG_BUFFER) as handle:
            yield handle
        where.put_file(Path(name), where.root)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
