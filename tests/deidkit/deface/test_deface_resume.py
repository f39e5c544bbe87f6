"""A deface rerun into its own OUTPUT skips the image groups an earlier run finished.

Covers: a run that crashed after its first group (an exception, or SIGKILL of the process)
resumes with the same command, defaces only the rest, and ends with the outputs, run report,
``--json`` and QC JSON of an uninterrupted run; a tampered or missing output is defaced
again; other settings deface every group again; the same over a ``memory://`` OUTPUT.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
from deface_heads import head_grid, make_head, nifti
from test_deface_dicom import write_series
from typer.testing import CliRunner

import deidkit.deface.batch as batch
import deidkit.deface.remote as remote
from deidkit.cli import app
from deidkit.commands._common import EXIT_OK
from deidkit.deface import DefaceOptions, DefaceReport, run_batch, run_url_batch
from deidkit.deface.output import REPORT_NAME, prepare_output
from deidkit.deface.resume import GroupJob, GroupOutcome
from deidkit.deface.tasks import FileResult, Task
from deidkit.deface.templates import HeadTemplate

GROUPS = ["a_T1w.nii.gz", "series1", "x/b_T1w.nii.gz"]


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def source(template: HeadTemplate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three image groups: a NIfTI with its sidecar, a DICOM series, a NIfTI in a folder."""
    grid = head_grid(template, zooms=(6.0, 6.0, 6.0))  # the tiniest head the tests use
    head, _truth = make_head(template, grid)
    src = tmp_path_factory.mktemp("deface-resume") / "in"
    (src / "x").mkdir(parents=True)
    nib.save(nifti(head, grid), src / "a_T1w.nii.gz")
    (src / "a_T1w.json").write_text(json.dumps({"PatientName": "Doe^Jane", "EchoTime": 0.003}))
    nib.save(nifti(head[::-1], grid), src / "x" / "b_T1w.nii.gz")  # another head
    write_series(src / "series1", head, grid)
    return src


@pytest.fixture(scope="module")
def reference(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[DefaceReport, Path]:
    """An uninterrupted run of ``source``."""
    out = tmp_path_factory.mktemp("deface-resume-ref") / "out"
    report = run_batch(source, out, DefaceOptions())
    assert report.counts() == {"defaced": 3, "scrubbed": 1} and report.reused == 0
    return report, out


@pytest.fixture
def defaced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The groups actually defaced in this process (the first input of each task)."""
    calls: list[str] = []
    real = batch.run_task

    def spy(task: Task, options: DefaceOptions) -> list[FileResult]:
        first = task.sources[0].relative_to(task.root)
        calls.append((first.parent if task.kind == "dicom" else first).as_posix())
        return real(task, options)

    monkeypatch.setattr(batch, "run_task", spy)
    monkeypatch.setattr(remote, "run_task", spy)
    return calls


def crash_after_first_group(out: Path, source: Path, settings: DefaceOptions) -> None:
    """Run into ``out`` with a runner that dies as the second image group starts."""
    started: list[GroupJob] = []

    def runner(job: GroupJob, options: DefaceOptions) -> GroupOutcome:
        started.append(job)
        if len(started) == 2:
            raise RuntimeError("the client crashed")
        return batch.run_group(job, options)

    planned = batch.make_plan(source, out, settings)
    with pytest.raises(RuntimeError, match="crashed"):
        batch.execute_plan(planned, prepare_output(out), settings, runner=runner)


def test_a_crashed_run_resumes_and_skips_the_finished_group(
    source: Path, reference: tuple[DefaceReport, Path], tmp_path: Path, defaced: list[str]
) -> None:
    ref_report, ref_out = reference
    out = tmp_path / "out"
    crash_after_first_group(out, source, DefaceOptions())
    assert defaced == ["a_T1w.nii.gz"]
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["complete"] is False and len(report["groups"]) == 1
    defaced.clear()
    again = run_batch(source, out, DefaceOptions())
    assert sorted(defaced) == ["series1", "x/b_T1w.nii.gz"]  # not a_T1w again
    assert again.reused == 1
    assert again.results == ref_report.results
    assert again.to_json() == ref_report.to_json()
    assert read_tree(out) == read_tree(ref_out)  # the run report too, byte for byte
    # A third run finds every group finished.
    defaced.clear()
    third = run_batch(source, out, DefaceOptions())
    assert defaced == [] and third.reused == 3
    assert third.results == ref_report.results and read_tree(out) == read_tree(ref_out)


def test_a_tampered_or_missing_output_is_defaced_again(
    source: Path, reference: tuple[DefaceReport, Path], tmp_path: Path, defaced: list[str]
) -> None:
    ref_report, ref_out = reference
    out = tmp_path / "out"
    run_batch(source, out, DefaceOptions())
    (out / "x" / "b_T1w.nii.gz").write_bytes(b"tampered")
    slices = sorted((out / "series1").iterdir())
    slices[0].unlink()
    defaced.clear()
    again = run_batch(source, out, DefaceOptions())
    assert sorted(defaced) == ["series1", "x/b_T1w.nii.gz"] and again.reused == 1
    assert again.results == ref_report.results
    assert read_tree(out) == read_tree(ref_out)
    # A changed sidecar output belongs to its image's group: that group is defaced again.
    (out / "a_T1w.json").write_text("{}")
    defaced.clear()
    run_batch(source, out, DefaceOptions())
    assert defaced == ["a_T1w.nii.gz"]
    assert read_tree(out) == read_tree(ref_out)


def test_other_settings_or_a_changed_input_deface_again(
    source: Path, tmp_path: Path, defaced: list[str]
) -> None:
    out = tmp_path / "out"
    run_batch(source, out, DefaceOptions())
    defaced.clear()
    blurred = run_batch(source, out, DefaceOptions(blur=True))
    assert sorted(defaced) == GROUPS and blurred.reused == 0
    fresh = run_batch(source, tmp_path / "fresh", DefaceOptions(blur=True))
    assert read_tree(out) == read_tree(tmp_path / "fresh")
    assert blurred.results == fresh.results
    # An input changed in place (same name) is defaced again; the others are not.
    copy = tmp_path / "in"
    (copy / "x").mkdir(parents=True)
    for rel, data in read_tree(source).items():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes(data)
    run_batch(copy, tmp_path / "c", DefaceOptions())
    (copy / "a_T1w.json").write_text(json.dumps({"EchoTime": 0.004}))
    defaced.clear()
    assert run_batch(copy, tmp_path / "c", DefaceOptions()).reused == 2
    assert defaced == ["a_T1w.nii.gz"]
    assert json.loads((tmp_path / "c" / "a_T1w.json").read_text()) == {"EchoTime": 0.004}


def test_a_record_that_names_files_outside_output_is_not_trusted(
    source: Path, tmp_path: Path, defaced: list[str]
) -> None:
    out = tmp_path / "out"
    run_batch(source, out, DefaceOptions())
    report = json.loads((out / REPORT_NAME).read_text())
    for record in report["groups"].values():
        record["results"][0]["outputs"] = ["../elsewhere.nii.gz"]
    (out / REPORT_NAME).write_text(json.dumps(report))
    defaced.clear()
    assert run_batch(source, out, DefaceOptions()).reused == 0
    assert sorted(defaced) == GROUPS


_KILLED_RUN = """
import os, signal, sys
import deidkit.deface.batch as batch
from deidkit.cli import app

real, calls = batch.run_task, []

def dies_on_the_second_group(task, options):
    calls.append(task)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # no except, no finally: a real crash
    return real(task, options)

batch.run_task = dies_on_the_second_group
app(sys.argv[1:], prog_name="deidkit")
"""


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["deface", *args])
    return result.exit_code, result.stdout


def test_a_killed_cli_run_resumes_with_the_same_command(
    source: Path, tmp_path: Path, defaced: list[str]
) -> None:
    ref_out, ref_qc = tmp_path / "ref", tmp_path / "ref-qc"
    code, ref_json = _cli(str(source), str(ref_out), "--qc", str(ref_qc), "--json")
    assert code == EXIT_OK, ref_json
    out, qc = tmp_path / "out", tmp_path / "qc"
    args = ["deface", str(source), str(out), "--qc", str(qc), "--json"]
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, *args],
                            capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(json.loads((out / REPORT_NAME).read_text())["groups"]) == 1
    defaced.clear()
    code, resumed_json = _cli(str(source), str(out), "--qc", str(qc), "--json")
    assert code == EXIT_OK, resumed_json
    assert len(defaced) == 2  # the first group was not defaced again
    assert json.loads(resumed_json) == json.loads(ref_json)
    assert read_tree(out) == read_tree(ref_out)
    assert read_tree(qc) == read_tree(ref_qc)  # QC JSON and renderings
    # The QC files belong to the record: a missing one defaces its group again.
    next(qc.glob("*.json")).unlink()
    defaced.clear()
    code, text = _cli(str(source), str(out), "--qc", str(qc))
    assert code == EXIT_OK and len(defaced) == 1
    assert "resumed: 2 image group(s)" in text
    assert read_tree(qc) == read_tree(ref_qc)


fsspec = pytest.importorskip("fsspec", reason="needs the 'cloud' extra (fsspec)")


@pytest.fixture
def memory() -> Iterator[tuple[Any, str]]:
    fs = fsspec.filesystem("memory")
    root = f"/deface-resume{uuid.uuid4().hex}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _memory_tree(fs: Any, root: str) -> dict[str, bytes]:
    return {path[len(root) + 1 :]: fs.cat_file(path) for path in fs.find(root)}


def _failing_second(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    real = remote.run_task
    calls: list[Task] = []

    def dies(task: Task, options: DefaceOptions) -> list[FileResult]:
        calls.append(task)
        if len(calls) == 2:
            raise RuntimeError("the client crashed")
        return real(task, options)

    monkeypatch.setattr(remote, "run_task", dies)
    return lambda: monkeypatch.setattr(remote, "run_task", real)


def test_a_url_output_resumes_too(
    source: Path,
    reference: tuple[DefaceReport, Path],
    memory: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    defaced: list[str],
) -> None:
    ref_report, ref_out = reference
    fs, root = memory
    out = f"memory://{root}/out"
    restore = _failing_second(monkeypatch)
    with pytest.raises(RuntimeError, match="crashed"):
        run_url_batch(source, out, DefaceOptions())
    restore()
    defaced.clear()
    again = run_url_batch(source, out, DefaceOptions())
    assert again.reused == 1 and sorted(defaced) == ["series1", "x/b_T1w.nii.gz"]
    assert again.results == ref_report.results
    assert _memory_tree(fs, f"{root}/out") == read_tree(ref_out)
    fs.pipe_file(f"{root}/out/x/b_T1w.nii.gz", b"tampered")
    defaced.clear()
    assert run_url_batch(source, out, DefaceOptions()).reused == 2
    assert defaced == ["x/b_T1w.nii.gz"]
    assert _memory_tree(fs, f"{root}/out") == read_tree(ref_out)
