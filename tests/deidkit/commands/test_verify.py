"""The report files behind ``deidkit verify --json/--html`` and ``deidkit scrub --report``.

The commands parse and render; where a report may go, what it holds and how it is written
is :mod:`deidkit.verify.report`'s, tested here through its functions. The last tests run
``deidkit verify`` itself: completeness findings and the exit codes they lead to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner
from verify_support import Pair, build_pair

from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_OK, EXIT_PHI_FOUND
from deidkit.core.runreport import REPORT_FORMAT
from deidkit.verify.report import (
    ReleaseSummary,
    render_release_html,
    scrub_release_summary,
    write_verify_reports,
)


class _Outcome:
    """A stand-in for VerifyResult: records the fail_on level it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def to_json(self, fail_on: str = "error") -> dict[str, Any]:
        self.asked.append(fail_on)
        return {"verdict": "clean", "fail_on": fail_on, "created": "2026-01-01T00:00:00Z"}

    def summary(self, fail_on: str = "error") -> ReleaseSummary:
        self.asked.append(fail_on)
        return ReleaseSummary(
            title="Release r",
            verdict="clean",
            counts_per_check={"uid": 0},
            per_modality=[],
            findings=[],
            profile_name="basic",
            options=[],
            table_edition="2025b",
            tool_version="0",
            key_fingerprint=None,
            created="2026-01-01T00:00:00Z",
        )


def test_write_verify_reports(tmp_path: Path) -> None:
    outcome = _Outcome()
    json_out, html_out = tmp_path / "out" / "v.json", tmp_path / "v.html"
    write_verify_reports(outcome, fail_on="warn", json_out=json_out, html_out=html_out)
    assert outcome.asked == ["warn", "warn"]
    text = json_out.read_text()
    assert text.endswith("}\n") and json.loads(text)["created"]
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert html_out.read_text() == render_release_html(outcome.summary("warn"))

    write_verify_reports(outcome, json_out=json_out, reproducible=True)
    assert json.loads(json_out.read_text()) == {"verdict": "clean", "fail_on": "error"}
    nothing = _Outcome()
    write_verify_reports(nothing)
    assert nothing.asked == []


def _run_report() -> dict[str, Any]:
    return {
        "profile": {"name": "research", "options": ["retain_safe_private"]},
        "table_edition": "2025b",
        "tool": {"name": "deidkit", "version": "9.9"},
        "key": {"fingerprint": "abcd"},
        "finished": "2026-02-03T04:05:06Z",
        "unlinkable": False,
        "counts": {"found": 5, "released": 3},
        "modalities": {"CT": 2, "MR": 1},
        "reasons": {"burned_in": 1, "not_dicom": 1},
        "held_back": [
            {"source": "PAT^CANARY/a.dcm", "reason": "burned_in"},
            {"source": "PAT^CANARY/b.txt", "reason": "not_dicom"},
        ],
    }


def test_scrub_release_summary_names_reasons_never_input_paths(tmp_path: Path) -> None:
    summary = scrub_release_summary(
        _run_report(),
        release=tmp_path / "release",
        run_report_file=tmp_path / "release.run-report.json",
    )
    assert summary.title == "Release release" and summary.verdict == "scrubbed"
    assert summary.counts_per_check == {"held back: burned_in": 1, "held back: not_dicom": 1}
    assert [row["modality"] for row in summary.per_modality] == ["CT", "MR"]
    assert [row["check"] for row in summary.findings] == ["burned_in", "not_dicom"]
    assert summary.findings[0]["file"] == "held-back file 1 (see the run report)"
    assert (summary.profile_name, list(summary.options)) == ("research", ["retain_safe_private"])
    assert (summary.tool_version, summary.key_fingerprint) == ("9.9", "abcd")
    assert summary.created == "2026-02-03T04:05:06Z"
    assert summary.extra == {
        "files found": 5,
        "files released": 3,
        "unlinkable (random per-run key)": False,
        "run report": "release.run-report.json",
    }
    assert "CANARY" not in repr(summary) and "CANARY" not in render_release_html(summary)


def test_scrub_release_summary_of_a_clean_run() -> None:
    report = _run_report()
    del report["held_back"], report["reasons"]
    summary = scrub_release_summary(report, release=Path("r"))
    assert summary.findings == [] and summary.counts_per_check == {}
    assert summary.extra["run report"] == ""


# --- deidkit verify: completeness ----------------------------------------------------------

runner = CliRunner()


def _with_paper_trail(root: Path, *, status: str = "complete") -> Pair:
    """A clean hand-built release with the run report and action log a scrub would leave."""
    pair = build_pair(root)
    outputs = [p.relative_to(pair.release).as_posix() for p in pair.release_files]
    lines = [
        {"source": f"Doe_Johnathan/CT{i}.dcm", "status": "written", "output": out}
        for i, out in enumerate(outputs)
    ]
    report = {
        "format": REPORT_FORMAT,
        "status": status,
        "profile": {"name": "basic", "options": []},
        "counts": {"found": len(lines), "written": len(lines), "unchanged": 0},
    }
    (root / "release.run-report.json").write_text(json.dumps(report))
    (root / "release.actions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return pair


def _verify(pair: Pair, *extra: str) -> tuple[int, str, dict[str, Any], str]:
    json_out, html_out = pair.release.parent / "v.json", pair.release.parent / "v.html"
    args = ["verify", str(pair.release), "--workers", "1", "--json-out", str(json_out), "--force"]
    result = runner.invoke(app, [*args, "--html", str(html_out), *extra])
    return result.exit_code, result.stdout, json.loads(json_out.read_text()), html_out.read_text()


def test_cli_complete_release_is_clean(tmp_path: Path) -> None:
    code, out, data, _ = _verify(_with_paper_trail(tmp_path))
    assert code == EXIT_OK, data["findings"]
    assert data["completeness"] == "checked" and "completeness: checked" in out
    assert data["counts_per_check"]["stray-file"] == 0


def test_cli_unfinished_scrub_exits_3(tmp_path: Path) -> None:
    code, out, data, html = _verify(_with_paper_trail(tmp_path, status="running"))
    assert code == EXIT_PHI_FOUND
    assert data["completeness"] == "scrub-not-complete"
    assert [f["check"] for f in data["findings"] if f["severity"] == "error"] == ["run-status"]
    assert "run-status: 1" in out and "run-status" in html and "status: running" in html


def test_cli_stray_and_missing_files_exit_3(tmp_path: Path) -> None:
    pair = _with_paper_trail(tmp_path)
    pair.release_files[0].unlink()
    (pair.release / "notes.txt").write_text("left behind\n")
    code, out, data, html = _verify(pair)
    assert code == EXIT_PHI_FOUND
    errors = {(f["check"], f["file"]) for f in data["findings"] if f["severity"] == "error"}
    missing = pair.release_files[0].relative_to(pair.release).as_posix()
    assert errors == {("missing-output", missing), ("stray-file", "notes.txt")}
    assert "missing-output: 1" in out and "stray-file: 1" in out
    assert "missing-output" in html and "stray-file" in html


def test_cli_without_run_report_warns_or_exits_1_when_required(tmp_path: Path) -> None:
    pair = build_pair(tmp_path)
    code, out, data, html = _verify(pair, "--fail-on", "warn")
    assert code == EXIT_OK and data["verdict"] == "clean"
    assert [(f["check"], f["severity"]) for f in data["findings"]] == [("run-report", "warn")]
    assert "no run report: completeness not checked" in out
    assert "no run report: completeness not checked" in html
    code, out, data, _ = _verify(pair, "--require-run-report")
    assert code == EXIT_HELD_BACK and data["verdict"] == "incomplete"
    assert data["exit_code"] == EXIT_HELD_BACK
