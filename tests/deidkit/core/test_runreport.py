"""Run report and action log: beside OUTPUT, codes and tag names only."""

from __future__ import annotations

import io
import json
from pathlib import Path

from deidkit.core.runreport import (
    REPORT_FORMAT,
    ActionLog,
    FileOutcome,
    RunTally,
    action_log_path,
    dump_report,
    read_run_report,
    run_report_path,
)


def test_paths_are_beside_output(tmp_path: Path) -> None:
    out = tmp_path / "release"
    assert run_report_path(out) == tmp_path / "release.run-report.json"
    assert action_log_path(out) == tmp_path / "release.actions.jsonl"
    assert not run_report_path(out).is_relative_to(out)


def test_log_record_never_carries_linkage_or_cohort() -> None:
    outcome = FileOutcome(
        source="a.dcm",
        status="written",
        output="P/1/2/3.dcm",
        modality="CT",
        actions=(("(0010,0010)", "PatientName", "Z", "basic"),),
        linkage=(("PatientID", "SECRET-ORIGINAL", "PABC"),),
        cohort={"sex": "F"},
    )
    buffer = io.BytesIO()
    ActionLog(buffer).write(outcome)
    line = buffer.getvalue().decode()
    assert "SECRET-ORIGINAL" not in line and "cohort" not in line
    record = json.loads(line)
    assert record["actions"] == [["(0010,0010)", "PatientName", "Z", "basic"]]
    assert "SECRET-ORIGINAL" not in repr(outcome)


def test_action_log_without_handle_is_noop() -> None:
    ActionLog(None).write(FileOutcome(source="x", status="dry_run"))


def test_tally_counts() -> None:
    tally = RunTally()
    tally.add(FileOutcome(source="a", status="written", modality="CT"))
    tally.add(FileOutcome(source="b", status="unchanged", modality="CT"))
    tally.add(FileOutcome(source="c", status="held_back", reason="truncated"))
    tally.add(FileOutcome(source="d", status="held_back", reason="burned_in", burned_in_risk="YES"))
    tally.add(FileOutcome(source="e", status="skipped", reason="dicomdir"))
    counts = tally.counts()
    assert counts["found"] == 5 and counts["released"] == 2 and counts["held_back"] == 2
    assert counts["skipped"] == 1 and counts["burned_in_flagged"] == 1
    assert tally.by_modality == {"CT": 2}
    assert [h["reason"] for h in tally.held_back] == ["truncated", "burned_in"]
    assert tally.burned_in[0]["released"] is False


def test_report_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(dump_report({"format": REPORT_FORMAT, "b": 1, "a": 2}))
    assert read_run_report(path) == {"format": REPORT_FORMAT, "a": 2, "b": 1}
    assert dump_report({"b": 1, "a": 2}).index('"a"') < dump_report({"b": 1, "a": 2}).index('"b"')
    path.write_text('{"format": "other"}')
    assert read_run_report(path) is None
    path.write_text("not json")
    assert read_run_report(path) is None
    assert read_run_report(tmp_path / "missing.json") is None
