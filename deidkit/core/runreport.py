"""The paper trail of a scrub run: per-file outcomes, the action log and the run report.

Both files live *beside* the release (``<OUTPUT>.run-report.json``,
``<OUTPUT>.actions.jsonl``), never inside it, because they name input paths, which in a
PACS export often carry patient names. Neither ever holds a value read from a header:
actions are recorded as (tag path, keyword, action, reason).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, TypedDict

# Statuses of one input file.
STATUS_WRITTEN: Final = "written"
STATUS_UNCHANGED: Final = "unchanged"  # resumed run: the identical output was already there
STATUS_DRY_RUN: Final = "dry_run"
STATUS_HELD_BACK: Final = "held_back"
STATUS_SKIPPED: Final = "skipped"
RELEASED_STATUSES: Final = frozenset({STATUS_WRITTEN, STATUS_UNCHANGED, STATUS_DRY_RUN})

RUN_REPORT_SUFFIX: Final = ".run-report.json"
ACTION_LOG_SUFFIX: Final = ".actions.jsonl"
REPORT_FORMAT: Final = "deidkit-run-report/1"


class RunCounts(TypedDict):
    """``counts`` of a run report: files by what became of them."""

    found: int
    released: int
    written: int
    unchanged: int
    dry_run: int
    held_back: int
    skipped: int
    burned_in_flagged: int


class ReferenceCounts(TypedDict):
    """``references`` of a run report: references to instances, series, studies and frames
    of reference held by released files (at any depth). ``kept`` + ``remapped`` is all of
    them; ``dangling`` counts those (of either kind) whose target is not in the release."""

    kept: int
    remapped: int
    dangling: int


class RunReport(TypedDict, total=False):
    """The shape of ``<OUTPUT>.run-report.json`` (format ``deidkit-run-report/1``).

    Read by resumed runs (``settings_fingerprint``, ``status``) and by ``deidkit verify``
    (what the scrub did, for the release report). Input paths appear (``input``, and
    ``source`` in ``held_back``/``skipped``/``burned_in``), which is why the file lives
    beside the release and never in it; no header value is ever written here. An entry of
    ``held_back``/``skipped`` also numbers its file (``input``: the 1-based position in
    the walk), which is how ``deidkit scrub`` names it on stdout.
    """

    format: str
    status: str
    tool: dict[str, str]
    table_edition: str
    settings_fingerprint: str
    input: str
    output: str
    started: str
    finished: str
    elapsed_seconds: float
    resumed: bool
    worker_restarts: int  # only when lost workers were replaced (their chunks ran again)
    error: str  # status "failed": the exception's type, never its message
    unlinkable: bool
    key: dict[str, str]
    profile: dict[str, Any]
    recipe: str | None
    options: dict[str, Any]
    counts: RunCounts
    references: ReferenceCounts
    modalities: dict[str, int]
    reasons: dict[str, int]
    warnings: dict[str, int]
    held_back: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    burned_in: list[dict[str, Any]]
    cohort_manifest: dict[str, Any]


def run_report_path(output: Path) -> Path:
    """``<OUTPUT>.run-report.json``, beside the release folder."""
    output = Path(output).absolute()
    return output.with_name(output.name + RUN_REPORT_SUFFIX)


def action_log_path(output: Path) -> Path:
    """``<OUTPUT>.actions.jsonl``, beside the release folder."""
    output = Path(output).absolute()
    return output.with_name(output.name + ACTION_LOG_SUFFIX)


@dataclass(frozen=True)
class FileReferences:
    """What one released file is and what it points at, as 8-byte digests of new UIDs.

    Digests, not UIDs: the batch process keeps one set of them for the whole run to tell
    which references dangle, and 8 bytes a reference keep that small (a collision could
    only make a dangling reference look resolved, about once in 2**64).
    """

    identities: tuple[bytes, ...] = ()  # its SOP Instance, Series, Study, Frame of Reference
    kept: tuple[bytes, ...] = ()  # references whose value the scrub left as it was
    remapped: tuple[bytes, ...] = ()  # references keyed like their targets


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one input file. Holds codes, paths and tag names, never values.

    ``linkage`` and ``cohort`` travel from a worker to the parent only in memory; they are
    never written to the action log or the run report (``linkage`` holds originals).
    """

    source: str
    status: str
    output: str | None = None
    reason: str | None = None
    detail: str | None = None
    modality: str | None = None
    sop_class_uid: str | None = None
    burned_in_risk: str | None = None
    actions: tuple[tuple[str, str, str, str], ...] = ()
    warnings: tuple[str, ...] = ()
    linkage: tuple[tuple[str, str, str], ...] = field(default=(), repr=False)
    cohort: Mapping[str, str] | None = field(default=None, repr=False)
    ids: tuple[str, str, str] | None = None  # (patient pseudonym, new study, new series)
    references: FileReferences | None = field(default=None, repr=False)
    # The output this input maps to (also when held back for a conflict) and the SHA-256 of
    # its encoded bytes: the pipeline settles duplicates with them. Never logged.
    target: str | None = field(default=None, repr=False)
    digest: str | None = field(default=None, repr=False)
    # What --clean-pixels did (status, frames, box counts by kind): codes and numbers only.
    pixels: Mapping[str, Any] | None = None

    def log_record(self) -> dict[str, Any]:
        """The action-log line for this file (JSON-ready)."""
        record: dict[str, Any] = {"source": self.source, "status": self.status}
        if self.output is not None:
            record["output"] = self.output
        if self.reason is not None:
            record["reason"] = self.reason
        if self.detail is not None:
            record["detail"] = self.detail
        if self.modality is not None:
            record["modality"] = self.modality
        if self.sop_class_uid is not None:
            record["sop_class_uid"] = self.sop_class_uid
        if self.burned_in_risk is not None:
            record["burned_in_risk"] = self.burned_in_risk
        if self.pixels is not None:
            record["pixels"] = dict(self.pixels)
        if self.warnings:
            record["warnings"] = list(self.warnings)
        if self.actions:
            record["actions"] = [list(a) for a in self.actions]
        return record


@dataclass
class ReferenceTally:
    """References of the released files, resolved against the release once it is whole."""

    identities: set[bytes] = field(default_factory=set)
    targets: Counter[bytes] = field(default_factory=Counter)
    kept: int = 0
    remapped: int = 0

    def add(self, references: FileReferences) -> None:
        """Count one released file's references and remember what it is."""
        self.identities.update(references.identities)
        self.targets.update(references.kept)
        self.targets.update(references.remapped)
        self.kept += len(references.kept)
        self.remapped += len(references.remapped)

    def counts(self) -> ReferenceCounts:
        """kept / remapped / dangling (a target no released file is)."""
        dangling = sum(n for target, n in self.targets.items() if target not in self.identities)
        return {"kept": self.kept, "remapped": self.remapped, "dangling": dangling}


@dataclass
class RunTally:
    """Running counts of a batch; keeps lists only of the files that need attention."""

    found: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_modality: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    held_back: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    burned_in: list[dict[str, Any]] = field(default_factory=list)
    warnings: Counter[str] = field(default_factory=Counter)
    references: ReferenceTally = field(default_factory=ReferenceTally)

    def add(self, outcome: FileOutcome) -> None:
        """Count one outcome."""
        self.found += 1
        self.by_status[outcome.status] += 1
        self.warnings.update(outcome.warnings)
        if outcome.status in RELEASED_STATUSES and outcome.references is not None:
            self.references.add(outcome.references)
        if outcome.status in RELEASED_STATUSES and outcome.modality:
            self.by_modality[outcome.modality] += 1
        if outcome.reason is not None:
            self.by_reason[outcome.reason] += 1
        # "input": the file's 1-based position in the walk, the name stdout may give it
        # (the path stays here, beside the release; it often carries a patient's name).
        entry: dict[str, Any] = {
            "input": self.found,
            "source": outcome.source,
            "reason": outcome.reason or "",
        }
        if outcome.detail:
            entry["detail"] = outcome.detail
        if outcome.status == STATUS_HELD_BACK:
            self.held_back.append(entry)
        elif outcome.status == STATUS_SKIPPED:
            self.skipped.append(entry)
        if outcome.burned_in_risk is not None:
            self.burned_in.append(
                {
                    "source": outcome.source,
                    "risk": outcome.burned_in_risk,
                    "released": outcome.status in RELEASED_STATUSES,
                    "output": outcome.output,
                    **({"pixels": outcome.pixels["status"]} if outcome.pixels else {}),
                }
            )

    @property
    def released(self) -> int:
        """Files written, already present (resume) or that would be written (dry run)."""
        return sum(self.by_status[s] for s in RELEASED_STATUSES)

    def counts(self) -> RunCounts:
        """Counts for the summary and the report."""
        return {
            "found": self.found,
            "released": self.released,
            "written": self.by_status[STATUS_WRITTEN],
            "unchanged": self.by_status[STATUS_UNCHANGED],
            "dry_run": self.by_status[STATUS_DRY_RUN],
            "held_back": self.by_status[STATUS_HELD_BACK],
            "skipped": self.by_status[STATUS_SKIPPED],
            "burned_in_flagged": len(self.burned_in),
        }


class ActionLog:
    """Writes one JSON line per input file to an open handle (see :func:`action_log_path`)."""

    def __init__(self, handle: IO[bytes] | None) -> None:
        self._handle = handle

    def write(self, outcome: FileOutcome) -> None:
        """Append the outcome's record (no-op without a handle, e.g. in a dry run)."""
        if self._handle is None:
            return
        line = json.dumps(outcome.log_record(), sort_keys=True, ensure_ascii=False)
        self._handle.write(line.encode("utf-8") + b"\n")


def dump_report(report: Mapping[str, Any]) -> str:
    """Serialise a run report deterministically (sorted keys, two-space indent)."""
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_run_report(path: Path) -> RunReport | None:
    """Read a run report, or ``None`` if it is missing or not a deidkit run report."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        return None
    report: RunReport = data  # type: ignore[assignment]  # checked by its format tag
    return report
