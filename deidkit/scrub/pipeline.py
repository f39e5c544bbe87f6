"""The batch loop: walk -> read -> scrub -> write atomically -> log. The only loop over files.

:func:`scrub_tree` streams the input tree in chunks through worker processes (a
:class:`~deidkit.core.executor.LocalProcessExecutor`; one worker: this process), keeping a
bounded number of chunks in flight, and handles outcomes in walk order so the action log
is deterministic. Two inputs that map to one output are settled in walk order
(:mod:`deidkit.scrub.duplicates`). Nothing is held per file except the short lists of files
that need attention (held back, skipped, burned-in), so memory stays flat in corpus size.

Determinism and resume: every output's bytes and path are a pure function of the input
file, the key and the profile, and every write is atomic. A re-run with the same settings
into the same OUTPUT therefore finds finished files byte-identical (``unchanged``, not
rewritten), removes temp files an interrupted run left, and writes the rest, ending with
the same tree an uninterrupted run writes. The settings fingerprint is stored in the run
report at the start of a run; a re-run with other settings into a non-empty OUTPUT is
refused rather than mixing two releases.

Faults: everything that can be checked is checked before the first file is written (INPUT
holds files, the locations are writable, the linkage file opens with the key, the release
fits on the disk). A worker process that dies mid-run (killed, out of memory) costs its
chunks a retry on fresh workers, at most :data:`WORKER_RETRIES` times each; the files it
had already written come back ``unchanged``. A run that fails leaves its run report at
``failed``; temp files (owner-only) are removed by the next run into the same OUTPUT.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, cast

from deidkit import __version__
from deidkit.core.errors import (
    InsufficientSpaceError,
    NothingToDoError,
    OutputPathError,
    UsageError,
    WorkerLostError,
)
from deidkit.core.executor import Executor, LocalProcessExecutor, SerialExecutor
from deidkit.core.io import OutputKind, atomic_open, check_output_path
from deidkit.core.locations import Location
from deidkit.core.quiet import quiet_pydicom
from deidkit.core.runreport import (
    ACTION_LOG_SUFFIX,
    REPORT_FORMAT,
    RUN_REPORT_SUFFIX,
    STATUS_UNCHANGED,
    STATUS_WRITTEN,
    ActionLog,
    FileOutcome,
    RunCounts,
    RunReport,
    RunTally,
    action_log_path,
    dump_report,
    read_run_report,
    run_report_path,
)
from deidkit.rules.standard import TABLE_EDITION
from deidkit.scrub.duplicates import DuplicateSettler
from deidkit.scrub.inputs import iter_input_paths
from deidkit.scrub.per_file import (
    ScrubSettings,
    WorkerConfig,
    init_worker,
    process_file,
    profile_record,
    run_chunk,
)
from deidkit.scrub.pixel_step import PIXEL_WORKERS_ENV
from deidkit.scrub.remote import (
    check_url_locations,
    prepare_url_output,
    url_action_log,
    url_input_totals,
    url_sidecar,
    write_url_report,
)
from deidkit.scrub.workers.prestart import WORKER_PRELOAD
from deidkit.scrub.workers.readahead import ReadAhead

if TYPE_CHECKING:
    from deidkit.core.dask_executor import DaskCluster

__all__ = ["RunOptions", "ScrubSettings", "ScrubSummary", "count_input_files", "scrub_tree"]

_TEMP_FILE: Final = re.compile(r"^\.tmp-.*\.part$")
# How often the background flush runs while files are processed (see BackgroundSync). Measured
# on the bench corpus: the less dirty data piles up, the cheaper each output write is (0.25 s:
# ~0.5 ms per file, 2 s: ~1 ms, no flush until the end: ~2 ms); below 0.2 s nothing changes.
SYNC_INTERVAL_SECONDS = 0.25
_LOG_BUFFER: Final = 1 << 20
#: How often one chunk is run again after the worker running it died (each retry is on a
#: fresh pool); a chunk lost more often stops the run (a file that kills its reader, or a
#: machine out of memory).
WORKER_RETRIES: Final = 2
# (absolute path, path relative to INPUT) of the files one worker call scrubs, in walk order.
_Chunk = list[tuple[str, str]]


class BackgroundSync:
    """Flush written data to disk from a thread while the batch goes on.

    The release is made durable by one ``os.sync()`` before the run report says
    "complete". Left to the very end, that sync waits for the whole release to reach the
    disk after all the work is done; flushing every ``interval`` seconds meanwhile
    (``os.sync`` releases the GIL) overlaps the writeback with the scrubbing, so the final
    sync has little left to do. The final sync is never skipped: this only moves work
    earlier. Use as a context manager; the thread is stopped and joined on exit, also when
    the body raises (including ``KeyboardInterrupt``).

    Parameters
    ----------
    interval
        Seconds between two flushes.
    sync
        The flush (``os.sync``); tests pass a recorder.
    """

    def __init__(
        self, interval: float = SYNC_INTERVAL_SECONDS, sync: Callable[[], None] = os.sync
    ) -> None:
        self._interval = interval
        self._sync = sync
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deidkit-sync", daemon=True)
        self.flushes = 0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sync()
            self.flushes += 1

    def __enter__(self) -> BackgroundSync:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the thread and wait until a flush in progress has finished."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def running(self) -> bool:
        """Whether the flushing thread is still alive."""
        return self._thread.is_alive()


@dataclass(frozen=True)
class RunOptions:
    """How to run (does not change the bytes of the release)."""

    workers: int | None = None  # None: os.cpu_count()
    dry_run: bool = False
    chunk_size: int = 16
    linkage_path: Path | None = None
    cohort_manifest: Path | None = None
    min_cell_size: int | None = None
    #: Run the chunks on this Dask cluster instead of local processes (same bytes).
    cluster: DaskCluster | None = None


@dataclass(frozen=True)
class ScrubSummary:
    """The result of :func:`scrub_tree`: counts, files needing attention, report paths."""

    input: Path | str  # a URL (str) when INPUT was one
    output: Path | str
    report: RunReport = field(repr=False)
    run_report: Path | str | None
    action_log: Path | str | None

    @property
    def counts(self) -> RunCounts:
        """found / released / written / unchanged / dry_run / held_back / skipped counts."""
        return self.report["counts"]

    @property
    def exit_code(self) -> int:
        """0 when every file was released or skipped on purpose, 1 when any was held back."""
        return 1 if self.counts["held_back"] else 0

    def to_json(self, *, show_paths: bool = False) -> dict[str, Any]:
        """The summary ``deidkit scrub --json`` prints.

        A held-back or skipped file is named by its number, ``input`` (its 1-based position
        in the walk, as in the run report beside the release, which has its path): input
        paths often carry patient names. ``show_paths`` adds each file's path (``source``).
        """
        report = self.report

        def entries(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if show_paths:
                return [dict(entry) for entry in listed]
            return [{k: v for k, v in entry.items() if k != "source"} for entry in listed]

        return {
            "exit_code": self.exit_code,
            "counts": self.counts,
            "references": report.get("references"),
            "reasons": report.get("reasons", {}),
            "held_back": entries(report.get("held_back", [])),
            "skipped": entries(report.get("skipped", [])),
            "profile": report["profile"]["name"],
            "table_edition": report["table_edition"],
            "key_fingerprint": report["key"]["fingerprint"],
            "unlinkable": report["unlinkable"],
            "output": str(self.output),
            "run_report": str(self.run_report) if self.run_report else None,
            "action_log": str(self.action_log) if self.action_log else None,
            "resumed": report.get("resumed", False),
            "cohort_manifest": report.get("cohort_manifest"),
        }


def count_input_files(root: Path) -> int:
    """Number of files :func:`scrub_tree` will visit (a listing pass, for progress bars)."""
    return sum(1 for _ in iter_input_paths(root))


def _check_locations(source: Path, output: Path, options: RunOptions) -> None:
    if not source.exists():
        raise UsageError(f"INPUT {source} does not exist")
    inputs = {"INPUT": source}
    check_output_path(output, option="OUTPUT", kind=OutputKind.TREE, inputs=inputs)
    side_outputs = (
        ("--linkage", options.linkage_path, OutputKind.APPEND),
        ("--cohort-manifest", options.cohort_manifest, OutputKind.FILE),
    )
    for option, path, kind in side_outputs:
        if path is not None:
            # An existing manifest is replaced (a resumed run rewrites it); the CLI asks for
            # --force before it gets here.
            check_output_path(
                path,
                option=option,
                kind=kind,
                inputs=inputs,
                releases={"OUTPUT": output},
                sensitive=True,
                force=True,
            )


def _input_totals(src: Location) -> tuple[int, int]:
    """How many files the scrub will visit, and their total size (the release's estimate)."""
    if src.is_remote:
        return url_input_totals(src)
    source = src.local_path
    files = size = 0
    for path, _rel in iter_input_paths(source):
        files += 1
        with contextlib.suppress(OSError):  # unreadable now: the scrub will hold it back
            size += os.stat(path).st_size
    return files, size


def _existing_folder(path: Path) -> Path:
    """``path`` or its nearest existing ancestor: where a ``mkdir -p`` of it would begin."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _check_writable(path: Path, name: str) -> None:
    folder = _existing_folder(path)
    if not folder.is_dir():
        raise OutputPathError(f"{name} lies under a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{name}: its folder is not writable")


def _check_output_writable(output: Path | None, options: RunOptions) -> None:
    """The release, the reports beside it and the side outputs can all be written.

    ``output`` is ``None`` when it is a URL: only the side outputs are checked here.
    """
    if output is not None:
        output = output.absolute()
        _check_writable(output, "OUTPUT")
        _check_writable(output.parent, "OUTPUT (its run report and action log go beside it)")
    for name, extra in (("--linkage", options.linkage_path), ("--cohort-manifest",
                        options.cohort_manifest)):  # fmt: skip
        if extra is None:
            continue
        where = Path(extra).absolute()
        if where.exists() and not where.is_file():
            raise OutputPathError(f"{name} exists and is not a regular file")
        if where.exists() and not os.access(where, os.W_OK):
            raise OutputPathError(f"{name} is not writable")
        _check_writable(where.parent, name)


def _free_bytes(folder: Path) -> int:
    # One indirection so tests can pretend the disk is full.
    return shutil.disk_usage(folder).free


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total


def _check_space(output: Path, needed: int) -> None:
    """Refuse a run whose release (estimated: the size of INPUT) cannot fit on the disk."""
    free = _free_bytes(_existing_folder(output.absolute()))
    if needed <= free:
        return
    if output.is_dir():
        needed -= _tree_bytes(output)  # a resumed run rewrites nothing that is there already
    if needed > free:
        raise InsufficientSpaceError(
            f"the release needs about {_megabytes(needed)} (the size of INPUT) but the file "
            f"system of OUTPUT has {_megabytes(free)} free"
        )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.0f} MB" if size >= 1e6 else f"{size / 1e3:,.1f} kB"


def _prepare_output(output: Path, settings: ScrubSettings, report_file: Path) -> bool:
    """Check a non-empty OUTPUT was made with these settings; clear stale temp files.

    Returns whether this run resumes an earlier one.
    """
    if not output.is_dir() or not any(output.iterdir()):
        return False
    previous = read_run_report(report_file)
    if previous is None or previous.get("settings_fingerprint") != settings.fingerprint():
        raise OutputPathError(
            f"OUTPUT {output} is not empty and was not made by deidkit with the same profile, "
            "key and options; choose an empty OUTPUT (a run without a key file is never resumable)"
        )
    _remove_temp_files(output)
    return True


def _remove_temp_files(output: Path) -> None:
    """Remove unfinished atomic writes (of an interrupted run, or of a lost worker)."""
    for folder, _dirs, files in os.walk(output):
        for name in files:
            if _TEMP_FILE.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))


def _fragment_prefix(sidecar: Path) -> str:
    # The temp files of the reports beside OUTPUT carry the report's name, so a later run
    # into the same OUTPUT can tell its own leftovers from anybody else's temp files.
    return f".tmp-{sidecar.name}-"


def _remove_fragments(output: Path) -> None:
    """Remove the temp files a killed run left beside OUTPUT (they name input files)."""
    sidecars = (run_report_path(output), action_log_path(output))
    prefixes = tuple(_fragment_prefix(sidecar) for sidecar in sidecars)
    if not sidecars[0].parent.is_dir():
        return
    with os.scandir(sidecars[0].parent) as entries:
        stale = [
            entry.path
            for entry in entries
            if entry.name.startswith(prefixes)
            and entry.name.endswith(".part")
            and entry.is_file(follow_symlinks=False)
        ]
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _write_report(path: Path, report: RunReport) -> None:
    with atomic_open(path, prefix=_fragment_prefix(path)) as handle:
        handle.write(dump_report(report).encode("utf-8"))


def _input_paths(src: Location | Path) -> Iterator[tuple[str, str]]:
    """``(path, relative path)`` in walk order: local paths, or a URL INPUT's fsspec paths."""
    if isinstance(src, Path):
        return iter_input_paths(src)
    if src.is_remote:
        return ((path, rel) for path, rel, _size in src.walk())
    return iter_input_paths(src.local_path)


def _chunks(src: Location | Path, size: int) -> Iterator[_Chunk]:
    chunk: _Chunk = []
    for item in _input_paths(src):
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _series_batches(src: Location | Path, *, least: int, most: int) -> Iterator[_Chunk]:
    """Walk-order batches that end where a folder (a PACS export's series) ends.

    A batch closes at a change of folder once it holds ``least`` files, and always at
    ``most``: a series larger than that is split into consecutive batches. That is safe,
    because an output depends on its own input only and duplicates are settled in walk
    order on the client; keeping a series together keeps its identical action lists in
    one result (sent once, see :func:`deidkit.scrub.per_file.run_chunk`).
    """
    chunk: _Chunk = []
    folder = ""
    for item in _input_paths(src):
        here = item[1].rpartition("/")[0]
        if chunk and (len(chunk) >= most or (here != folder and len(chunk) >= least)):
            yield chunk
            chunk = []
        folder = here
        chunk.append(item)
    if chunk:
        yield chunk


def _handed_out(chunks: Iterable[_Chunk], ahead: ReadAhead) -> Iterator[_Chunk]:
    # Each chunk's files are read ahead from the moment it is handed to a worker.
    for chunk in chunks:
        ahead.add(path for path, _rel in chunk)
        yield chunk


def _scrub_here(config: WorkerConfig, chunk: _Chunk) -> Iterator[FileOutcome]:
    for path, rel in chunk:
        yield process_file(path, rel, config)


@dataclass
class _RunStats:
    """What the batch loop learns about the workers (read once the loop is done)."""

    restarts: int = 0


def _outcomes(
    src: Location, config: WorkerConfig, options: RunOptions, stats: _RunStats
) -> Iterator[FileOutcome]:
    """Yield outcomes in walk order, with at most ``2 * workers`` chunks in flight.

    A lost worker's chunks run again on fresh workers (see :data:`WORKER_RETRIES`); the
    temp files it left in OUTPUT are removed once all chunks are done.
    """
    if options.cluster is not None:
        yield from _cluster_outcomes(src, config, options.cluster, options, stats)
        return
    workers = max(1, options.workers or os.cpu_count() or 1)
    if not _shared(config):
        workers = 1  # memory:// lives in this process: worker processes would not see it
    chunk_size = max(1, options.chunk_size)
    executor: Executor
    work: Callable[[_Chunk], Iterable[FileOutcome]]
    if workers == 1:
        # In this process, file by file: each outcome as soon as its file is done.
        executor, work = SerialExecutor(), functools.partial(_scrub_here, config)
    else:
        # Workers fork from a forkserver that has imported the engine (WORKER_PRELOAD); the
        # CLI may have started it already (deidkit.scrub.workers.prestart): same server.
        if config.settings.clean_pixels and os.environ.get(PIXEL_WORKERS_ENV) != "1":
            # The forkserver is one per process and may already run without pixel decoders
            # (a plain scrub's server leaves numpy out); only the CLI, which knows its flags
            # before the server starts, gets one with decoders. Elsewhere: fresh processes.
            executor = LocalProcessExecutor(
                workers, initializer=init_worker, initargs=(config,), start_method="spawn"
            )
        else:
            executor = LocalProcessExecutor(
                workers, preload=WORKER_PRELOAD, initializer=init_worker, initargs=(config,)
            )
        work = run_chunk
    with executor, ReadAhead() as ahead:
        chunks = _chunks(src, chunk_size)
        if not src.is_remote:  # the page cache is warmed for local files only
            chunks = _handed_out(chunks, ahead)
        results = executor.imap(work, chunks, window=2 * workers, retries=WORKER_RETRIES)
        try:
            for outcomes in results:
                yield from outcomes
        except WorkerLostError as exc:
            raise WorkerLostError(
                f"{exc}; the files released so far are kept: re-run the same command to resume"
            ) from exc
        finally:
            stats.restarts = executor.restarts
        if executor.restarts and not config.dry_run:
            _remove_release_temp_files(config)


#: A Dask task holds from ``chunk_size`` files (closed at a folder change) to this many times
#: ``chunk_size`` (always closed). A task costs the scheduler about a millisecond; the default
#: 16 to 64 files take some 50 to 200 ms to scrub.
CLUSTER_BATCH_FACTOR: Final = 4


def _cluster_outcomes(
    src: Location,
    config: WorkerConfig,
    cluster: DaskCluster,
    options: RunOptions,
    stats: _RunStats,
) -> Iterator[FileOutcome]:
    """:func:`_outcomes` on a Dask cluster: series batches, same order, same retries.

    No read-ahead here: the workers, not this client, read the files (on their machines).
    """
    least = max(1, options.chunk_size)
    most = least * CLUSTER_BATCH_FACTOR
    with cluster.executor(initializer=init_worker, initargs=(config,), name="scrub") as executor:
        batches = _series_batches(src, least=least, most=most)
        window = 2 * executor.workers
        try:
            for outcomes in executor.imap(run_chunk, batches, window=window,
                                          retries=WORKER_RETRIES):  # fmt: skip
                yield from outcomes
        except WorkerLostError as exc:
            raise WorkerLostError(
                f"{exc}; the files released so far are kept: re-run the same command to resume"
            ) from exc
        finally:
            stats.restarts = executor.restarts
        if not config.dry_run:
            if config.release is None:
                # The release reaches the workers' disks (their page caches are not ours).
                executor.run_on_workers(os.sync)
            if executor.restarts:
                _remove_release_temp_files(config)


def _shared(config: WorkerConfig) -> bool:
    """Whether worker processes see INPUT and OUTPUT (``memory://`` is this process's)."""
    return all(place is None or place.shared for place in (config.source, config.release))


def _remove_release_temp_files(config: WorkerConfig) -> None:
    if config.release is not None:
        config.release.remove_temp_files()
    else:
        _remove_temp_files(config.output)


def _report(
    src: Location,
    out: Location,
    settings: ScrubSettings,
    options: RunOptions,
    *,
    status: str,
    started: str,
    tally: RunTally | None = None,
    extra: dict[str, Any] | None = None,
) -> RunReport:
    key = settings.key
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "status": status,
        "tool": {"name": "deidkit", "version": __version__, "command": "scrub"},
        "table_edition": TABLE_EDITION,
        "profile": profile_record(settings.profile),
        "recipe": settings.recipe_name,
        "key": {"fingerprint": key.fingerprint, "source": key.source},
        "unlinkable": key.ephemeral,
        "settings_fingerprint": settings.fingerprint(),
        "options": {
            "allow_burned_in": settings.allow_burned_in,
            "clean_pixels": settings.clean_pixels,
            "dry_run": options.dry_run,
            "workers": options.workers or os.cpu_count() or 1,
            "linkage": options.linkage_path is not None,
            "cohort_manifest": options.cohort_manifest is not None,
            "min_cell_size": options.min_cell_size,
        },
        "input": _shown(src),
        "output": _shown(out),
        "started": started,
    }
    if tally is not None:
        report.update(
            {
                "finished": _now(),
                "counts": tally.counts(),
                "references": tally.references.counts(),
                "modalities": dict(sorted(tally.by_modality.items())),
                "reasons": dict(sorted(tally.by_reason.items())),
                "held_back": tally.held_back,
                "skipped": tally.skipped,
                "burned_in": tally.burned_in,
                "warnings": dict(sorted(tally.warnings.items())),
            }
        )
    report.update(extra or {})
    return cast(RunReport, report)  # the keys above are RunReport's, extra adds its optional ones


def _shown(place: Location) -> str:
    """A location as the run report records it: an absolute local path, or the URL."""
    return place.url if place.is_remote else str(place.local_path.absolute())


def _given(place: Location) -> Path | str:
    return place.url if place.is_remote else place.local_path


def _sync() -> None:
    # One indirection so tests can observe the flushes (the final one and the background ones).
    os.sync()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def scrub_tree(
    source: Path | str,
    output: Path | str,
    *,
    settings: ScrubSettings,
    options: RunOptions | None = None,
    on_outcome: Callable[[FileOutcome], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ScrubSummary:
    """De-identify every DICOM file under ``source`` into ``output``.

    Parameters
    ----------
    source
        The input tree (never modified) or a single file: a path, or (a ``str``) an fsspec
        URL (``s3://bucket/export``; :mod:`deidkit.scrub.remote`).
    output
        The release folder: ``<patient>/<study>/<series>/<instance>.dcm`` from new
        identifiers only. Must not be, contain or lie inside ``source``. A path or a URL.
    settings
        Profile, key and burned-in policy: they decide the output bytes.
    options
        Workers, dry run, chunk size and the optional linkage / cohort-manifest outputs.
    on_outcome
        Called in the parent once per input file, in walk order (progress bars).
    on_total
        Called once with the number of input files, after the checks and before the first
        file is scrubbed (progress bars).

    Returns
    -------
    ScrubSummary
        Counts, held-back and skipped files with reason codes, and the report paths.

    Raises
    ------
    UsageError
        Unsafe or unwritable locations, or a non-empty OUTPUT made with other settings.
    NothingToDoError
        INPUT holds no file.
    LinkageError
        The linkage file does not open with the key (or is not a linkage file).
    InsufficientSpaceError
        The release (estimated: the size of INPUT) does not fit on OUTPUT's file system.
    WorkerLostError
        A chunk's worker died more than :data:`WORKER_RETRIES` times.

    Every error but the last is raised before anything is written.
    """
    options = options or RunOptions()
    src, out = Location.parse(source, option="INPUT"), Location.parse(output, option="OUTPUT")
    files, sinks = _preflight(src, out, settings, options)
    started = _now()
    resumed = False
    if not options.dry_run:
        resumed = _start_release(out, settings)
        start = _report(src, out, settings, options, status="running", started=started)
        _publish_report(out, start)
    if on_total is not None:
        on_total(files)
    try:
        return _run(src, out, settings, options, sinks, on_outcome=on_outcome,
                    started=started, resumed=resumed)  # fmt: skip
    except Exception as exc:
        if not options.dry_run:
            failed = _report(src, out, settings, options, status="failed",
                             started=started, extra={"error": type(exc).__name__})  # fmt: skip
            with contextlib.suppress(OSError, UsageError):  # keep the original error
                _publish_report(out, failed)
        raise


def _start_release(out: Location, settings: ScrubSettings) -> bool:
    """Check a non-empty OUTPUT can be resumed and clear what a killed run left; resumed?"""
    if out.is_remote:
        return prepare_url_output(out, settings.fingerprint())
    output = out.local_path
    resumed = _prepare_output(output, settings, run_report_path(output))
    _remove_fragments(output)
    output.mkdir(parents=True, exist_ok=True)
    return resumed


def _publish_report(out: Location, report: RunReport) -> None:
    if out.is_remote:
        write_url_report(out, report)
    else:
        _write_report(run_report_path(out.local_path), report)


def _sidecars(out: Location) -> tuple[Path | str, Path | str]:
    """The run report and action log beside OUTPUT, as the summary names them."""
    if out.is_remote:
        return (url_sidecar(out, RUN_REPORT_SUFFIX).url, url_sidecar(out, ACTION_LOG_SUFFIX).url)
    return run_report_path(out.local_path), action_log_path(out.local_path)


def _check_pixel_tools() -> None:
    """--clean-pixels reads text: without Tesseract the run stops here, before any write."""
    from deidkit.pixels.ocr import tesseract_version

    tesseract_version()


def _preflight(
    src: Location, out: Location, settings: ScrubSettings, options: RunOptions
) -> tuple[int, _Sinks]:
    """Every check that can fail a run, before it writes anything; the number of files."""
    if src.is_remote or out.is_remote:
        check_url_locations(src, out, options)
    else:
        _check_locations(src.local_path, out.local_path, options)
    files, size = _input_totals(src)
    if not files:
        raise NothingToDoError("INPUT holds no files: nothing to do")
    if settings.clean_pixels:
        _check_pixel_tools()
    sinks = _Sinks(settings, options)
    if not options.dry_run:
        # An object store has neither folders to check nor a free-space figure.
        output = None if out.is_remote else out.local_path
        _check_output_writable(output, options)
        sinks.check()
        if output is not None:
            _check_space(output, size)
    return files, sinks


def _run(
    src: Location,
    out: Location,
    settings: ScrubSettings,
    options: RunOptions,
    sinks: _Sinks,
    *,
    on_outcome: Callable[[FileOutcome], None] | None,
    started: str,
    resumed: bool,
) -> ScrubSummary:
    """The batch itself, once every check passed and the run report says ``running``."""
    report_file, log_file = _sidecars(out)
    config = WorkerConfig(
        settings=settings,
        output=Path(out.root),
        dry_run=options.dry_run,
        want_linkage=options.linkage_path is not None,
        want_cohort=options.cohort_manifest is not None,
        source=src if src.is_remote else None,
        release=out if out.is_remote else None,
    )
    tally = RunTally()
    stats = _RunStats()
    clock = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(quiet_pydicom())
        handle: IO[bytes] | None = None
        if not options.dry_run and out.is_remote:
            handle = stack.enter_context(url_action_log(out))
        elif not options.dry_run:
            local_log = Path(log_file)
            # one write per MiB, not per line: each write can wait on the background flush
            handle = stack.enter_context(
                atomic_open(local_log, buffering=_LOG_BUFFER, prefix=_fragment_prefix(local_log))
            )
            # Entered last, so it stops first: before the action log is closed and published.
            stack.enter_context(BackgroundSync(SYNC_INTERVAL_SECONDS, sync=_sync))
        log = ActionLog(handle)
        settler = DuplicateSettler(Path(src.root), config)
        for raw_outcome in _outcomes(src, config, options, stats):
            outcome = settler.settle(raw_outcome)
            tally.add(outcome)
            log.write(outcome)
            sinks.add(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        extra = sinks.close()
    extra["resumed"] = resumed
    extra["elapsed_seconds"] = round(time.perf_counter() - clock, 3)
    if stats.restarts:
        extra["worker_restarts"] = stats.restarts
    report = _report(src, out, settings, options, status="complete", started=started,
                     tally=tally, extra=extra)  # fmt: skip
    if options.dry_run:
        return ScrubSummary(_given(src), _given(out), report, None, None)
    if not out.is_remote:
        _sync()  # the release reaches the disk before the report says "complete"
    _publish_report(out, report)
    return ScrubSummary(_given(src), _given(out), report, report_file, log_file)


class _Sinks:
    """The optional outputs fed from outcomes in the parent: linkage store, cohort manifest."""

    _BATCH = 512

    def __init__(self, settings: ScrubSettings, options: RunOptions) -> None:
        self._linkage: Any = None
        self._cohort: Any = None
        self._pending: list[Any] = []
        if options.dry_run:
            return
        if options.linkage_path is not None:
            from deidkit.pseudonymise.linkage import LinkageStore

            self._linkage = LinkageStore(options.linkage_path, key=settings.key)
        if options.cohort_manifest is not None:
            from deidkit.pseudonymise.cohort import CohortManifestWriter

            self._cohort = CohortManifestWriter(
                options.cohort_manifest, min_cell_size=options.min_cell_size
            )

    def check(self) -> None:
        """Raise now what the first append would (wrong key, other project, not a linkage)."""
        if self._linkage is not None:
            self._linkage.check_writable()

    def add(self, outcome: FileOutcome) -> None:
        if outcome.status not in (STATUS_WRITTEN, STATUS_UNCHANGED):
            return
        if self._linkage is not None and outcome.linkage:
            from deidkit.pseudonymise.linkage import LinkageEntry

            self._pending.extend(LinkageEntry(*pair) for pair in outcome.linkage)
            if len(self._pending) >= self._BATCH:
                self._flush()
        if self._cohort is not None and outcome.ids is not None:
            patient, study, series = outcome.ids
            self._cohort.add(patient_pseudonym=patient, study_uid=study, series_uid=series,
                             attributes=dict(outcome.cohort or {}))  # fmt: skip

    def _flush(self) -> None:
        if self._pending:
            self._linkage.append(self._pending)
            self._pending = []

    def close(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self._linkage is not None:
            self._flush()
            extra["linkage_file"] = self._linkage.path.name
        if self._cohort is not None:
            cohort = self._cohort.close()
            extra["cohort_manifest"] = {"file": cohort.path.name, **_cohort_counts(cohort)}
        return extra


def _cohort_counts(cohort: Any) -> dict[str, Any]:
    data = cohort.to_dict() if hasattr(cohort, "to_dict") else {}
    return {k: v for k, v in data.items() if k != "path"}
