"""Durability of a batch: the background flush overlaps the work; the final sync still runs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from deidkit.core.keys import ProjectKey
from deidkit.core.runreport import FileOutcome, run_report_path
from deidkit.demo.sample import SampleCorpus
from deidkit.rules.profile import load_profile
from deidkit.scrub import pipeline
from deidkit.scrub.pipeline import BackgroundSync, RunOptions, ScrubSettings, scrub_tree

# Generous: only reached if the flushing thread never runs (a failure, not a timing check).
_PATIENCE = 60.0


def _sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "deidkit-sync"]


class _Recorder:
    """Stands in for os.sync: records who flushed and what the run report said then."""

    def __init__(self, report: Path | None = None) -> None:
        self.calls: list[tuple[str, bool, str | None]] = []
        self.background = threading.Event()
        self._report = report

    def __call__(self) -> None:
        name = threading.current_thread().name
        status = None
        if self._report is not None and self._report.exists():
            status = json.loads(self._report.read_text(encoding="utf-8"))["status"]
        others_alive = any(t is not threading.current_thread() for t in _sync_threads())
        self.calls.append((name, others_alive, status))
        if name == "deidkit-sync":
            self.background.set()


def test_background_sync_flushes_until_stopped() -> None:
    recorder = _Recorder()
    with BackgroundSync(0.01, sync=recorder) as flusher:
        assert recorder.background.wait(_PATIENCE)
        assert flusher.running
    assert not flusher.running
    done = len(recorder.calls)
    assert done >= 1 and flusher.flushes == done
    assert all(name == "deidkit-sync" for name, _alive, _status in recorder.calls)
    flusher.stop()  # idempotent
    assert len(recorder.calls) == done  # nothing flushes after the stop


def test_background_sync_stops_when_the_body_raises() -> None:
    recorder = _Recorder()
    with pytest.raises(KeyboardInterrupt), BackgroundSync(0.01, sync=recorder) as flusher:
        assert recorder.background.wait(_PATIENCE)
        raise KeyboardInterrupt
    assert not flusher.running and _sync_threads() == []


def _settings(key: ProjectKey) -> ScrubSettings:
    return ScrubSettings(profile=load_profile("basic"), key=key)


@pytest.mark.parametrize("workers", [1, 2])
def test_scrub_flushes_during_the_run_and_syncs_last(
    small_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    out = tmp_path / "release"
    recorder = _Recorder(run_report_path(out))
    monkeypatch.setattr(pipeline, "_sync", recorder)
    monkeypatch.setattr(pipeline, "SYNC_INTERVAL_SECONDS", 0.01)
    waited: list[bool] = []

    def wait_for_a_flush(_outcome: FileOutcome) -> None:
        # Hold the batch until the flushing thread has run once while files are processed.
        if not waited:
            waited.append(recorder.background.wait(_PATIENCE))

    summary = scrub_tree(
        small_corpus.root,
        out,
        settings=_settings(project_key),
        options=RunOptions(workers=workers, chunk_size=2),
        on_outcome=wait_for_a_flush,
    )
    assert waited == [True]
    background = [c for c in recorder.calls if c[0] == "deidkit-sync"]
    assert background and all(status == "running" for _n, _a, status in background)
    # The last flush is the final one: in the caller's thread, after the flushing thread
    # has stopped, and before the report says "complete".
    assert recorder.calls[-1] == (threading.current_thread().name, False, "running")
    assert _sync_threads() == []
    assert summary.report["status"] == "complete"
    assert json.loads(run_report_path(out).read_text(encoding="utf-8"))["status"] == "complete"


def test_failed_run_stops_the_flush_and_never_claims_complete(
    small_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "release"
    recorder = _Recorder(run_report_path(out))
    monkeypatch.setattr(pipeline, "_sync", recorder)
    monkeypatch.setattr(pipeline, "SYNC_INTERVAL_SECONDS", 0.01)

    def interrupt(_outcome: FileOutcome) -> None:
        assert recorder.background.wait(_PATIENCE)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scrub_tree(
            small_corpus.root,
            out,
            settings=_settings(project_key),
            options=RunOptions(workers=1),
            on_outcome=interrupt,
        )
    assert _sync_threads() == []
    assert all(name == "deidkit-sync" for name, _alive, _status in recorder.calls)
    assert json.loads(run_report_path(out).read_text(encoding="utf-8"))["status"] == "running"
