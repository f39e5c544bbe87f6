"""Plan and run a deface batch: one task per image group, in worker processes.

A failing or refused file is reported and the batch goes on. Nothing is ever written into
INPUT, and every output is written atomically (temp file + rename). OUTPUT gets only what
the run produced: defaced images, their scrubbed sidecars, a BIDS dataset's scrubbed
``dataset_description.json`` and the run's report (:mod:`deidkit.deface.output`, which also
decides which OUTPUT folder may be written). Every other file of INPUT is left behind and
counted by kind, never named. The options, tasks and results are defined in
:mod:`deidkit.deface.tasks` (re-exported here); an image group is defaced by
:mod:`deidkit.deface.pipeline`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from deidkit.core.errors import DeidkitError, UsageError
from deidkit.core.executor import Executor, LocalProcessExecutor, SerialExecutor
from deidkit.core.io import atomic_write_bytes, check_output_location
from deidkit.deface.bids import (
    group_anat,
    in_selection,
    is_bids_root,
    left_behind_kind,
    participant_labels,
    sidecar_of,
    wants_deface,
)
from deidkit.deface.core import deface_raw
from deidkit.deface.dicom_series import is_dicom_file, read_series, series_bytes
from deidkit.deface.errors import BrainOverlapError, FaceStillDetectedError
from deidkit.deface.nifti_io import is_nifti_path
from deidkit.deface.output import prepare_output
from deidkit.deface.pipeline import deface_nifti_group, flag_note, run_qc, write_description
from deidkit.deface.resume import (
    RESUMABLE_KINDS,
    GroupJob,
    GroupOutcome,
    group_key,
    local_reader,
    reuse_or_run,
    settings_fingerprint,
)
from deidkit.deface.tasks import BAD_STATUSES, OK_STATUSES, DefaceOptions, FileResult, Task

if TYPE_CHECKING:
    from deidkit.core.dask_executor import DaskCluster

__all__ = [
    "BAD_STATUSES",
    "OK_STATUSES",
    "BatchPlan",
    "DefaceOptions",
    "DefaceReport",
    "FileResult",
    "ReportFolder",
    "Task",
    "TaskRunner",
    "execute_plan",
    "make_plan",
    "plan",
    "public_message",
    "run_batch",
    "run_group",
    "run_task",
]


@dataclass
class DefaceReport:
    """All file results of a run, and the kinds of the INPUT files it left behind."""

    results: list[FileResult] = field(default_factory=list)
    #: Files of INPUT not written to OUTPUT, counted by kind (``json``, ``table``, ...).
    left_behind: dict[str, int] = field(default_factory=dict)
    #: Image groups not defaced again: an earlier run into OUTPUT left them unchanged.
    reused: int = 0

    @property
    def outputs(self) -> list[str]:
        """Every file the run wrote, relative to OUTPUT, sorted."""
        return sorted(o for r in self.results for o in r.outputs)

    def to_json(self, *, show_paths: bool = False) -> dict[str, Any]:
        """``counts``, ``results`` and ``left_behind``, as ``deidkit deface --json`` prints.

        A result names its input by number (``input``: its 1-based place among the results,
        which are in path order), since input names can carry patient names; ``show_paths``
        adds the path (``path``) and leaves the messages as they are.
        """
        results = []
        for number, r in enumerate(self.results, start=1):
            entry: dict[str, Any] = {"input": number}
            entry.update((k, v) for k, v in asdict(r).items() if k != "outputs")
            if not show_paths:
                del entry["path"]
                entry["message"] = public_message(r, number)
            results.append(entry)
        return {"counts": self.counts(), "results": results, "left_behind": self.left_behind}

    @property
    def failed(self) -> list[FileResult]:
        """Results that make the run exit 1 (refused, flagged, failed)."""
        return [r for r in self.results if r.status in BAD_STATUSES]

    def counts(self) -> dict[str, int]:
        """Number of results per status."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts


def public_message(result: FileResult, number: int) -> str:
    """``result.message`` with the input's path and file name replaced by ``#number``.

    Messages name the file they are about (``sub-01_T1w.nii.gz: not a readable NIfTI
    image``); the number names it on stdout instead.
    """
    path = PurePosixPath(result.path)
    message = result.message
    for name in (str(path), path.name):  # the path first: it contains the name
        if name:
            message = message.replace(name, f"#{number}")
    return message


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else path.name


@dataclass(frozen=True)
class BatchPlan:
    """The tasks of a run and the kinds of the INPUT files no task writes."""

    tasks: list[Task]
    left_behind: dict[str, int]


def plan(source: Path, output: Path, options: DefaceOptions) -> list[Task]:
    """The tasks of :func:`make_plan` (file, NIfTI folder, BIDS dataset or DICOM series).

    Raises
    ------
    UsageError
        If INPUT is missing or holds nothing to deface, or OUTPUT is unsafe.
    """
    return make_plan(source, output, options).tasks


def _sidecars(images: list[Path], exists: Callable[[Path], bool]) -> tuple[Path, ...]:
    return tuple(s for s in (sidecar_of(p) for p in images) if exists(s))


def make_plan(source: Path, output: Path, options: DefaceOptions) -> BatchPlan:
    """Turn INPUT into tasks and count what no task writes.

    Raises
    ------
    UsageError
        If INPUT is missing or holds nothing to deface, or OUTPUT is unsafe.
    """
    if not source.exists():
        raise UsageError(f"INPUT {source.name} does not exist")
    check_output_location(source, output)
    labels = _selection(source, options)
    if source.is_file():
        if not is_nifti_path(source):
            raise UsageError("a single INPUT file must be .nii or .nii.gz")
        sidecars = _sidecars([source, *options.applyto], Path.is_file)
        task = Task("nifti", (source,), source.parent, output, options.applyto, sidecars)
        return BatchPlan([task], {})
    if options.applyto:
        raise UsageError("--applyto needs a single NIfTI INPUT (BIDS applies the T1w mask itself)")
    files = _selected_files(source, labels)
    tasks, used = _image_tasks(source, output, files)
    description = source / "dataset_description.json"
    if is_bids_root(source):
        tasks.append(Task("description", (description,), source, output))
        used.add(description)
    tasks.extend(_dicom_tasks(source, output, [p for p in files if p not in used], used))
    if not any(t.kind in ("nifti", "dicom") for t in tasks):
        raise UsageError("INPUT holds no NIfTI image or DICOM series to deface")
    left = Counter(left_behind_kind(p) for p in files if p not in used)
    return BatchPlan(tasks, dict(sorted(left.items())))


def _selection(source: Path, options: DefaceOptions) -> frozenset[str]:
    """The subjects a run is limited to (none: all), checked against INPUT.

    Raises
    ------
    UsageError
        If the BIDS-app form or ``--participant-label`` is used on something that is not a
        BIDS dataset, or a label names no subject folder (counted, never quoted).
    """
    bids = source.is_dir() and is_bids_root(source)
    if options.analysis_level is not None and not bids:
        raise UsageError(
            f"the {options.analysis_level} level needs a BIDS dataset: BIDS_DIR has no "
            "dataset_description.json"
        )
    labels = participant_labels(options.participant_labels)
    if labels and not bids:
        raise UsageError("--participant-label needs a BIDS dataset (dataset_description.json)")
    missing = sum(1 for label in labels if not (source / f"sub-{label}").is_dir())
    if missing:
        raise UsageError(f"{missing} --participant-label value(s) name no sub-<label> folder")
    return labels


def _selected_files(source: Path, labels: frozenset[str]) -> list[Path]:
    files = sorted(p for p in source.rglob("*") if p.is_file())
    return [p for p in files if in_selection(p.relative_to(source), labels)]


def _image_tasks(source: Path, output: Path, files: list[Path]) -> tuple[list[Task], set[Path]]:
    # Hidden files are never images to deface (nor sidecars); they are left behind.
    visible = [p for p in files if not p.name.startswith(".")]
    present = set(visible)
    bids = is_bids_root(source)
    images = [p for p in visible if wants_deface(p, bids=bids)]
    tasks: list[Task] = []
    used: set[Path] = set(images)
    for primary, others in group_anat(images):
        sidecars = _sidecars([primary, *others], present.__contains__)
        used.update(sidecars)
        tasks.append(Task("nifti", (primary,), source, output, tuple(others), sidecars))
    return tasks, used


def _dicom_tasks(source: Path, output: Path, files: list[Path], used: set[Path]) -> list[Task]:
    dicom_dirs: dict[Path, list[Path]] = {}
    for path in files:
        if path.name.startswith("."):
            continue
        if is_dicom_file(path) or path.suffix.lower() in (".dcm", ".ima"):
            # A .dcm without the preamble still may show a face: never copy it unchanged.
            dicom_dirs.setdefault(path.parent, []).append(path)
            used.add(path)
    return [Task("dicom", tuple(paths), source, output) for paths in dicom_dirs.values()]


# Defacing is not thread-safe: ITK and OpenCV keep process-wide settings and random state,
# so two heads defaced at once in threads of one process (a Dask worker's threads) could
# come out differently from a run that defaces them one after the other.
_ONE_HEAD_AT_A_TIME = threading.Lock()


def _run_task_alone(task: Task, options: DefaceOptions) -> list[FileResult]:
    with _ONE_HEAD_AT_A_TIME:
        return run_task(task, options)


def run_group(job: GroupJob, options: DefaceOptions) -> GroupOutcome:
    """Run a job's task into a local OUTPUT, or reuse what an earlier run wrote for it."""
    task = job.task
    return reuse_or_run(
        job,
        task,
        options,
        deface=functools.partial(_run_task_alone, task, options),
        at_output=local_reader(task.out_root),
    )


def run_task(task: Task, options: DefaceOptions) -> list[FileResult]:
    """Run one task; errors become results, never exceptions."""
    first = _rel(task.sources[0], task.root)
    try:
        if task.kind == "nifti":
            return deface_nifti_group(task, options)
        if task.kind == "dicom":
            return _deface_dicom(task, options)
        if task.kind == "description":
            return [write_description(task.sources[0], task.root, task.out_root, options)]
        raise DeidkitError(f"unknown task kind {task.kind!r}")
    except BrainOverlapError as exc:
        return [FileResult(first, "refused", str(exc))]
    except FaceStillDetectedError as exc:
        return [FileResult(first, "flagged", str(exc))]
    except DeidkitError as exc:
        return [FileResult(first, "failed", str(exc))]
    except Exception as exc:  # the batch goes on whatever one file does
        # Type only: messages of low-level errors may quote values from the file.
        return [FileResult(first, "failed", f"{type(exc).__name__} while processing")]


def _deface_dicom(task: Task, options: DefaceOptions) -> list[FileResult]:
    rel = _rel(task.sources[0].parent, task.root)
    series = read_series(list(task.sources))
    outcome = deface_raw(
        series.raw,
        series.grid,
        scaling=series.scaling,
        method=options.method,
        blur=options.blur,
        margin_mm=options.margin_mm,
        ears=options.ears,
    )
    record = run_qc(rel, series.raw, outcome, series.scaling, options)
    encoded = series_bytes(series, outcome.raw)
    names = [_rel(path, task.root) for path in series.paths]
    _write_all(task.out_root, names, encoded)
    note = flag_note(f"{len(encoded)} slices", record)
    return [FileResult(rel, "defaced", note, record, tuple(names))]


def _write_all(root: Path, names: list[str], encoded: list[bytes]) -> None:
    # All slices or none: half a series is a broken output that the report would not list.
    written: list[Path] = []
    try:
        for name, data in zip(names, encoded, strict=True):
            atomic_write_bytes(root / name, data)
            written.append(root / name)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise


def _worker_init() -> None:
    # One BLAS/ITK thread per process: parallelism comes from processes, and
    # single-threaded registration is reproducible.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    np.seterr(all="ignore")


def _report_document(
    report: DefaceReport,
    options: DefaceOptions,
    *,
    complete: bool,
    outputs: list[str],
    groups: dict[str, Any],
) -> dict[str, Any]:
    # Counts and options only: no path of INPUT, of the brain mask or of the QC folder.
    return {
        "complete": complete,
        "options": {
            "method": options.method,
            "blur": options.blur,
            "strict": options.strict,
            "margin_mm": options.margin_mm,
            "ears": options.ears,
            "brain_mask": options.brain_mask is not None,
            "qc": options.qc_dir is not None,
            "applyto": len(options.applyto),
            "profile": options.profile.name if options.profile is not None else "basic",
            "analysis_level": options.analysis_level,
            "participant_labels": sorted(participant_labels(options.participant_labels)),
        },
        "counts": report.counts(),
        "left_behind": report.left_behind,
        "outputs": outputs,
        "groups": dict(sorted(groups.items())),
    }


def run_batch(
    source: Path,
    output: Path,
    options: DefaceOptions,
    *,
    workers: int = 1,
    progress: Callable[[FileResult], None] | None = None,
    force: bool = False,
    cluster: DaskCluster | None = None,
) -> DefaceReport:
    """Deface INPUT into OUTPUT.

    Parameters
    ----------
    source, output
        INPUT (file or folder) and OUTPUT folder (must not overlap INPUT).
    options
        Method, brain mask, QC folder and flags.
    workers
        Worker processes (1 runs in this process).
    progress
        Called once per finished file result.
    force
        Write into a non-empty OUTPUT that is not an earlier deface output.
    cluster
        Deface the image groups (a DICOM series stays one task) on this Dask cluster
        instead of local processes; the same report and outputs.

    Returns
    -------
    DefaceReport

    Raises
    ------
    UsageError
        If INPUT holds nothing to deface, or OUTPUT is unsafe (also ``OutputPathError``:
        an existing file, or a foreign non-empty folder without ``force``).
    """
    planned = make_plan(source, output, options)
    folder = prepare_output(output, force=force)
    return execute_plan(planned, folder, options, workers=workers, progress=progress,
                        cluster=cluster)  # fmt: skip


class ReportFolder(Protocol):
    """Where a run's outputs and report go: a local OUTPUT folder or one at a URL."""

    @property
    def previous_outputs(self) -> tuple[str, ...]: ...

    @property
    def previous_records(self) -> dict[str, Any]: ...

    def write_report(self, document: dict[str, Any]) -> None: ...

    def tidy(self, outputs: set[str] | None) -> int: ...


class TaskRunner(Protocol):
    """Runs one job in a worker; must pickle (a module-level function or a partial of one).

    :func:`run_group` is the local one: it defaces the job's task, or reuses the earlier
    run's results when the job's record still holds (:mod:`deidkit.deface.resume`).
    """

    def __call__(self, job: GroupJob, options: DefaceOptions) -> GroupOutcome: ...


def execute_plan(
    planned: BatchPlan,
    folder: ReportFolder,
    options: DefaceOptions,
    *,
    workers: int = 1,
    progress: Callable[[FileResult], None] | None = None,
    cluster: DaskCluster | None = None,
    runner: TaskRunner | None = None,
) -> DefaceReport:
    """Run planned tasks into a prepared OUTPUT (:func:`run_batch` after its checks).

    ``runner`` replaces :func:`run_group`, e.g. to fetch a task's inputs from a URL first
    and put its outputs after (:mod:`deidkit.deface.remote`). An image group that an
    earlier run into OUTPUT finished, with the same settings and inputs and its outputs
    unchanged, is not defaced again (:mod:`deidkit.deface.resume`; counted in ``reused``).
    """
    report = DefaceReport(left_behind=planned.left_behind)
    previous = sorted(folder.previous_outputs)
    # Another participant's earlier outputs are not this run's to rewrite or remove.
    labels = participant_labels(options.participant_labels)
    others = [p for p in previous if not in_selection(Path(p), labels)]
    journal = _Journal(folder, report, options, previous)
    journal.write(complete=False)
    settings = settings_fingerprint(options)
    jobs = [GroupJob(t, settings, journal.previous_record(t)) for t in planned.tasks]
    try:
        _run_tasks(jobs, options, report, journal, workers=workers, progress=progress,
                   cluster=cluster, runner=runner)  # fmt: skip
    except BaseException:
        # Interrupted: keep every earlier output (the next run rewrites or removes them),
        # but list what this run wrote too, so that the next run can tell them apart, and
        # the records of the groups that finished, so that the next run skips them.
        folder.tidy(None)
        with contextlib.suppress(OSError):
            journal.write(complete=False)
        raise
    outputs = sorted({*report.outputs, *others})
    _count_unwritten_sidecars(planned.tasks, set(outputs), report.left_behind)
    folder.tidy(set(outputs))
    journal.keep_only({group_key(j.task) for j in jobs if _resumable(j.task)}, set(others))
    journal.write(complete=True, outputs=outputs)
    return report


def _resumable(task: Task) -> bool:
    return task.kind in RESUMABLE_KINDS


#: The report is rewritten as groups finish, but it grows with them: a rewrite waits until
#: about 20 times its own duration has passed, so rewriting costs about 5 % of the run.
_REWRITE_WAIT = 20.0


class _Journal:
    """The run report and the group records that go into it as groups finish."""

    def __init__(
        self,
        folder: ReportFolder,
        report: DefaceReport,
        options: DefaceOptions,
        previous: list[str],
    ) -> None:
        self._folder, self._report, self._options = folder, report, options
        self._previous = previous
        self._earlier = dict(folder.previous_records)
        self._records = dict(self._earlier)
        self._due = 0.0

    def previous_record(self, task: Task) -> dict[str, Any] | None:
        record = self._earlier.get(group_key(task)) if _resumable(task) else None
        return record if isinstance(record, dict) else None

    def write(self, *, complete: bool, outputs: list[str] | None = None) -> None:
        """Write the report; ``outputs`` None: the earlier run's and this run's so far."""
        known = sorted({*self._previous, *self._report.outputs}) if outputs is None else outputs
        started = time.monotonic()
        document = _report_document(self._report, self._options, complete=complete,
                                    outputs=known, groups=self._records)  # fmt: skip
        self._folder.write_report(document)
        now = time.monotonic()
        self._due = now + _REWRITE_WAIT * (now - started)

    def finished(self, task: Task, outcome: GroupOutcome) -> None:
        """Keep a finished group's record (or drop its stale one) and maybe rewrite."""
        if not _resumable(task):
            return
        key = group_key(task)
        if outcome.record is None:
            self._records.pop(key, None)
        else:
            self._records[key] = outcome.record
        self._report.reused += outcome.reused
        if time.monotonic() >= self._due:
            self.write(complete=False)

    def keep_only(self, planned: set[str], others: set[str]) -> None:
        """Drop records of groups this run did not plan, but for other participants' ones."""
        self._records = {
            key: record
            for key, record in self._records.items()
            if key in planned or _outputs_among(record, others)
        }


def _outputs_among(record: dict[str, Any], names: set[str]) -> bool:
    outputs = record.get("outputs")
    return isinstance(outputs, dict) and bool(outputs) and set(outputs) <= names


def _count_unwritten_sidecars(tasks: list[Task], written: set[str], left: dict[str, int]) -> None:
    # A sidecar goes only with its defaced image: one of a refused or failed image stays.
    for task in tasks:
        for sidecar in task.sidecars:
            rel = sidecar.relative_to(task.root) if sidecar.is_relative_to(task.root) else None
            name = rel.as_posix() if rel is not None else sidecar.name
            if name not in written:
                left["json"] = left.get("json", 0) + 1
    left_sorted = dict(sorted(left.items()))
    left.clear()
    left.update(left_sorted)


def _run_tasks(
    jobs: list[GroupJob],
    options: DefaceOptions,
    report: DefaceReport,
    journal: _Journal,
    *,
    workers: int,
    progress: Callable[[FileResult], None] | None,
    cluster: DaskCluster | None = None,
    runner: TaskRunner | None = None,
) -> None:
    def collect(job: GroupJob, outcome: GroupOutcome) -> None:
        for r in outcome.results:
            report.results.append(r)
            if progress is not None:
                progress(r)
        journal.finished(job.task, outcome)

    run: TaskRunner = runner or run_group
    heavy = [j for j in jobs if j.task.kind in ("nifti", "dicom")]
    light = [j for j in jobs if j.task.kind not in ("nifti", "dicom")]
    for job in light:
        collect(job, run(job, options))
    # Worker processes start from multiprocessing's default context, as they always have.
    executor: Executor = (
        cluster.executor(initializer=_worker_init, name="deface")
        if cluster is not None
        else SerialExecutor()
        if workers <= 1 or len(heavy) <= 1
        else LocalProcessExecutor(workers, initializer=_worker_init, start_method=None)
    )
    with executor:
        one = functools.partial(run, options=options)
        for job, outcome in zip(heavy, executor.map(one, heavy), strict=True):
            collect(job, outcome)
    report.results.sort(key=lambda r: r.path)
