"""Release completeness: the release against its run report and action log.

Unit tests build the paper trail by hand (deidkit-run-report/1, one JSON line per input);
the last tests run the real scrubber, interrupt it, and verify what it left.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from deidkit.core.keys import ProjectKey
from deidkit.core.runreport import REPORT_FORMAT, RunReport, read_run_report
from deidkit.demo.sample import SampleCorpus
from deidkit.rules.profile import load_profile
from deidkit.scrub import RunOptions, ScrubSettings, scrub_tree
from deidkit.verify.completeness import (
    COMPLETENESS_CHECKED,
    COMPLETENESS_NOT_CHECKED,
    COMPLETENESS_SCRUB_NOT_COMPLETE,
    COMPLETENESS_UNREADABLE,
    NO_RUN_REPORT,
    check_completeness,
)
from deidkit.verify.records import (
    CHECK_MISSING_OUTPUT,
    CHECK_RUN_REPORT,
    CHECK_RUN_STATUS,
    CHECK_STRAY_FILE,
)
from deidkit.verify.release import verify_release

# Input paths of a PACS export carry patient names: none may reach a finding.
CANARY_SOURCE = "DOE^CANARY 19610412/ct.dcm"
OUTPUTS = ("P1/2.25.1/2.25.2/2.25.3.dcm", "P1/2.25.1/2.25.2/2.25.4.dcm")


def _lines(outputs: tuple[str, ...] = OUTPUTS, *, held: int = 1) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {"source": f"{CANARY_SOURCE}.{i}", "status": "written", "output": out}
        for i, out in enumerate(outputs)
    ]
    lines += [
        {"source": f"{CANARY_SOURCE}.held{i}", "status": "held_back", "reason": "not_dicom"}
        for i in range(held)
    ]
    return lines


def _report(lines: list[dict[str, Any]], status: str = "complete") -> RunReport:
    written = sum(1 for line in lines if line["status"] == "written")
    return {
        "format": REPORT_FORMAT,
        "status": status,
        "input": "/pacs/DOE^CANARY",
        "counts": {
            "found": len(lines),
            "released": written,
            "written": written,
            "unchanged": 0,
            "dry_run": 0,
            "held_back": len(lines) - written,
            "skipped": 0,
            "burned_in_flagged": 0,
        },
    }


def _trail(
    tmp_path: Path,
    lines: list[dict[str, Any]] | None = None,
    *,
    status: str = "complete",
    files: tuple[str, ...] = OUTPUTS,
) -> tuple[Path, RunReport]:
    """A release holding ``files``, its run report and action log beside it."""
    release = tmp_path / "release"
    for rel in files:
        (release / rel).parent.mkdir(parents=True, exist_ok=True)
        (release / rel).write_bytes(b"x")
    release.mkdir(exist_ok=True)
    lines = _lines() if lines is None else lines
    report = _report(lines, status)
    (tmp_path / "release.run-report.json").write_text(json.dumps(report))
    log = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    (tmp_path / "release.actions.jsonl").write_text(log)
    return release, report


def _present(release: Path) -> list[str]:
    return sorted(p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file())


def _check(release: Path, report: RunReport | None, **kw: bool) -> Any:
    result = check_completeness(release, report, _present(release), **kw)
    assert CANARY_SOURCE.split("/")[0] not in repr(result)  # never an input path
    return result


def test_complete_release_matching_its_action_log(tmp_path: Path) -> None:
    release, report = _trail(tmp_path)
    result = _check(release, report)
    assert result.state == COMPLETENESS_CHECKED and result.findings == ()
    assert set(result.checks) == {
        CHECK_RUN_REPORT,
        CHECK_RUN_STATUS,
        CHECK_MISSING_OUTPUT,
        CHECK_STRAY_FILE,
    }


def test_unchanged_outputs_of_a_resumed_run_count_as_written(tmp_path: Path) -> None:
    lines = _lines()
    lines[0]["status"] = "unchanged"
    release, report = _trail(tmp_path, lines)
    report["counts"]["written"], report["counts"]["unchanged"] = 1, 1
    assert _check(release, report).findings == ()


@pytest.mark.parametrize(("status", "shown"), [("running", "running"), ("Doe^J", "unknown")])
def test_a_scrub_that_did_not_complete_fails(tmp_path: Path, status: str, shown: str) -> None:
    release, report = _trail(tmp_path, status=status)
    result = _check(release, report)
    assert result.state == COMPLETENESS_SCRUB_NOT_COMPLETE
    [finding] = result.findings
    assert (finding.check, finding.severity) == (CHECK_RUN_STATUS, "error")
    assert finding.file == "release.run-report.json"
    assert f"(status: {shown})" in finding.message and "Doe" not in finding.message


def test_missing_and_stray_files_are_named(tmp_path: Path) -> None:
    release, report = _trail(tmp_path)
    (release / OUTPUTS[1]).unlink()
    (release / "P1" / "copied-original.dcm").write_bytes(b"y")
    (release / ".tmp-abc.part").write_bytes(b"z")  # an interrupted atomic write
    found = {(f.check, f.file, f.severity) for f in _check(release, report).findings}
    assert found == {
        (CHECK_MISSING_OUTPUT, OUTPUTS[1], "error"),
        (CHECK_STRAY_FILE, "P1/copied-original.dcm", "error"),
        (CHECK_STRAY_FILE, ".tmp-abc.part", "error"),
    }


def test_no_run_report_is_a_warning_unless_required(tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    result = _check(release, None)
    assert result.state == COMPLETENESS_NOT_CHECKED and result.checks == (CHECK_RUN_REPORT,)
    [finding] = result.findings
    assert (finding.check, finding.severity, finding.message) == (
        CHECK_RUN_REPORT,
        "warn",
        NO_RUN_REPORT,
    )
    [required] = _check(release, None, require_run_report=True).findings
    assert (required.check, required.severity) == (CHECK_RUN_REPORT, "error")


def test_a_file_that_is_not_a_run_report_is_unreadable(tmp_path: Path) -> None:
    release, _ = _trail(tmp_path)
    (tmp_path / "release.run-report.json").write_text('{"status": "compl')
    assert read_run_report(tmp_path / "release.run-report.json") is None
    result = _check(release, None)
    assert result.state == COMPLETENESS_UNREADABLE
    assert [(f.check, f.severity) for f in result.findings] == [(CHECK_RUN_REPORT, "error")]


def test_missing_action_log_is_unreadable(tmp_path: Path) -> None:
    release, report = _trail(tmp_path)
    (tmp_path / "release.actions.jsonl").unlink()
    result = _check(release, report)
    assert result.state == COMPLETENESS_UNREADABLE
    [finding] = result.findings
    assert (finding.file, finding.check, finding.severity) == (
        "release.actions.jsonl",
        CHECK_RUN_REPORT,
        "error",
    )
    assert "missing" in finding.message


@pytest.mark.parametrize(
    ("line", "number"),
    [
        (f'{{"source": "{CANARY_SOURCE}", "status": "writ', 2),  # cut short
        (json.dumps({"source": CANARY_SOURCE, "status": "written"}), 2),  # no output
        ("[1, 2]", 2),
    ],
)
def test_malformed_action_log_line_is_named_by_number_only(
    tmp_path: Path, line: str, number: int
) -> None:
    release, report = _trail(tmp_path)
    log = tmp_path / "release.actions.jsonl"
    first, *rest = log.read_text().splitlines(keepends=True)
    log.write_text(first + line + "\n" + "".join(rest))
    result = _check(release, report)
    assert result.state == COMPLETENESS_UNREADABLE
    [finding] = result.findings
    assert finding.tag_path == f"line:{number}" and CANARY_SOURCE not in repr(finding)


def test_action_log_disagreeing_with_the_counts_is_unreadable(tmp_path: Path) -> None:
    release, report = _trail(tmp_path)
    log = tmp_path / "release.actions.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[1:]))  # first line lost
    (release / OUTPUTS[0]).unlink()  # consistent with the truncated log, not with the report
    result = _check(release, report)
    assert result.state == COMPLETENESS_UNREADABLE
    assert "counts" in result.findings[0].message
    del report["counts"]
    assert "no file counts" in _check(release, report).findings[0].message


# --- the real scrubber ---------------------------------------------------------------------


class _Killed(Exception):
    pass


@pytest.fixture(scope="module")
def scrubbed(small_corpus: SampleCorpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete release of the small corpus, with its run report and action log."""
    release = tmp_path_factory.mktemp("complete") / "release"
    settings = ScrubSettings(
        profile=load_profile("basic"), key=ProjectKey(secret=bytes(range(32)), source="test")
    )
    scrub_tree(small_corpus.root, release, settings=settings, options=RunOptions(workers=1))
    return release


def _copy(release: Path, where: Path) -> Path:
    copy = where / "release"
    shutil.copytree(release, copy)
    for suffix in (".run-report.json", ".actions.jsonl"):
        shutil.copy(release.with_name(release.name + suffix), where / f"release{suffix}")
    return copy


def test_real_scrub_release_is_complete(scrubbed: Path, tmp_path: Path) -> None:
    result = verify_release(_copy(scrubbed, tmp_path), workers=1)
    assert result.completeness == COMPLETENESS_CHECKED
    assert result.verdict() == "clean" and result.exit_code() == 0
    assert {CHECK_MISSING_OUTPUT, CHECK_STRAY_FILE} <= set(result.checks)


def test_interrupted_scrub_is_never_clean(small_corpus: SampleCorpus, tmp_path: Path) -> None:
    release = tmp_path / "release"
    settings = ScrubSettings(
        profile=load_profile("basic"), key=ProjectKey(secret=bytes(range(32)), source="test")
    )
    seen: list[str] = []

    def kill_after_three(outcome: object) -> None:
        seen.append(str(outcome))
        if len(seen) == 3:
            raise _Killed

    with pytest.raises(_Killed):
        scrub_tree(
            small_corpus.root,
            release,
            settings=settings,
            options=RunOptions(workers=1),
            on_outcome=kill_after_three,
        )
    assert any(release.rglob("*.dcm"))  # what the scan alone would call clean
    result = verify_release(release, workers=1)
    assert result.completeness == COMPLETENESS_SCRUB_NOT_COMPLETE
    assert [f.check for f in result.failing()] == [CHECK_RUN_STATUS]
    # not "phi-found": the release must not go out, but nobody should hunt for PHI in it
    assert result.verdict() == "release-incomplete" and result.exit_code() == 3


def test_deleted_and_added_files_fail_a_real_release(scrubbed: Path, tmp_path: Path) -> None:
    copy = _copy(scrubbed, tmp_path)
    victim = sorted(copy.rglob("*.dcm"))[0]
    missing = victim.relative_to(copy).as_posix()
    stray = victim.with_name("extra.dcm")
    shutil.copy(victim, stray)  # a clean DICOM file, just not one the scrub wrote
    victim.unlink()
    result = verify_release(copy, workers=1)
    assert {(f.check, f.file) for f in result.failing()} == {
        (CHECK_MISSING_OUTPUT, missing),
        (CHECK_STRAY_FILE, stray.relative_to(copy).as_posix()),
    }
    assert result.exit_code() == 3 and result.verdict() == "release-incomplete"
    data = result.to_json()
    assert data["completeness"] == COMPLETENESS_CHECKED
    assert data["counts_per_check"][CHECK_MISSING_OUTPUT] == 1
    assert data["counts_per_check"][CHECK_STRAY_FILE] == 1


def test_no_run_report_warns_and_never_fails_on_warn(scrubbed: Path, tmp_path: Path) -> None:
    copy = _copy(scrubbed, tmp_path)
    (tmp_path / "release.run-report.json").unlink()
    result = verify_release(copy, workers=1)
    assert result.completeness == COMPLETENESS_NOT_CHECKED
    assert [(f.check, f.severity) for f in result.findings if f.severity != "info"] == [
        (CHECK_RUN_REPORT, "warn")
    ]
    # Not PHI: --fail-on warn still passes; only --require-run-report makes it fail (exit 1).
    assert result.exit_code("warn") == 0 and result.exit_code() == 0
    required = verify_release(copy, workers=1, require_run_report=True)
    assert required.verdict("warn") == "incomplete" and required.exit_code() == 1
