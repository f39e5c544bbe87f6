"""Release completeness: is the release exactly what its scrub run says it wrote?

A scrub that was killed or failed leaves a release that may lack files, and a release
folder can gain files nobody scrubbed (a copied original, a leftover temp file). Neither
shows up file by file, so the scanner compares the release with its paper trail beside it:
the run report ``<RELEASE>.run-report.json`` (must say ``complete``) and the action log
``<RELEASE>.actions.jsonl`` (one line per input, with the output it wrote). The action log
is streamed once, a line at a time; only the released outputs' relative paths are kept.

Both files name input paths (PHI in many PACS exports): findings name the paper-trail file,
a line number or a release-relative path, never an input path or a line's content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from deidkit.core.runreport import (
    STATUS_UNCHANGED,
    STATUS_WRITTEN,
    RunReport,
    action_log_path,
    run_report_path,
)
from deidkit.verify.records import (
    CHECK_MISSING_OUTPUT,
    CHECK_RUN_REPORT,
    CHECK_RUN_STATUS,
    CHECK_STRAY_FILE,
    Finding,
)

#: What :func:`check_completeness` could establish (the ``completeness`` of verify's JSON).
COMPLETENESS_CHECKED = "checked"
COMPLETENESS_SCRUB_NOT_COMPLETE = "scrub-not-complete"
COMPLETENESS_NOT_CHECKED = "not-checked"
COMPLETENESS_UNREADABLE = "unreadable"

NO_RUN_REPORT = "no run report: completeness not checked"

_COMPLETE = "complete"
# Statuses deidkit scrub writes; any other text is shown as "unknown" (it is not ours).
_KNOWN_STATUSES = frozenset({"running", _COMPLETE})
_RELEASED = frozenset({STATUS_WRITTEN, STATUS_UNCHANGED})


@dataclass(frozen=True)
class Completeness:
    """The completeness findings of one release and the checks that ran (zero is evidence)."""

    state: str
    findings: tuple[Finding, ...]
    checks: tuple[str, ...]


@dataclass(frozen=True)
class _ActionLog:
    outputs: frozenset[str]
    lines: int
    released_lines: int


class _UnreadableLog(Exception):
    """The action log is missing or malformed (carries a line number, never its content)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def check_completeness(
    release: Path,
    report: RunReport | None,
    present: Iterable[str],
    *,
    require_run_report: bool = False,
) -> Completeness:
    """Compare the release's files with what its scrub run reports having written.

    Parameters
    ----------
    release
        The release folder; its run report and action log lie beside it.
    report
        The run report as read (None when absent or not a deidkit run report).
    present
        Release-relative POSIX paths of every file in the release.
    require_run_report
        Without a run report, an error (the verdict becomes "incomplete") instead of a
        warning.

    Returns
    -------
    Completeness
        ``run-status`` (scrub not complete), ``missing-output`` (listed, not present) and
        ``stray-file`` (present, not listed) errors; ``run-report`` findings when the paper
        trail is absent or unreadable.
    """
    report_file = run_report_path(release)
    if report is None:
        return _without_report(report_file, require_run_report=require_run_report)
    status = report.get("status")
    if status != _COMPLETE:
        shown = status if isinstance(status, str) and status in _KNOWN_STATUSES else "unknown"
        message = f"the scrub run did not complete (status: {shown}); files may be missing"
        finding = Finding(report_file.name, "status", CHECK_RUN_STATUS, "error", message=message)
        return Completeness(
            COMPLETENESS_SCRUB_NOT_COMPLETE, (finding,), (CHECK_RUN_REPORT, CHECK_RUN_STATUS)
        )
    log_file = action_log_path(release)
    try:
        log = _read_action_log(log_file)
        _check_counts(report, log)
    except _UnreadableLog as exc:
        where = "-" if exc.line is None else f"line:{exc.line}"
        finding = Finding(log_file.name, where, CHECK_RUN_REPORT, "error", message=str(exc))
        return Completeness(
            COMPLETENESS_UNREADABLE, (finding,), (CHECK_RUN_REPORT, CHECK_RUN_STATUS)
        )
    return Completeness(
        COMPLETENESS_CHECKED,
        tuple(_compare(log.outputs, frozenset(present))),
        (CHECK_RUN_REPORT, CHECK_RUN_STATUS, CHECK_MISSING_OUTPUT, CHECK_STRAY_FILE),
    )


def _without_report(report_file: Path, *, require_run_report: bool) -> Completeness:
    if report_file.exists():
        # A file where the run report belongs that is not one: something is wrong with
        # the paper trail, not merely absent (a release made by another tool has none).
        finding = Finding(
            report_file.name,
            "-",
            CHECK_RUN_REPORT,
            "error",
            message="run report unreadable or not a deidkit run report: completeness not checked",
        )
        return Completeness(COMPLETENESS_UNREADABLE, (finding,), (CHECK_RUN_REPORT,))
    severity, message = "warn", NO_RUN_REPORT
    if require_run_report:
        severity, message = "error", f"{NO_RUN_REPORT} (a run report is required)"
    finding = Finding(report_file.name, "-", CHECK_RUN_REPORT, severity, message=message)
    return Completeness(COMPLETENESS_NOT_CHECKED, (finding,), (CHECK_RUN_REPORT,))


def _read_action_log(path: Path) -> _ActionLog:
    outputs: set[str] = set()
    lines = released = 0
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise _UnreadableLog("action log missing: completeness not checked") from None
    except OSError:
        raise _UnreadableLog("action log unreadable: completeness not checked") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            lines = number
            output = _released_output(line, number)
            if output is not None:
                released += 1
                outputs.add(output)
    return _ActionLog(frozenset(outputs), lines, released)


def _released_output(line: bytes, number: int) -> str | None:
    """The output a line lists as released, None for a file not released."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, Mapping) or not isinstance(record.get("status"), str):
        raise _UnreadableLog("action log line not readable: completeness not checked", number)
    if record["status"] not in _RELEASED:
        return None
    output = record.get("output")
    if not isinstance(output, str) or not output:
        raise _UnreadableLog("released file without an output in the action log", number)
    return output


def _check_counts(report: RunReport, log: _ActionLog) -> None:
    # The run report counts what the run wrote; an action log that disagrees is from
    # another run or was cut short, so it cannot tell which files belong.
    counts: Mapping[str, object] = report.get("counts") or {}
    found, written, unchanged = (_count(counts, k) for k in ("found", "written", "unchanged"))
    if found != log.lines or written + unchanged != log.released_lines:
        raise _UnreadableLog(
            "action log does not match the run report's counts: completeness not checked"
        )


def _count(counts: Mapping[str, object], key: str) -> int:
    value = counts.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _UnreadableLog("run report has no file counts: completeness not checked")
    return value


def _compare(listed: frozenset[str], present: frozenset[str]) -> list[Finding]:
    findings = [
        Finding(
            rel,
            "-",
            CHECK_MISSING_OUTPUT,
            "error",
            message="listed as written in the action log but not in the release",
        )
        for rel in sorted(listed - present)
    ]
    findings += [
        Finding(
            rel,
            "-",
            CHECK_STRAY_FILE,
            "error",
            message="in the release but not written by its scrub run (not in the action log)",
        )
        for rel in sorted(present - listed)
    ]
    return findings
