"""``deidkit verify``: an independent residual-PHI scanner for a release.

:func:`verify_release` walks every file of a release in parallel worker processes
(streaming: one file in memory per worker), runs the checks of
:mod:`deidkit.verify.checks` on it, and, when the originals are given, first collects their
PHI (:mod:`deidkit.verify.originals`) so every original value can be searched for, checks
reference integrity, study/series relationships and files missing without a reason, and
(with a mapping or the key) computes a MIDI-B-style score (:mod:`deidkit.verify.score`).
It also checks that the release is exactly what its scrub run reports having written
(:mod:`deidkit.verify.completeness`).

Each file is parsed once: the originals' harvest collects the score's facts in the same
walk that collects their PHI, and the release scanner collects the released side in its
own walk (:mod:`deidkit.verify.score_facts`); the main process scores the pairs. One pool
of worker processes serves both stages.

The result holds findings (file, tag path, check, severity; never a value) and turns into
the JSON output, the HTML release report and an exit code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from deidkit import __version__
from deidkit.core.errors import UsageError
from deidkit.core.executor import Executor, LocalProcessExecutor, SerialExecutor
from deidkit.core.keys import ProjectKey
from deidkit.core.quiet import quiet_pydicom
from deidkit.core.runreport import RunReport
from deidkit.rules.profile import Profile, load_profile
from deidkit.rules.standard import TABLE_EDITION
from deidkit.verify.completeness import (
    COMPLETENESS_NOT_CHECKED,
    Completeness,
    check_completeness,
)
from deidkit.verify.files import check_file, check_name
from deidkit.verify.ocr_check import CHECK_PIXEL_TEXT, OcrCheck, ocr_check, with_pixels_hidden
from deidkit.verify.originals import OriginalFile, OriginalHarvest, harvest_file
from deidkit.verify.records import (
    BASE_CHECKS,
    CHECK_FILE_NAME,
    CHECK_RUN_REPORT,
    COMPLETENESS_CHECKS,
    ORIGINAL_CHECKS,
    UNCHECKED_CHECKS,
    FileReport,
    Finding,
    OriginalIndex,
    Rules,
)
from deidkit.verify.report import ReleaseSummary

if TYPE_CHECKING:
    from deidkit.core.dask_executor import DaskCluster
from deidkit.verify.score import (
    IdentifierMap,
    ScoreCounts,
    load_mapping,
    score_facts,
    summarise,
)
from deidkit.verify.score_facts import ReleaseView
from deidkit.verify.structure import (
    CHECK_MISSING,
    RELEASE_CHECKS,
    compare_with_originals,
    release_structure,
)
from deidkit.verify.urls import local_copies

logger = logging.getLogger(__name__)

FAIL_ON = ("warn", "error")
RUN_REPORT_SUFFIX = ".run-report.json"
#: Below this many files the checks run in this process (starting workers costs more).
SERIAL_LIMIT = 48

_T = TypeVar("_T")
_R = TypeVar("_R")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify_release`. Holds no value read from patient data.

    Attributes
    ----------
    findings : tuple of Finding
        Sorted by file, tag path and check.
    checks : tuple of str
        Every check that ran (so a zero count is evidence, not absence).
    per_modality : tuple of dict
        ``{"modality", "files", "errors", "warnings"}`` rows.
    score : Mapping or None
        The MIDI-B-style score, when originals and a mapping (or key) were given.
    completeness : str
        What the run report and action log beside the release allowed to check
        (:mod:`deidkit.verify.completeness`): "checked", "scrub-not-complete",
        "not-checked" (no run report) or "unreadable".
    """

    release: Path
    files_checked: int
    unreadable: int
    findings: tuple[Finding, ...]
    checks: tuple[str, ...]
    per_modality: tuple[Mapping[str, object], ...]
    profile_name: str
    options: tuple[str, ...]
    key_fingerprint: str | None
    originals_checked: int | None
    created: str
    score: Mapping[str, object] | None = None
    completeness: str = COMPLETENESS_NOT_CHECKED
    #: ``verify --ocr``: what reading the released pixels covered (None: not read).
    pixels: Mapping[str, object] | None = None

    @property
    def counts_per_check(self) -> dict[str, int]:
        """Findings per check, every check listed (info findings not counted)."""
        counts = dict.fromkeys(self.checks, 0)
        for f in self.findings:
            if f.severity != "info":
                counts[f.check] = counts.get(f.check, 0) + 1
        return counts

    def failing(self, fail_on: str = "error") -> list[Finding]:
        """Findings at or above the ``fail_on`` severity ("warn" or "error")."""
        if fail_on not in FAIL_ON:
            raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}")
        levels = ("error",) if fail_on == "error" else ("error", "warn")
        return [
            f for f in self.findings if f.severity in levels and f.check not in UNCHECKED_CHECKS
        ]

    def verdict(self, fail_on: str = "error") -> str:
        """ "phi-found", "release-incomplete" (the release is not what its scrub wrote, and
        nothing else failed), "incomplete" (something unreadable, a run report required but
        absent or unreadable, or no file at all) or "clean"."""
        failing = self.failing(fail_on)
        if any(f.check not in COMPLETENESS_CHECKS for f in failing):
            return "phi-found"
        if failing:
            return "release-incomplete"
        paper_trail_failed = any(
            f.check == CHECK_RUN_REPORT and f.severity == "error" for f in self.findings
        )
        if self.unreadable or not self.files_checked or paper_trail_failed:
            return "incomplete"
        return "clean"

    def exit_code(self, fail_on: str = "error") -> int:
        """0 clean, 3 PHI found or the release is not what its scrub wrote, 1 something
        could not be read (files, or the run report and action log)."""
        codes = {"phi-found": 3, "release-incomplete": 3, "incomplete": 1, "clean": 0}
        return codes[self.verdict(fail_on)]

    def to_json(self, fail_on: str = "error") -> dict[str, Any]:
        """Machine-readable result (the ``--json`` output)."""
        return {
            "format": "deidkit-verify/1",
            "release": self.release.name,
            "verdict": self.verdict(fail_on),
            "exit_code": self.exit_code(fail_on),
            "fail_on": fail_on,
            "files_checked": self.files_checked,
            "unreadable": self.unreadable,
            "originals_checked": self.originals_checked,
            "counts_per_check": self.counts_per_check,
            "per_modality": [dict(r) for r in self.per_modality],
            "profile": {"name": self.profile_name, "options": list(self.options)},
            "table_edition": TABLE_EDITION,
            "tool": {"name": "deidkit", "version": __version__, "command": "verify"},
            "key_fingerprint": self.key_fingerprint,
            "created": self.created,
            "score": self.score,
            "completeness": self.completeness,
            **({"pixels": dict(self.pixels)} if self.pixels is not None else {}),
            "findings": [f.as_dict() for f in self.findings],
        }

    def summary(self, fail_on: str = "error") -> ReleaseSummary:
        """The :class:`ReleaseSummary` for the HTML release report."""
        extra: dict[str, object] = {
            "Files checked": self.files_checked,
            "Unreadable files": self.unreadable,
            "Completeness (run report)": self.completeness,
            "Fail on": fail_on,
        }
        if self.originals_checked is not None:
            extra["Originals compared"] = self.originals_checked
        if self.score is not None:
            overall = self.score.get("overall")
            extra["MIDI-B-style score"] = "n/a" if overall is None else f"{float(str(overall)):.2%}"
            categories = self.score.get("categories")
            if isinstance(categories, Mapping):
                for cat, row in categories.items():
                    if isinstance(row, Mapping) and row.get("required"):
                        extra[f"  {cat}"] = f"{row['done']} / {row['required']}"
        return ReleaseSummary(
            title=self.release.name,
            verdict=self.verdict(fail_on),
            counts_per_check=self.counts_per_check,
            per_modality=self.per_modality,
            findings=[f.as_dict() for f in self.findings],
            profile_name=self.profile_name,
            options=self.options,
            table_edition=TABLE_EDITION,
            tool_version=__version__,
            key_fingerprint=self.key_fingerprint,
            created=self.created,
            extra=extra,
        )


# --- profile and run report ---------------------------------------------------------------


def run_report_for(release: Path) -> RunReport | None:
    """The run report ``<RELEASE>.run-report.json`` beside the release, if it is one."""
    from deidkit.core.runreport import read_run_report

    path = release.absolute().with_name(release.absolute().name + RUN_REPORT_SUFFIX)
    return read_run_report(path) if path.is_file() else None


def rules_from_profile(profile: Profile) -> Rules:
    """The verifier's view of a profile (options and overrides only)."""
    return Rules(
        profile.name, frozenset(profile.options), dict(profile.overrides), profile.keep_private
    )


def _kept_private(raw: Any) -> frozenset[tuple[str, int, int]]:
    """A run report's ``keep_private`` entries (malformed ones are ignored: nothing kept)."""
    kept: set[tuple[str, int, int]] = set()
    for entry in raw if isinstance(raw, list) else []:
        try:
            kept.add((str(entry["creator"]), int(entry["group"], 16), int(entry["element"], 16)))
        except (KeyError, TypeError, ValueError):
            continue
    return frozenset(kept)


def _resolve_rules(
    profile: Profile | str | Path | None, report: Mapping[str, Any] | None
) -> tuple[Rules, tuple[int, int] | None]:
    if isinstance(profile, Profile):
        return rules_from_profile(profile), profile.date_shift_range
    if profile is not None:
        loaded = load_profile(profile)
        return rules_from_profile(loaded), loaded.date_shift_range
    record = (report or {}).get("profile")
    if isinstance(record, Mapping) and isinstance(record.get("options"), list):
        shift = record.get("date_shift_range")
        rules = Rules(
            str(record.get("name", "unknown")),
            frozenset(str(o) for o in record["options"]),
            {str(k): str(v) for k, v in dict(record.get("overrides") or {}).items()},
            _kept_private(record.get("keep_private")),
        )
        return rules, (int(shift[0]), int(shift[1])) if isinstance(shift, list) and len(
            shift
        ) == 2 else None
    loaded = load_profile("basic")
    return rules_from_profile(loaded), loaded.date_shift_range


# --- parallel plumbing -----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(state: dict[str, Any]) -> None:
    # Never a moment without a key the state has: a Dask worker may run several chunks of
    # one stage on threads at once, and one of them may be setting the state up.
    stale = set(_WORKER) - set(state)
    _WORKER.update(state)
    for name in stale:
        _WORKER.pop(name, None)


def _check_chunk(tasks: list[tuple[str, str]]) -> list[FileReport]:
    scoring = bool(_WORKER.get("scoring"))
    return [
        # With scoring, the scanner's own walk also collects the released file's score
        # facts; the score is computed in the main process, which holds the originals'.
        check_file(
            Path(path),
            rel,
            rules=_WORKER["rules"],
            originals=_WORKER["originals"],
            score_facts=scoring,
        )
        for path, rel in tasks
    ]


def _harvest_chunk(tasks: list[tuple[str, str]]) -> OriginalHarvest:
    total = OriginalHarvest()
    for path, rel in tasks:
        total.merge(
            harvest_file(
                Path(path),
                rel,
                rules=_WORKER["rules"],
                score_facts=bool(_WORKER.get("scoring")),
            )
        )
    return total


def _chunks(items: Sequence[_T], size: int) -> list[list[_T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _in_worker(
    job: tuple[str, dict[str, Any], Callable[[list[_T]], _R], list[_T]],
) -> _R:
    token, state, func, chunk = job
    if _WORKER.get("_token") != token:
        # First chunk of a new stage in this worker: keep its state (and so the value
        # search compiled for it) for the stage's later chunks.
        _init_worker(state)
        _WORKER["_token"] = token
    with quiet_pydicom():  # in the worker process too: files under check hold PHI
        return func(chunk)


class _Pool:
    """Worker processes shared by the stages of one verification (started once, lazily).

    A stage of at most :data:`SERIAL_LIMIT` files, or any stage with one worker, runs in
    this process instead.
    """

    def __init__(self, workers: int, cluster: DaskCluster | None = None) -> None:
        self.workers = workers
        self.stages = 0
        # Stage tokens unique to this verification: a Dask worker outlives it and may have
        # kept another verification's state under the same stage number.
        self._run = uuid.uuid4().hex
        self._here = SerialExecutor()
        # forkserver, not fork: the CLI runs a progress thread, and forking a threaded
        # process can deadlock a child on a lock held by that thread. Nothing starts before
        # the first stage that needs the workers.
        self._processes: Executor | None = None
        if cluster is not None:
            self._processes = cluster.executor(name="verify")
            self.workers = cluster.workers
        elif workers > 1:
            self._processes = LocalProcessExecutor(workers, preload=("deidkit.verify.release",))

    def run(
        self,
        func: Callable[[list[_T]], _R],
        items: Sequence[_T],
        state: dict[str, Any],
        *,
        label: str,
        progress: Progress | None,
    ) -> Iterator[_R]:
        """Map ``func`` over chunks of ``items``, in worker processes unless the job is small."""
        chunk = max(1, min(32, len(items) // (self.workers * 4) or 1))
        chunks = _chunks(items, chunk)
        self.stages += 1
        results: Iterable[_R]
        if self._processes is None or len(items) <= SERIAL_LIMIT:
            _init_worker(state)
            results = self._here.map(func, chunks)
        else:
            # The state travels with every chunk (pickled once per chunk, small next to
            # the files), so one pool serves both stages without a restart.
            token = f"{self._run}-{self.stages}"
            jobs = [(token, state, func, part) for part in chunks]
            results = self._processes.map(_in_worker, jobs)
        done = 0
        for part, result in zip(chunks, results, strict=True):
            done += len(part)
            if progress is not None:
                progress(label, done, len(items))
            yield result

    def close(self) -> None:
        """Stop the workers (pending chunks are cancelled)."""
        if self._processes is not None:
            self._processes.shutdown(cancel=True)


def _list_files(root: Path) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            found.append((str(path), path.relative_to(root).as_posix()))
    return found


def _dir_findings(root: Path, originals: OriginalIndex | None, rules: Rules) -> list[Finding]:
    # Empty folders still carry a name; folders with files are scanned with their files.
    findings: list[Finding] = []
    for folder, dirs, files in os.walk(root):
        if not dirs and not files and Path(folder) != root:
            rel = Path(folder).relative_to(root).as_posix()
            findings += check_name(rel, rules=rules, originals=originals)
    return findings


# --- the main entry point ---------------------------------------------------------------------


def verify_release(
    release: Path | str,
    *,
    profile: Profile | str | Path | None = None,
    original: Path | str | None = None,
    linkage: Path | None = None,
    key: ProjectKey | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    require_run_report: bool = False,
    cluster: DaskCluster | None = None,
    ocr: bool = False,
) -> VerifyResult:
    """Check a release for residual PHI, independently of the scrubber.

    Parameters
    ----------
    release
        The release folder (never modified): a path or (a ``str``) an fsspec URL, copied
        into a private temp folder first (:mod:`deidkit.verify.urls`).
    profile
        The profile the release claims to follow; default: the one named in the run report
        beside the release (``<RELEASE>.run-report.json``), else "basic".
    original
        The input folder the release was made from (a path or a URL): enables the value
        search, reference, relationship and missing-file checks, and (with ``linkage`` or
        ``key``) the score.
    linkage
        Linkage store or mapping CSV(s) for the score.
    key
        The project key: opens the linkage store, derives pseudonyms for the score and ties
        dates to patients (fewer false alarms).
    workers
        Worker processes (default: CPU count).
    progress
        Called as ``progress(stage, done, total)``.
    require_run_report
        Without a run report beside the release, the verdict is "incomplete" instead of
        a warning that completeness was not checked.
    cluster
        Run the checks on this Dask cluster instead of local processes (same result;
        ``workers`` is then the cluster's). Stages of a few files still run here.
    ocr
        Also read the pixels of released files at burned-in risk with Tesseract
        (:mod:`deidkit.verify.ocr_check`); the score gains ``pixels_hidden``.

    Raises
    ------
    UsageError
        If ``release`` or ``original`` is not a folder, or they overlap.
    """
    if isinstance(release, str) or isinstance(original, str):
        with local_copies(release, original) as (local_release, local_original):
            return verify_release(
                local_release, profile=profile, original=local_original, linkage=linkage,
                key=key, workers=workers, progress=progress,
                require_run_report=require_run_report, cluster=cluster, ocr=ocr,
            )  # fmt: skip
    release = Path(release)
    if not release.is_dir():
        raise UsageError(f"release {release} is not a folder")
    if original is not None:
        original = Path(original)
        if not original.is_dir():
            raise UsageError(f"original {original} is not a folder")
        a, b = original.resolve(), release.resolve()
        if a == b or a.is_relative_to(b) or b.is_relative_to(a):
            raise UsageError(
                "RELEASE and --original must be separate folders (neither inside the other)"
            )
    n_workers = max(1, workers or os.cpu_count() or 1)
    report = run_report_for(release)
    rules, shift_range = _resolve_rules(profile, report)
    fingerprint = key.fingerprint if key is not None else _report_fingerprint(report)

    harvest: OriginalHarvest | None = None
    index: OriginalIndex | None = None
    held = _held_sources(report)
    mapping: IdentifierMap | None = None
    if original is not None and (linkage is not None or key is not None):
        mapping = load_mapping(linkage, key=key)
    pool = _Pool(n_workers, cluster)
    # quiet here too: the score reads originals and releases in this process
    with quiet_pydicom(), contextlib.closing(pool):
        if original is not None:
            harvest = OriginalHarvest()
            items = _list_files(original)
            for harvested in pool.run(
                _harvest_chunk,
                items,
                {"rules": rules, "scoring": mapping is not None},
                label="originals",
                progress=progress,
            ):
                harvest.merge(harvested)
            index = harvest.index(key=key, shift_range=shift_range)

        pairs: dict[str, OriginalFile] = {}
        if harvest is not None and mapping is not None:
            pairs = _pairs(harvest, held, mapping)

        files = _list_files(release)
        reports: list[FileReport] = []
        total = ScoreCounts()
        scored = 0
        state = {"rules": rules, "originals": index, "scoring": bool(pairs)}
        for part in pool.run(_check_chunk, files, state, label="release", progress=progress):
            for file_report in part:
                reports.append(file_report)
                paired = pairs.get(file_report.sop_uid) if file_report.sop_uid else None
                released = file_report.score_facts
                file_report.score_facts = None
                if paired is not None and released is not None and mapping is not None:
                    total.merge(
                        score_facts(
                            paired.facts,
                            paired.patient_id,
                            ReleaseView.from_facts(released),
                            rules=rules,
                            mapping=mapping,
                            shift_range=shift_range,
                        )
                    )
                    scored += 1

    findings = [f for r in reports for f in r.findings]
    findings += _dir_findings(release, index, rules)
    findings += release_structure(reports, harvest=harvest, mapping=mapping)
    completeness: Completeness = check_completeness(
        release, report, (rel for _path, rel in files), require_run_report=require_run_report
    )
    findings += completeness.findings
    checks = list(BASE_CHECKS) + list(RELEASE_CHECKS) + list(completeness.checks)
    score: Mapping[str, object] | None = None
    if harvest is not None:
        checks += [*ORIGINAL_CHECKS, CHECK_MISSING]
        findings += compare_with_originals(harvest, reports, held, mapping)
        if mapping is not None:
            candidates = sum(1 for o in harvest.files if not o.unreadable and o.rel not in held)
            score = summarise(total, pairs=scored, unpaired=candidates - scored)
    pixels: OcrCheck | None = None
    if ocr:
        pixels = ocr_check(files, originals=index)
        findings += pixels.findings
        checks.append(CHECK_PIXEL_TEXT)
        score = with_pixels_hidden(score, pixels)
    findings = redact_paths(findings)
    findings.sort(
        key=lambda f: (f.file, f.tag_path, f.check, f.severity, f.matched_attribute, f.pattern)
    )
    return VerifyResult(
        release=release,
        files_checked=len(reports),
        unreadable=sum(1 for r in reports if r.unreadable),
        findings=tuple(findings),
        checks=tuple(checks),
        per_modality=tuple(_per_modality(reports)),
        profile_name=rules.profile_name,
        options=tuple(sorted(rules.options)),
        key_fingerprint=fingerprint,
        originals_checked=None if harvest is None else len(harvest.files),
        created=datetime.now(UTC).replace(microsecond=0).isoformat(),
        score=score,
        completeness=completeness.state,
        pixels=pixels.summary() if pixels is not None else None,
    )


def redact_paths(findings: list[Finding]) -> list[Finding]:
    """Replace every path component flagged by the file-name check, in every finding.

    A flagged folder or file name is itself PHI, so reports show ``[redacted-N]`` instead
    (N numbers the distinct flagged names in sorted order, so runs stay comparable).
    """
    flagged: set[str] = set()
    for f in findings:
        if f.check == CHECK_FILE_NAME and f.tag_path.startswith("name:"):
            parts = Path(f.file).parts
            index = int(f.tag_path.split(":", 1)[1])
            if index < len(parts):
                flagged.add(parts[index])
    if not flagged:
        return findings
    labels = {name: f"[redacted-{i + 1}]" for i, name in enumerate(sorted(flagged))}

    def clean(path: str) -> str:
        parts = Path(path).parts
        if not any(p in labels for p in parts):
            return path
        return "/".join(labels.get(p, p) for p in parts)

    return [replace(f, file=clean(f.file)) for f in findings]


def _report_fingerprint(report: Mapping[str, Any] | None) -> str | None:
    key = (report or {}).get("key")
    if isinstance(key, Mapping) and key.get("fingerprint"):
        return str(key["fingerprint"])
    return None


def _held_sources(report: Mapping[str, Any] | None) -> set[str]:
    held: set[str] = set()
    for section in ("held_back", "skipped"):
        for entry in (report or {}).get(section) or []:
            if isinstance(entry, Mapping) and entry.get("source"):
                held.add(str(entry["source"]))
    return held


def _per_modality(reports: list[FileReport]) -> list[dict[str, object]]:
    rows: dict[str, dict[str, object]] = {}
    for r in reports:
        row = rows.setdefault(
            r.modality or r.kind,
            {"modality": r.modality or r.kind, "files": 0, "errors": 0, "warnings": 0},
        )
        row["files"] = int(str(row["files"])) + 1
        row["errors"] = int(str(row["errors"])) + sum(
            1 for f in r.findings if f.severity == "error"
        )
        row["warnings"] = int(str(row["warnings"])) + sum(
            1 for f in r.findings if f.severity == "warn"
        )
    return [rows[k] for k in sorted(rows)]


def _pairs(
    harvest: OriginalHarvest, held: set[str], mapping: IdentifierMap
) -> dict[str, OriginalFile]:
    """Release SOP Instance UID -> original file record, for the files the score compares."""
    pairs: dict[str, OriginalFile] = {}
    for o in harvest.files:
        if o.unreadable or o.rel in held:
            continue
        new = mapping.new_uid(o.sop_uid)
        if new is not None:
            pairs[new] = o
    return pairs
