"""Plain progress lines where no bar can be drawn (stderr not a terminal: CI logs, pipes)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import deidkit.deface
from deidkit.cli import app
from deidkit.commands import _progress
from deidkit.commands._progress import LineProgress, plain_progress
from deidkit.core.errors import DeidkitError
from deidkit.core.keys import KEY_ENV_VAR
from deidkit.deface.tasks import FileResult
from deidkit.demo.sample import SampleCorpus

runner = CliRunner()
ENV = {KEY_ENV_VAR: "ab" * 32}


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_n_files_or_every_interval(capsys: pytest.CaptureFixture[str]) -> None:
    clock = _Clock()
    lines = LineProgress("scrub", flag="held back", every=3, seconds=10, clock=clock)
    for i in range(7):
        lines.advance(flagged=i == 1)
    lines.set_total(20)
    clock.now += 10  # ten seconds without a line: the next file prints one
    lines.advance()
    assert capsys.readouterr().err.splitlines() == [
        "scrub: 3 files, 1 held back",
        "scrub: 6 files, 1 held back",
        "scrub: 8/20 files, 1 held back",
    ]
    lines.advance()  # neither 3 more files nor 10 more seconds
    assert capsys.readouterr().err == ""


def test_absolute_counts_and_no_flag(capsys: pytest.CaptureFixture[str]) -> None:
    lines = LineProgress("verify release", every=100, clock=_Clock())
    lines.update(99, 250)
    lines.update(100, 250)
    lines.update(150, 250)
    assert capsys.readouterr().err.splitlines() == ["verify release: 100/250 files"]


def test_no_lines_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "stderr_console", Console(stderr=True, force_terminal=True))
    assert plain_progress("scrub") is None
    monkeypatch.setattr(_progress, "stderr_console", Console(stderr=True, force_terminal=False))
    assert isinstance(plain_progress("scrub"), LineProgress)


def test_scrub_prints_plain_lines_without_paths(
    sample_corpus: SampleCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_progress, "EVERY_FILES", 10)
    out = tmp_path / "out"
    args = ["scrub", str(sample_corpus.root), str(out), "--workers", "2"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 1, result.output  # the sample's broken files are held back
    total = len(sample_corpus.files)
    lines = result.stderr.splitlines()
    progress = [line for line in lines if line.startswith("scrub: ")]
    assert [line.split(" ")[1] for line in progress] == [
        f"{n}/{total}" for n in range(10, total + 1, 10)
    ]
    assert all(re.fullmatch(r"scrub: \d+/\d+ files, \d+ held back", line) for line in progress)
    held = [int(line.split(", ")[1].split()[0]) for line in progress]
    assert held == sorted(held) and 0 < held[-1] <= len(sample_corpus.expected_held_back)
    for sample in sample_corpus.files:  # no input path, no name in it
        assert sample.path not in result.stderr
    assert not any(canary in result.stderr for canary in sample_corpus.canaries)


def test_verify_prints_plain_lines(
    small_corpus: SampleCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    scrubbed = runner.invoke(app, ["scrub", str(small_corpus.root), str(out)], env=ENV)
    assert scrubbed.exit_code in (0, 1), scrubbed.output
    monkeypatch.setattr(_progress, "EVERY_FILES", 1)
    result = runner.invoke(app, ["verify", str(out), "--workers", "1"])
    assert result.exit_code in (0, 3), result.output
    released = sum(1 for p in out.rglob("*") if p.is_file())
    assert f"verify release: {released}/{released} files" in result.stderr.splitlines()


def test_deface_prints_plain_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    statuses = ["defaced", "refused", "defaced", "failed"]

    def fake_batch(*_args: Any, progress: Any, **_kwargs: Any) -> None:
        for i, status in enumerate(statuses):
            progress(FileResult(path=f"sub-{i}/anat/sub-{i}_T1w.nii.gz", status=status))
        raise DeidkitError("stopped after the progress lines")

    monkeypatch.setattr(_progress, "EVERY_FILES", 2)
    monkeypatch.setattr(deidkit.deface, "run_batch", fake_batch)
    (tmp_path / "in").mkdir()
    result = runner.invoke(app, ["deface", str(tmp_path / "in"), str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("deface:")] == [
        "deface: 2 files, 1 refused, flagged or failed",
        "deface: 4 files, 2 refused, flagged or failed",
    ]
    assert "sub-" not in result.stderr
