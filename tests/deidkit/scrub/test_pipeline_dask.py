"""scrub on a two-worker Dask LocalCluster: the bytes of a local run, worker loss, resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrub_helpers import read_tree

from deidkit.core.keys import ProjectKey
from deidkit.core.runreport import FileOutcome, action_log_path, run_report_path
from deidkit.demo.sample import SampleCorpus
from deidkit.pseudonymise.linkage import LinkageStore
from deidkit.rules.profile import load_profile
from deidkit.scrub import pipeline
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, ScrubSummary, scrub_tree

pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")

from deidkit.core.dask_executor import DaskCluster  # noqa: E402

# What differs between two runs of one release by design: when and how long it ran, and how.
_RUN_ONLY = ("started", "finished", "elapsed_seconds", "worker_restarts")


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    """Two single-thread worker processes (a worker can be killed)."""
    with DaskCluster.connect(workers=2, processes=True, dashboard_address=":0") as started:
        yield started


def _scrub(source: Path, out: Path, key: ProjectKey, **kw: Any) -> ScrubSummary:
    on_outcome = kw.pop("on_outcome", None)
    settings = ScrubSettings(profile=load_profile("research"), key=key)
    return scrub_tree(source, out, settings=settings, options=RunOptions(**kw),
                      on_outcome=on_outcome)  # fmt: skip


def _report(out: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(run_report_path(out).read_text())
    for name in _RUN_ONLY:
        report.pop(name, None)
    report["options"].pop("workers")
    report.pop("output")
    return report


def test_same_bytes_as_one_local_process(
    sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, cluster: DaskCluster
) -> None:
    runs = {}
    for name, extra in (("local", {"workers": 1}), ("dask", {"cluster": cluster,
                                                             "chunk_size": 2})):  # fmt: skip
        out = tmp_path / name / "release"
        sides = {"linkage_path": out.parent / "link.bin",
                 "cohort_manifest": out.parent / "cohort.csv"}  # fmt: skip
        summary = _scrub(sample_corpus.root, out, project_key, **sides, **extra)
        entries = LinkageStore(sides["linkage_path"], key=project_key).entries()
        runs[name] = {
            "tree": read_tree(out),
            "log": action_log_path(out).read_bytes(),
            "report": _report(out),
            "cohort": sides["cohort_manifest"].read_bytes(),
            "linkage": sorted((e.kind, e.original, e.pseudonym) for e in entries),
            "counts": summary.counts,
        }
    local, dask = runs["local"], runs["dask"]
    assert local["counts"]["released"] > 20 and local["counts"]["held_back"] > 0
    for part in ("tree", "log", "report", "cohort", "linkage", "counts"):
        assert dask[part] == local[part], part


def test_series_batches_keep_folders_together(tmp_path: Path) -> None:
    for folder, count in (("a", 3), ("b", 2), ("c", 9), ("d", 1), ("e", 1)):
        (tmp_path / folder).mkdir()
        for i in range(count):
            (tmp_path / folder / f"{i:02d}").write_bytes(b"x")
    batches = list(pipeline._series_batches(tmp_path, least=2, most=4))
    folders = [[rel.split("/")[0] for _path, rel in batch] for batch in batches]
    # A series larger than `most` is split; series smaller than `least` share a batch.
    assert folders == [["a"] * 3, ["b"] * 2, ["c"] * 4, ["c"] * 4, ["c", "d"], ["e"]]
    assert [rel for batch in batches for _p, rel in batch] == [
        rel for _p, rel in pipeline.iter_input_paths(tmp_path)
    ]


def test_a_killed_worker_loses_nothing(
    small_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    cluster: DaskCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dask_probe

    reference = tmp_path / "reference"
    _scrub(small_corpus.root, reference, project_key, workers=1)
    out = tmp_path / "out"
    monkeypatch.setattr(pipeline, "run_chunk", dask_probe.run_chunk_killed_once)
    summary = _scrub(small_corpus.root, out, project_key, cluster=cluster, chunk_size=1)
    assert (out.parent / dask_probe.DIED).exists()  # a worker process did die mid-batch
    assert summary.report["status"] == "complete"
    assert summary.report.get("worker_restarts", 0) >= 1
    assert read_tree(out) == read_tree(reference)  # no partial file, nothing missing
    assert summary.counts["released"] == _report(reference)["counts"]["released"]


def test_a_crashed_client_resumes_and_skips_finished_files(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, cluster: DaskCluster
) -> None:
    reference = tmp_path / "reference"
    _scrub(small_corpus.root, reference, project_key, workers=1)
    out = tmp_path / "out"
    seen: list[FileOutcome] = []

    def crash(outcome: FileOutcome) -> None:
        seen.append(outcome)
        if len(seen) == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _scrub(small_corpus.root, out, project_key, cluster=cluster, chunk_size=1,
               on_outcome=crash)  # fmt: skip
    finished = read_tree(out)
    assert 0 < len(finished) < len(read_tree(reference))
    summary = _scrub(small_corpus.root, out, project_key, cluster=cluster, chunk_size=1)
    assert summary.report["resumed"] is True
    assert summary.counts["unchanged"] >= len(finished)
    assert read_tree(out) == read_tree(reference)
