"""The batch loop under faults: lost workers, checks before writing, leftovers of a kill."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fault_probe
import pytest
from scrub_helpers import read_tree

from deidkit.core.errors import (
    InsufficientSpaceError,
    LinkageError,
    NothingToDoError,
    OutputPathError,
    WorkerLostError,
)
from deidkit.core.keys import KEY_ENV_VAR, ProjectKey
from deidkit.core.runreport import FileOutcome, action_log_path, run_report_path
from deidkit.demo.sample import SampleCorpus
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore
from deidkit.rules.profile import load_profile
from deidkit.scrub import pipeline
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, ScrubSummary, scrub_tree


def _scrub(source: Path, out: Path, key: ProjectKey, **kw: Any) -> ScrubSummary:
    on_outcome = kw.pop("on_outcome", None)
    on_total = kw.pop("on_total", None)
    settings = ScrubSettings(profile=load_profile("basic"), key=key)
    return scrub_tree(source, out, settings=settings, options=RunOptions(**kw),
                      on_outcome=on_outcome, on_total=on_total)  # fmt: skip


def _log(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in action_log_path(out).read_text().splitlines()]


def _same_log_but_status(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """The action log of a run with a lost worker: walk order and every record kept; a file
    the lost worker had written before it died is found ``unchanged`` by its retry."""
    assert [r["source"] for r in got] == [r["source"] for r in want]
    for mine, theirs in zip(got, want, strict=True):
        if mine["status"] != theirs["status"]:
            assert (mine["status"], theirs["status"]) == ("unchanged", "written")
            mine = {**mine, "status": "written"}
        assert mine == theirs


def _nothing_written(tmp_path: Path, out: Path) -> None:
    assert not out.exists()
    assert not run_report_path(out).exists() and not action_log_path(out).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


@pytest.fixture
def reference(sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path) -> Path:
    out = tmp_path / "reference" / "release"
    _scrub(sample_corpus.root, out, project_key, workers=1)
    return out


def test_a_killed_worker_is_replaced_and_the_output_is_identical(
    sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, reference: Path
) -> None:
    out = tmp_path / "run" / "release"
    killed: list[int] = []

    def kill_a_worker(outcome: FileOutcome) -> None:
        workers = multiprocessing.active_children()  # the pool's processes
        if not killed and workers:
            killed.append(workers[0].pid or 0)
            os.kill(killed[0], signal.SIGKILL)

    summary = _scrub(sample_corpus.root, out, project_key, workers=2, chunk_size=2,
                     on_outcome=kill_a_worker)  # fmt: skip
    assert killed and summary.report["worker_restarts"] >= 1
    assert summary.report["status"] == "complete"
    assert read_tree(out) == read_tree(reference)  # no lost file, no temp file left
    _same_log_but_status(_log(out), _log(reference))
    assert summary.counts["released"] == len(sample_corpus.released)


def test_a_chunk_whose_worker_died_mid_write_is_redone(
    sample_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    reference: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "run" / "release"
    out.parent.mkdir()
    middle = [r["source"] for r in _log(reference)][len(sample_corpus.files) // 2]
    (out.parent / fault_probe.DIE_AT).write_text(middle)
    monkeypatch.setattr(pipeline, "run_chunk", fault_probe.run_chunk_dying_once)
    summary = _scrub(sample_corpus.root, out, project_key, workers=2, chunk_size=3)
    assert (out.parent / fault_probe.DIED).exists()  # the worker did die
    assert summary.report["worker_restarts"] == 1
    assert read_tree(out) == read_tree(reference)
    _same_log_but_status(_log(out), _log(reference))


def test_a_worker_lost_every_time_stops_the_run_as_failed(
    small_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "release"
    monkeypatch.setattr(pipeline, "run_chunk", fault_probe.run_chunk_always_dying)
    with pytest.raises(WorkerLostError, match="re-run the same command"):
        _scrub(small_corpus.root, out, project_key, workers=2)
    report = json.loads(run_report_path(out).read_text())
    assert report["status"] == "failed" and report["error"] == "WorkerLostError"
    monkeypatch.undo()  # the files no longer kill their reader: the re-run finishes the release
    assert _scrub(small_corpus.root, out, project_key, workers=2).report["status"] == "complete"


def test_linkage_with_another_key_fails_before_anything_is_written(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    linkage = tmp_path / "release.linkage"
    other = ProjectKey(secret=b"\x07" * 32, source="other")
    LinkageStore(linkage, key=other).append([LinkageEntry("PatientID", "x", "P1")])
    before = linkage.read_bytes()
    out = tmp_path / "release"
    totals: list[int] = []
    started = time.monotonic()
    with pytest.raises(LinkageError, match="key does not open it"):
        _scrub(small_corpus.root, out, project_key, workers=2, linkage_path=linkage,
               on_total=totals.append)  # fmt: skip
    assert time.monotonic() - started < 1.0
    assert totals == []  # not one file was scrubbed
    _nothing_written(tmp_path, out)
    assert linkage.read_bytes() == before
    (tmp_path / "notes.txt").write_bytes(b"not a linkage file")
    with pytest.raises(LinkageError, match="not a deidkit linkage file"):
        _scrub(small_corpus.root, out, project_key, linkage_path=tmp_path / "notes.txt")
    _nothing_written(tmp_path, out)


def test_empty_input_is_nothing_to_do(project_key: ProjectKey, tmp_path: Path) -> None:
    empty = tmp_path / "export"
    (empty / "sub" / "folder").mkdir(parents=True)
    out = tmp_path / "release"
    for dry_run in (False, True):
        with pytest.raises(NothingToDoError, match="nothing to do"):
            _scrub(empty, out, project_key, dry_run=dry_run)
    _nothing_written(tmp_path, out)


def test_a_release_that_does_not_fit_fails_before_writing(
    small_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "release"
    free: list[Path] = []

    def nearly_full(folder: Path) -> int:
        free.append(folder)
        return 1000

    monkeypatch.setattr(pipeline, "_free_bytes", nearly_full)
    with pytest.raises(InsufficientSpaceError, match="needs about"):
        _scrub(small_corpus.root, out, project_key)
    assert free == [tmp_path]  # OUTPUT's nearest existing folder
    _nothing_written(tmp_path, out)
    _scrub(small_corpus.root, out, project_key, dry_run=True)  # writes nothing: no check


def test_resume_needs_room_only_for_what_is_missing(
    small_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "release"
    _scrub(small_corpus.root, out, project_key)
    inputs = sum(p.stat().st_size for p in small_corpus.root.rglob("*") if p.is_file())
    released = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    monkeypatch.setattr(pipeline, "_free_bytes", lambda _folder: inputs - released + 1)
    assert _scrub(small_corpus.root, out, project_key).counts["written"] == 0


def test_output_under_a_file_is_a_usage_error(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputPathError, match="lies under a file"):
        _scrub(small_corpus.root, tmp_path / "afile" / "release", project_key)
    (tmp_path / "linkdir").mkdir()
    with pytest.raises(OutputPathError, match="--linkage"):
        _scrub(small_corpus.root, tmp_path / "release", project_key,
               linkage_path=tmp_path / "linkdir")  # fmt: skip
    _nothing_written(tmp_path, tmp_path / "release")


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_a_killed_run_leaves_an_owner_only_fragment_that_the_resume_removes(
    sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, reference: Path
) -> None:
    out = tmp_path / "run" / "release"
    out.parent.mkdir()
    foreign = out.parent / ".tmp-other.actions.jsonl-abc.part"  # another OUTPUT's: kept
    foreign.write_text("x")

    def fragments() -> list[Path]:
        return [p for p in out.parent.iterdir() if p.name.startswith(".tmp-release.")]

    env = {**os.environ, KEY_ENV_VAR: project_key.secret.hex()}
    command = [sys.executable, "-m", "deidkit", "scrub", str(sample_corpus.root), str(out),
               "--workers", "2"]  # fmt: skip
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as run:  # fmt: skip
        appeared = _wait_for(lambda: any(".actions.jsonl" in p.name for p in fragments()), 60)
        run.kill()
    assert appeared, "the scrub finished before it could be killed"
    left = fragments()
    assert left and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in left)
    assert json.loads(run_report_path(out).read_text())["status"] == "running"
    summary = _scrub(sample_corpus.root, out, project_key, workers=2)
    assert summary.report["status"] == "complete"
    assert fragments() == [] and foreign.exists()
    assert read_tree(out) == read_tree(reference)
