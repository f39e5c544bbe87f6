"""scrub with INPUT / OUTPUT as fsspec URLs (memory://, file://): the bytes of a local run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from memory_fs import memory_tree, upload
from scrub_helpers import read_tree

from deidkit.core.errors import OutputPathError, UsageError
from deidkit.core.keys import ProjectKey
from deidkit.core.locations import Location
from deidkit.core.runreport import action_log_path, run_report_path
from deidkit.demo.sample import SampleCorpus
from deidkit.rules.profile import load_profile
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, ScrubSummary, scrub_tree
from deidkit.scrub.remote import check_url_locations

fsspec = pytest.importorskip("fsspec", reason="needs the 'cloud' extra (fsspec)")

# What differs between two runs of one release by design: when, how long, how and where.
_RUN_ONLY = ("started", "finished", "elapsed_seconds", "worker_restarts", "input", "output")


def _released(fs: Any, root: str) -> dict[str, bytes]:
    return memory_tree(fs, root, exclude=(".run-report.json", ".actions.jsonl"))


def _scrub(source: Path | str, out: Path | str, key: ProjectKey, **kw: Any) -> ScrubSummary:
    settings = ScrubSettings(profile=load_profile("research"), key=key)
    return scrub_tree(source, out, settings=settings, options=RunOptions(**kw))


def _comparable(report: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(report)
    for name in _RUN_ONLY:
        data.pop(name, None)
    data["options"].pop("workers")
    return data


def test_memory_to_memory_gives_the_bytes_of_a_local_run(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, memory: Any
) -> None:
    fs, root = memory
    local = tmp_path / "release"
    expected = _scrub(small_corpus.root, local, project_key, workers=1)
    upload(small_corpus.root, fs, f"{root}/in")

    summary = _scrub(f"memory://{root}/in", f"memory://{root}/out", project_key)

    assert summary.counts == expected.counts
    assert expected.counts["released"] > 4 and expected.counts["held_back"] > 0
    assert _released(fs, f"{root}/out") == read_tree(local)
    assert fs.cat_file(f"{root}/out.actions.jsonl") == action_log_path(local).read_bytes()
    report = fs.cat_file(f"{root}/out.run-report.json")
    assert _comparable(report) == _comparable(run_report_path(local).read_bytes())
    assert json.loads(report)["output"] == f"memory://{root}/out"
    assert summary.output == f"memory://{root}/out"
    assert summary.run_report == f"memory://{root}/out.run-report.json"


def test_file_url_input_is_the_local_path(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    plain = _scrub(small_corpus.root, tmp_path / "plain", project_key, workers=1)
    url = _scrub(f"file://{small_corpus.root}", tmp_path / "url", project_key, workers=2)
    assert url.counts == plain.counts
    assert read_tree(tmp_path / "url") == read_tree(tmp_path / "plain")
    assert (
        action_log_path(tmp_path / "url").read_bytes()
        == action_log_path(tmp_path / "plain").read_bytes()
    )


def test_memory_input_to_local_output_and_local_input_to_memory_output(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, memory: Any
) -> None:
    fs, root = memory
    expected = read_tree(_given_tree(small_corpus, project_key, tmp_path / "plain"))
    upload(small_corpus.root, fs, f"{root}/in")
    # --workers 2 asked: memory:// runs in this process all the same (workers would not see it)
    _scrub(f"memory://{root}/in", tmp_path / "from-memory", project_key, workers=2)
    assert read_tree(tmp_path / "from-memory") == expected
    _scrub(small_corpus.root, f"memory://{root}/to", project_key, workers=2)
    assert _released(fs, f"{root}/to") == expected


def _given_tree(corpus: SampleCorpus, key: ProjectKey, out: Path) -> Path:
    _scrub(corpus.root, out, key, workers=1)
    return out


def test_resume_skips_outputs_already_in_a_url_output(
    small_corpus: SampleCorpus, project_key: ProjectKey, memory: Any
) -> None:
    fs, root = memory
    upload(small_corpus.root, fs, f"{root}/in")
    first = _scrub(f"memory://{root}/in", f"memory://{root}/out", project_key)
    released = sorted(_released(fs, f"{root}/out"))
    fs.rm_file(f"{root}/out/{released[0]}")  # as if the run had been killed before it

    again = _scrub(f"memory://{root}/in", f"memory://{root}/out", project_key)

    assert again.report["resumed"] is True
    assert again.counts["written"] == 1
    assert again.counts["unchanged"] == first.counts["released"] - 1
    assert sorted(_released(fs, f"{root}/out")) == released


def test_url_output_of_other_settings_is_refused(
    small_corpus: SampleCorpus, project_key: ProjectKey, memory: Any
) -> None:
    fs, root = memory
    fs.pipe_file(f"{root}/out/stranger.dcm", b"not ours")
    with pytest.raises(OutputPathError, match="not empty") as caught:
        _scrub(small_corpus.root, f"memory://{root}/out", project_key)
    assert root not in str(caught.value)
    assert fs.cat_file(f"{root}/out/stranger.dcm") == b"not ours"


def test_url_output_inside_url_input_is_refused(project_key: ProjectKey, memory: Any) -> None:
    fs, root = memory
    fs.pipe_file(f"{root}/in/a.dcm", b"x")
    with pytest.raises(OutputPathError, match="INPUT"):
        _scrub(f"memory://{root}/in", f"memory://{root}/in/release", project_key)
    with pytest.raises(UsageError, match="does not exist") as caught:
        _scrub(f"memory://{root}/missing", f"memory://{root}/out", project_key)
    assert root not in str(caught.value)


class _Client:
    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids

    def run(self, _function: object) -> dict[str, int]:
        return self._pids


class _Cluster:
    def __init__(self, pids: dict[str, int]) -> None:
        self.client = _Client(pids)


def test_memory_is_refused_on_a_cluster_of_other_processes(
    small_corpus: SampleCorpus, memory: Any
) -> None:
    _fs, root = memory
    src = Location.parse(small_corpus.root, option="INPUT")
    out = Location.parse(f"memory://{root}/out", option="OUTPUT")
    elsewhere = RunOptions(cluster=cast(Any, _Cluster({"tcp://w1": os.getpid() + 1})))
    with pytest.raises(UsageError, match="memory://"):
        check_url_locations(src, out, elsewhere)
    here = RunOptions(cluster=cast(Any, _Cluster({"tcp://w1": os.getpid()})))
    check_url_locations(src, out, here)  # threads of this process see it
    shared = Location.parse(f"local://{root}/out", option="OUTPUT")
    check_url_locations(src, shared, elsewhere)


def test_a_failed_put_is_held_back_and_the_rerun_writes_it(
    small_corpus: SampleCorpus,
    project_key: ProjectKey,
    memory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fs, root = memory
    upload(small_corpus.root, fs, f"{root}/in")
    real_put = Location.put_bytes
    failed: list[str] = []

    def flaky_put(self: Location, path: str, data: bytes) -> None:
        if not failed and path.endswith(".dcm"):
            failed.append(path)
            raise PermissionError("denied for s3://bucket/secret-path")  # a backend's message
        real_put(self, path, data)

    monkeypatch.setattr(Location, "put_bytes", flaky_put)
    first = _scrub(f"memory://{root}/in", f"memory://{root}/out", project_key)
    lost = [e for e in first.report["held_back"] if e["reason"] == "write_error"]
    assert len(lost) == 1 and lost[0]["detail"] == "PermissionError"
    assert not fs.exists(failed[0])

    again = _scrub(f"memory://{root}/in", f"memory://{root}/out", project_key)
    assert again.counts["written"] == 1 and fs.exists(failed[0])
    assert again.counts["released"] == first.counts["released"] + 1


@pytest.fixture(scope="module")
def process_cluster() -> Iterator[Any]:
    """Two single-thread worker processes (a worker can be killed)."""
    pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")
    from deidkit.core.dask_executor import DaskCluster

    with DaskCluster.connect(workers=2, processes=True, dashboard_address=":0") as started:
        yield started


def test_dask_worker_processes_read_and_put_through_fsspec(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, process_cluster: Any
) -> None:
    plain = _scrub(small_corpus.root, tmp_path / "plain", project_key, workers=1)
    # local:// is fsspec's local file system: puts go to a temp name and are moved over
    spread = _scrub(f"local://{small_corpus.root}", f"local://{tmp_path}/spread",
                    project_key, cluster=process_cluster, chunk_size=2)  # fmt: skip
    assert spread.counts == plain.counts
    assert read_tree(tmp_path / "spread") == read_tree(tmp_path / "plain")
    assert (tmp_path / "spread.actions.jsonl").read_bytes() == action_log_path(
        tmp_path / "plain"
    ).read_bytes()


def test_a_killed_worker_leaves_nothing_partial_in_a_url_output(
    small_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    process_cluster: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dask_probe

    from deidkit.scrub import pipeline

    _scrub(small_corpus.root, tmp_path / "plain", project_key, workers=1)
    monkeypatch.setattr(pipeline, "run_chunk", dask_probe.run_chunk_killed_once)
    # The probe puts one file, leaves a temp file beside it and SIGKILLs its worker.
    summary = _scrub(small_corpus.root, f"local://{tmp_path}/out", project_key,
                     cluster=process_cluster, chunk_size=1)  # fmt: skip
    assert (tmp_path / dask_probe.DIED).exists()
    assert summary.report["status"] == "complete"
    assert summary.report.get("worker_restarts", 0) >= 1
    assert read_tree(tmp_path / "out") == read_tree(tmp_path / "plain")
