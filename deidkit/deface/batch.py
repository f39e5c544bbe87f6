"""Plan and run a deface batch: one task per image group, in worker processes.

A failing or refused file is reported and the batch goes on. Nothing is ever written into
INPUT, and every output is written atomically (temp file + rename). The options, tasks and
results are defined in :mod:`deidkit.deface.tasks` (re-exported here); an image group is
defaced by :mod:`deidkit.deface.pipeline`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deidkit.core.errors import DeidkitError, UsageError
from deidkit.core.executor import Executor, LocalProcessExecutor, SerialExecutor
from deidkit.core.io import atomic_write_bytes, atomic_write_text, check_output_location
from deidkit.deface.bids import group_anat, is_bids_root, scrub_sidecar, wants_deface
from deidkit.deface.core import deface_raw
from deidkit.deface.dicom_series import is_dicom_file, read_series, series_bytes
from deidkit.deface.errors import BrainOverlapError, FaceStillDetectedError
from deidkit.deface.nifti_io import image_bytes, is_nifti_path, load_nifti
from deidkit.deface.pipeline import deface_nifti_group, flag_note, run_qc
from deidkit.deface.tasks import BAD_STATUSES, OK_STATUSES, DefaceOptions, FileResult, Task

__all__ = [
    "BAD_STATUSES",
    "OK_STATUSES",
    "DefaceOptions",
    "DefaceReport",
    "FileResult",
    "Task",
    "plan",
    "run_batch",
    "run_task",
]


@dataclass
class DefaceReport:
    """All file results of a run."""

    results: list[FileResult] = field(default_factory=list)

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


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path != root else path.name


def plan(source: Path, output: Path, options: DefaceOptions) -> list[Task]:
    """Turn INPUT into tasks (file, NIfTI folder, BIDS dataset or DICOM series folder).

    Raises
    ------
    UsageError
        If INPUT is missing or holds nothing to deface, or OUTPUT is unsafe.
    """
    if not source.exists():
        raise UsageError(f"INPUT {source.name} does not exist")
    check_output_location(source, output)
    if source.is_file():
        if not is_nifti_path(source):
            raise UsageError("a single INPUT file must be .nii or .nii.gz")
        return [Task("nifti", (source,), source.parent, output, options.applyto)]
    if options.applyto:
        raise UsageError("--applyto needs a single NIfTI INPUT (BIDS applies the T1w mask itself)")
    files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
    bids = is_bids_root(source)
    tasks: list[Task] = []
    images = [p for p in files if wants_deface(p, bids=bids)]
    for primary, others in group_anat(images):
        tasks.append(Task("nifti", (primary,), source, output, tuple(others)))
    grouped = {p for _, others in group_anat(images) for p in others} | set(images)
    dicom_dirs: dict[Path, list[Path]] = {}
    for path in files:
        if path in grouped:
            continue
        if is_nifti_path(path):
            tasks.append(Task("scrub_nifti", (path,), source, output))
        elif path.suffix.lower() == ".json":
            tasks.append(Task("sidecar", (path,), source, output))
        elif is_dicom_file(path) or path.suffix.lower() in (".dcm", ".ima"):
            # A .dcm without the preamble still may show a face: never copy it unchanged.
            dicom_dirs.setdefault(path.parent, []).append(path)
        else:
            tasks.append(Task("copy", (path,), source, output))
    for paths in dicom_dirs.values():
        tasks.append(Task("dicom", tuple(paths), source, output))
    if not any(t.kind in ("nifti", "dicom") for t in tasks):
        raise UsageError("INPUT holds no NIfTI image or DICOM series to deface")
    return tasks


def run_task(task: Task, options: DefaceOptions) -> list[FileResult]:
    """Run one task; errors become results, never exceptions."""
    first = _rel(task.sources[0], task.root)
    try:
        if task.kind == "nifti":
            return deface_nifti_group(task, options)
        if task.kind == "dicom":
            return _deface_dicom(task, options)
        dst = task.out_root / first
        if task.kind == "scrub_nifti":
            img = load_nifti(task.sources[0])
            atomic_write_bytes(dst, image_bytes(img, gz=dst.name.lower().endswith(".gz")))
            return [FileResult(first, "scrubbed")]
        if task.kind == "sidecar":
            try:
                data = json.loads(task.sources[0].read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise DeidkitError(f"{first}: not valid JSON") from exc
            clean = scrub_sidecar(data) if isinstance(data, dict) else data
            atomic_write_text(dst, json.dumps(clean, indent=2, sort_keys=False) + "\n")
            return [FileResult(first, "scrubbed")]
        dst.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(dst, task.sources[0].read_bytes())
        return [FileResult(first, "copied")]
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
    )
    record = run_qc(rel, series.raw, outcome, series.scaling, options)
    encoded = series_bytes(series, outcome.raw)
    for path, data in zip(series.paths, encoded, strict=True):
        atomic_write_bytes(task.out_root / _rel(path, task.root), data)
    return [FileResult(rel, "defaced", flag_note(f"{len(encoded)} slices", record), record)]


def _worker_init() -> None:
    # One BLAS/ITK thread per process: parallelism comes from processes, and
    # single-threaded registration is reproducible.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    np.seterr(all="ignore")


def run_batch(
    source: Path,
    output: Path,
    options: DefaceOptions,
    *,
    workers: int = 1,
    progress: Callable[[FileResult], None] | None = None,
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

    Returns
    -------
    DefaceReport
    """
    tasks = plan(source, output, options)
    output.mkdir(parents=True, exist_ok=True)
    report = DefaceReport()

    def collect(results: list[FileResult]) -> None:
        for r in results:
            report.results.append(r)
            if progress is not None:
                progress(r)

    heavy = [t for t in tasks if t.kind in ("nifti", "dicom")]
    light = [t for t in tasks if t.kind not in ("nifti", "dicom")]
    for task in light:
        collect(run_task(task, options))
    # Worker processes start from multiprocessing's default context, as they always have.
    executor: Executor = (
        SerialExecutor()
        if workers <= 1 or len(heavy) <= 1
        else LocalProcessExecutor(workers, initializer=_worker_init, start_method=None)
    )
    with executor:
        for results in executor.map(functools.partial(run_task, options=options), heavy):
            collect(results)
    report.results.sort(key=lambda r: r.path)
    return report
