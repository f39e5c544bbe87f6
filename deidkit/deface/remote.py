"""A deface run whose INPUT or OUTPUT is an fsspec URL (``s3://``, ``gs://``, ``memory://``).

The defacing code stays the local one; only where files come from and go to changes:

* **Plan.** A URL INPUT is listed once (:meth:`Location.walk`) into a *skeleton*: the same
  relative names as empty files in a private temp folder (0700), a non-NIfTI, non-JSON
  file with its first 132 bytes (the DICOM magic the planner looks for). The local planner
  (:func:`~deidkit.deface.batch.make_plan`) turns it into the tasks, selection and
  left-behind counts a local run of the same tree would have.
* **One image group per task.** A worker (the client, in process) copies the group's files
  (a NIfTI and its sidecar, a DICOM series folder) into its own private temp folder, defaces
  them with :func:`~deidkit.deface.batch.run_task`, puts each output to a URL OUTPUT with one
  put per file (:meth:`Location.put_file`: atomic on object stores) and removes the copy.
  A group whose put fails is held back (``failed``, the error's type only) with none of its
  files left at OUTPUT, as a local series is written whole or not at all.
* **OUTPUT at a URL** follows the local folder's rules (:mod:`deidkit.deface.output`): new,
  empty or an earlier deface output (its ``.deidkit-deface.json``), else ``force``; a rerun
  skips the groups the earlier run finished (:mod:`deidkit.deface.resume`: the group is
  fetched, its outputs read back and checked against their recorded digests), defaces the
  rest and removes the stale outputs an earlier run listed.

``memory://`` is one process's memory: the local executor then runs in process whatever
``workers`` says, and a Dask cluster must be threads of this process. ``--qc``,
``--brain-mask`` and ``--applyto`` stay local paths. No message names more of a URL than
its scheme.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import posixpath
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deidkit.core.errors import OutputPathError, UsageError
from deidkit.core.locations import Location
from deidkit.core.metadata import is_nifti_path
from deidkit.deface.batch import DefaceReport, execute_plan, make_plan, run_task
from deidkit.deface.bids import sidecar_of
from deidkit.deface.output import (
    ERR_FILE,
    ERR_FOREIGN,
    REPORT_FORMAT,
    REPORT_NAME,
    REPORT_TOOL,
    listed_outputs,
    prepare_output,
    previous_records,
)
from deidkit.deface.resume import GroupJob, GroupOutcome, Reader, local_reader, reuse_or_run
from deidkit.deface.tasks import DefaceOptions, FileResult, Task

if TYPE_CHECKING:
    from deidkit.core.dask_executor import DaskCluster
    from deidkit.deface.batch import ReportFolder

__all__ = ["UrlOutputFolder", "UrlSides", "run_url_batch", "run_url_group", "run_url_task"]

#: Bytes of a file the planner reads (``is_dicom_file``: the magic at offset 128).
_HEAD = 132

# As batch: defacing keeps process-wide state (ITK, OpenCV), one head at a time.
_ONE_HEAD_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class UrlSides:
    """What a worker needs besides the task: where the task's planned paths really are.

    ``source`` is the URL folder holding INPUT's files (None: a local INPUT); ``output`` the
    URL OUTPUT (None: a local OUTPUT, written by the task itself).
    """

    source: Location | None
    output: Location | None


@dataclass
class UrlOutputFolder:
    """A URL OUTPUT as this run found it (as :class:`~deidkit.deface.output.OutputFolder`)."""

    out: Location
    previous_outputs: tuple[str, ...] = ()
    #: The earlier run's records of finished image groups (:mod:`deidkit.deface.resume`).
    previous_records: dict[str, Any] = field(default_factory=dict)

    def write_report(self, document: dict[str, Any]) -> None:
        """Put the run report (``document`` and the marker keys) as a local run writes it."""
        payload = {"tool": REPORT_TOOL, "format": REPORT_FORMAT, **document}
        text = json.dumps(payload, indent=2) + "\n"
        self.out.put_bytes(self.out.child(REPORT_NAME), text.encode("utf-8"))

    def tidy(self, outputs: set[str] | None) -> int:
        """Remove earlier outputs this run did not write again (None: keep all)."""
        removed = 0
        if outputs is not None:
            fs = self.out.fs
            for rel in self.previous_outputs:
                if rel not in outputs:
                    with contextlib.suppress(FileNotFoundError):
                        fs.rm_file(self.out.child(rel))
                        removed += 1
        self.out.remove_temp_files()
        return removed


def prepare_url_output(out: Location, *, force: bool) -> UrlOutputFolder:
    """:func:`~deidkit.deface.output.prepare_output` for a URL OUTPUT.

    Raises
    ------
    OutputPathError
        OUTPUT is a file, or holds files and no earlier deface report (without ``force``).
    """
    if out.is_file():
        raise OutputPathError(ERR_FILE)
    if out.is_empty():
        out.makedirs()
        return UrlOutputFolder(out)
    report = _read_url_report(out)
    if report is None:
        if not force:
            raise OutputPathError(ERR_FOREIGN)
        return UrlOutputFolder(out)
    return UrlOutputFolder(out, listed_outputs(report), previous_records(report))


def _read_url_report(out: Location) -> dict[str, Any] | None:
    try:
        data = json.loads(out.read_bytes(out.child(REPORT_NAME)))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("tool") != REPORT_TOOL:
        return None
    return data


def run_url_batch(
    source: str | Path,
    output: str | Path,
    options: DefaceOptions,
    *,
    workers: int = 1,
    progress: Callable[[FileResult], None] | None = None,
    force: bool = False,
    cluster: DaskCluster | None = None,
) -> DefaceReport:
    """:func:`~deidkit.deface.batch.run_batch` where INPUT and/or OUTPUT may be URLs.

    The same results, report and output bytes (same relative names) as a local run of the
    same files. Local paths on both sides run :func:`run_batch`'s local path unchanged.

    Raises
    ------
    UsageError
        An unknown protocol or a missing fsspec / backend (naming the package), a URL INPUT
        that does not exist, or ``memory://`` with a cluster of other processes.
    OutputPathError
        OUTPUT overlaps INPUT, is a file, or is foreign and non-empty without ``force``.
    """
    src = Location.parse(source, option="INPUT")
    out = Location.parse(output, option="OUTPUT")
    _check_locations(src, out, cluster)
    if not (src.shared and out.shared):
        workers = 1  # memory:// lives in this process: worker processes would not see it
    with tempfile.TemporaryDirectory(prefix="deidkit-deface-plan-") as scratch:
        place = Path(scratch)  # 0700: the skeleton holds input names
        planned_source, base = _planned_source(src, place / "in")
        planned_output = place / "out" if out.is_remote else out.local_path
        planned = make_plan(planned_source, planned_output, options)
        folder: ReportFolder = (
            prepare_url_output(out, force=force)
            if out.is_remote
            else prepare_output(out.local_path, force=force)
        )
        sides = UrlSides(base, out if out.is_remote else None)
        runner = functools.partial(run_url_group, sides=sides)
        return execute_plan(planned, folder, options, workers=workers, progress=progress,
                            cluster=cluster, runner=runner)  # fmt: skip


def _check_locations(src: Location, out: Location, cluster: DaskCluster | None) -> None:
    if src.is_remote and not src.exists():
        raise UsageError("INPUT does not exist")
    if src.overlaps(out):
        raise OutputPathError("OUTPUT must not be, lie inside or contain INPUT")
    if not (src.shared and out.shared) and not _in_this_process(cluster):
        raise UsageError(
            "memory:// lives in this process: a Dask cluster's workers cannot see it "
            "(use s3://, gs:// or a shared folder, or run without --executor dask)"
        )


def _in_this_process(cluster: DaskCluster | None) -> bool:
    """Whether every worker runs in this process (no cluster, or a cluster of threads)."""
    if cluster is None:
        return True
    pids = cluster.client.run(os.getpid)
    return bool(pids) and set(pids.values()) == {os.getpid()}


def _planned_source(src: Location, skeleton: Path) -> tuple[Path, Location | None]:
    """The local INPUT the planner sees, and the URL folder its relative names live in."""
    if not src.is_remote:
        return src.local_path, None
    skeleton.mkdir()
    if src.is_file():
        folder = posixpath.dirname(src.root)
        name = posixpath.basename(src.root)
        base = Location(src.protocol, folder)
        names = [name]
        sidecar = sidecar_of(Path(name)).name
        if sidecar != name and base.fs.isfile(base.child(sidecar)):
            names.append(sidecar)
        for each in names:
            (skeleton / each).touch()
        return skeleton / name, base
    for path, rel, _size in src.walk():
        parts = rel.split("/")
        if any(part in ("", ".", "..") for part in parts):
            continue  # an object key no folder can hold (as Location.download)
        target = skeleton.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_head(src, path, parts[-1]))
    return skeleton, src


def _head(src: Location, path: str, name: str) -> bytes:
    # The planner reads only the DICOM magic of files that are no NIfTI or JSON sidecar.
    if is_nifti_path(Path(name)) or name.lower().endswith(".json"):
        return b""
    head: bytes = src.fs.cat_file(path, start=0, end=_HEAD)
    return head


def run_url_task(task: Task, options: DefaceOptions, *, sides: UrlSides) -> list[FileResult]:
    """Fetch a task's files, deface them with :func:`run_task`, put the outputs; in a worker.

    Errors become results, never exceptions (as :func:`run_task`); messages of fetch and
    put failures give the error's type only (backends' messages quote URLs).
    """
    return run_url_group(GroupJob(task), options, sides=sides).results


def run_url_group(job: GroupJob, options: DefaceOptions, *, sides: UrlSides) -> GroupOutcome:
    """:func:`run_url_task`, or the earlier run's results where its record still holds.

    The group is fetched either way (its record is checked against the inputs' bytes); a
    skipped group's outputs are read back from OUTPUT to check their digests.
    """
    task = job.task
    first = _rel(task.sources[0], task.root)
    with tempfile.TemporaryDirectory(prefix="deidkit-deface-") as scratch:
        place = Path(scratch)  # 0700: the copies are the patient's images
        local = task
        if sides.source is not None:
            try:
                local = _fetched(task, sides.source, place / "in")
            except Exception as exc:
                failed = FileResult(first, "failed", f"{type(exc).__name__} while reading")
                return GroupOutcome([failed])
        if sides.output is not None:
            local = replace(local, out_root=place / "out")
        deface = functools.partial(_deface_and_put, local, options, sides.output)
        at_output = (
            local_reader(task.out_root) if sides.output is None else _url_reader(sides.output)
        )
        return reuse_or_run(job, local, options, deface=deface, at_output=at_output)


def _deface_and_put(task: Task, options: DefaceOptions, out: Location | None) -> list[FileResult]:
    with _ONE_HEAD_AT_A_TIME:
        results = run_task(task, options)
    return results if out is None else _put_outputs(results, task.out_root, out)


def _url_reader(out: Location) -> Reader:
    def read(rel: str) -> bytes | None:
        try:
            return out.read_bytes(out.child(rel))
        except (OSError, ValueError):  # FileNotFoundError among them; backends' own errors
            return None

    return read


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def _fetched(task: Task, source: Location, into: Path) -> Task:
    """The task with every planned INPUT path replaced by a local copy under ``into``."""

    def copy(path: Path) -> Path:
        if not path.is_relative_to(task.root):
            return path  # a local --applyto image
        rel = path.relative_to(task.root).as_posix()
        target = into / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes(source.child(rel)))
        return target

    return replace(
        task,
        sources=tuple(map(copy, task.sources)),
        root=into,
        applyto=tuple(map(copy, task.applyto)),
        sidecars=tuple(map(copy, task.sidecars)),
    )


def _put_outputs(results: list[FileResult], local: Path, out: Location) -> list[FileResult]:
    """Put every output of a group; a failed put holds the whole group back."""
    put: list[str] = []
    try:
        for result in results:
            for rel in result.outputs:
                out.put_file(local / rel, out.child(rel))
                put.append(rel)
    except Exception as exc:
        for rel in put:
            with contextlib.suppress(Exception):
                out.fs.rm_file(out.child(rel))
        message = f"{type(exc).__name__} while writing"
        return [replace(r, status="failed", message=message, outputs=()) if r.outputs else r
                for r in results]  # fmt: skip
    return results
