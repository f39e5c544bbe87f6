"""deface with INPUT / OUTPUT as fsspec URLs (memory://, file://): the bytes of a local run."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nibabel as nib
import pytest
from deface_heads import head_grid, make_head, nifti
from memory_fs import memory_tree, upload
from test_deface_dicom import write_series

from deidkit.core.errors import OutputPathError, UsageError
from deidkit.deface import DefaceOptions, DefaceReport, run_batch, run_url_batch
from deidkit.deface.output import REPORT_NAME
from deidkit.deface.templates import HeadTemplate

fsspec = pytest.importorskip("fsspec", reason="needs the 'cloud' extra (fsspec)")


@dataclass(frozen=True)
class LocalRun:
    """A small tree (NIfTI + sidecar, a DICOM series, a text file) and its local deface."""

    source: Path
    report: DefaceReport
    tree: dict[str, bytes]


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def local_run(template: HeadTemplate, tmp_path_factory: pytest.TempPathFactory) -> LocalRun:
    base = tmp_path_factory.mktemp("deface-urls")
    grid = head_grid(template, zooms=(6.0, 6.0, 6.0))  # the tiniest head the deface tests use
    head, _truth = make_head(template, grid)
    src = base / "in"
    (src / "sub-01").mkdir(parents=True)
    nib.save(nifti(head, grid), src / "sub-01" / "Doe_T1w.nii.gz")
    sidecar = {"PatientName": "Doe^Jane", "RepetitionTime": 2.0}
    (src / "sub-01" / "Doe_T1w.json").write_text(json.dumps(sidecar))
    (src / "notes.txt").write_text("left behind\n")
    write_series(src / "series1", head, grid)
    report = run_batch(src, base / "local", DefaceOptions())
    assert report.counts() == {"defaced": 2, "scrubbed": 1}
    return LocalRun(src, report, read_tree(base / "local"))


def test_memory_to_memory_gives_the_bytes_of_a_local_run(
    local_run: LocalRun, memory: tuple[Any, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fs, root = memory
    upload(local_run.source, fs, f"{root}/in")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the private copies go
    ticks: list[str] = []
    report = run_url_batch(f"memory://{root}/in", f"memory://{root}/out", DefaceOptions(),
                           workers=2, progress=lambda r: ticks.append(r.status))  # fmt: skip
    assert report.results == local_run.report.results
    assert report.left_behind == local_run.report.left_behind == {"text": 1}
    assert sorted(ticks) == ["defaced", "defaced", "scrubbed"]
    assert memory_tree(fs, f"{root}/out") == local_run.tree  # the run report too
    assert not any(scratch.iterdir())  # the skeleton and each group's copy are gone


def test_a_rerun_resumes_into_its_own_output_and_removes_stale_files(
    local_run: LocalRun, memory: tuple[Any, str]
) -> None:
    fs, root = memory
    upload(local_run.source, fs, f"{root}/in")
    out = f"memory://{root}/out"
    run_url_batch(f"memory://{root}/in", out, DefaceOptions())
    # An interrupted run left its report 'incomplete' and listed an output no longer made.
    report = json.loads(fs.cat_file(f"{root}/out/{REPORT_NAME}"))
    report["complete"], report["outputs"] = False, [*report["outputs"], "sub-01/old_T1w.nii.gz"]
    fs.pipe_file(f"{root}/out/{REPORT_NAME}", json.dumps(report).encode())
    fs.pipe_file(f"{root}/out/sub-01/old_T1w.nii.gz", b"stale")
    again = run_url_batch(f"memory://{root}/in", out, DefaceOptions())
    assert again.results == local_run.report.results
    assert memory_tree(fs, f"{root}/out") == local_run.tree


def test_a_foreign_nonempty_url_output_needs_force(
    local_run: LocalRun, memory: tuple[Any, str]
) -> None:
    fs, root = memory
    upload(local_run.source, fs, f"{root}/in")
    fs.pipe_file(f"{root}/out/someone-elses.txt", b"x")
    with pytest.raises(OutputPathError, match="--force"):
        run_url_batch(f"memory://{root}/in", f"memory://{root}/out", DefaceOptions())
    assert memory_tree(fs, f"{root}/out") == {"someone-elses.txt": b"x"}
    with pytest.raises(OutputPathError, match="INPUT"):
        run_url_batch(f"memory://{root}/in", f"memory://{root}/in/out", DefaceOptions())


def test_file_url_to_a_local_folder(local_run: LocalRun, tmp_path: Path) -> None:
    report = run_url_batch(f"file://{local_run.source}", str(tmp_path / "out"), DefaceOptions())
    assert report.results == local_run.report.results
    assert read_tree(tmp_path / "out") == local_run.tree


def test_local_to_memory_and_memory_to_a_local_folder(
    local_run: LocalRun, memory: tuple[Any, str], tmp_path: Path
) -> None:
    fs, root = memory
    up = run_url_batch(local_run.source, f"memory://{root}/out", DefaceOptions())
    assert up.results == local_run.report.results
    assert memory_tree(fs, f"{root}/out") == local_run.tree
    # A single NIfTI at a URL, with its sidecar beside it, as a local single-file run.
    single = local_run.source / "sub-01" / "Doe_T1w.nii.gz"
    upload(single.parent, fs, f"{root}/one")
    down = run_url_batch(f"memory://{root}/one/Doe_T1w.nii.gz", tmp_path / "o", DefaceOptions())
    plain = run_batch(single, tmp_path / "p", DefaceOptions())
    assert down.results == plain.results
    assert sorted(r.status for r in down.results) == ["defaced", "scrubbed"]
    assert read_tree(tmp_path / "o") == read_tree(tmp_path / "p")


def test_a_failed_put_holds_the_group_back_whole(
    local_run: LocalRun, memory: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fs, root = memory
    from deidkit.core.locations import Location

    real = Location.put_file

    def flaky(self: Location, local: Path, path: str) -> None:
        if path.endswith("IM0003.dcm"):
            raise OSError(f"cannot write {path}")  # backends quote the URL
        real(self, local, path)

    monkeypatch.setattr(Location, "put_file", flaky)
    report = run_url_batch(local_run.source, f"memory://{root}/out", DefaceOptions())
    series = [r for r in report.results if r.path == "series1"]
    assert [(r.status, r.message) for r in series] == [("failed", "OSError while writing")]
    written = memory_tree(fs, f"{root}/out")
    assert not any(name.startswith("series1/") for name in written)  # no half series
    assert "sub-01/Doe_T1w.nii.gz" in written


def test_missing_url_input_and_memory_on_other_processes_are_usage_errors(
    memory: tuple[Any, str], tmp_path: Path
) -> None:
    _fs, root = memory
    with pytest.raises(UsageError, match="INPUT does not exist") as missing:
        run_url_batch(f"memory://{root}/Doe-Jane", tmp_path / "o", DefaceOptions())
    assert "Doe-Jane" not in str(missing.value)
    other = SimpleNamespace(client=SimpleNamespace(run=lambda _fn: {"w": os.getpid() + 1}))
    with pytest.raises(UsageError, match="memory:// lives in this process"):
        run_url_batch(tmp_path, f"memory://{root}/out", DefaceOptions(), cluster=other)  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()


def test_memory_on_a_dask_cluster_of_threads(local_run: LocalRun, memory: tuple[Any, str]) -> None:
    pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")
    from deidkit.core.dask_executor import DaskCluster

    fs, root = memory
    upload(local_run.source, fs, f"{root}/in")
    with DaskCluster.connect(workers=2, processes=False, dashboard_address=":0") as cluster:
        report = run_url_batch(f"memory://{root}/in", f"memory://{root}/out", DefaceOptions(),
                               cluster=cluster)  # fmt: skip
    assert report.results == local_run.report.results
    assert memory_tree(fs, f"{root}/out") == local_run.tree


def test_local_url_on_two_worker_processes(local_run: LocalRun, tmp_path: Path) -> None:
    # local:// is fsspec's own local file system: shared by processes, puts not atomic (a temp
    # name beside the target, then moved), so this runs the process pool and the moved puts.
    out = tmp_path / "out"
    report = run_url_batch(f"local://{local_run.source}", f"local://{out}", DefaceOptions(),
                           workers=2)  # fmt: skip
    assert report.results == local_run.report.results
    assert read_tree(out) == local_run.tree  # no temp file left
