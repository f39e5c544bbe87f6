"""A deface rerun into its own OUTPUT skips the image groups an earlier run finished.

Covers: a run that crashed after its first group (an exception, or SIGKILL of the process)
resumes with the same command, defaces only the rest, and ends with the outputs, run report,
``--json`` and QC JSON of an uninterrupted run; a tampered or missing output is defaced
again; other settings deface every group again; the same over a ``memory://`` OUTPUT.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
from deface_heads import head_grid, make_head, nifti
from memory_fs import memory_tree
from test_deface_dicom import write_series
from typer.testing import CliRunner

import deidkit.deface.batch as batch
import deidkit.deface.remote as remote
from deidkit.cli import app
from deidkit.commands._common import EXIT_OK
from deidkit.deface import DefaceOptions, DefaceReport, run_batch, run_url_batch
from deidkit.deface.output import REPORT_NAME, prepare_output
from deidkit.deface.resume import (
    GroupJob,
    GroupOutcome,
    local_reader,
    reuse_or_run,
    settings_fingerprint,
)
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


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_a_changed_or_missing_output_is_defaced_again(
    source: Path, reference: tuple[DefaceReport, Path], tmp_path: Path, defaced: list[str]
) -> None:
    ref_report, ref_out = reference
    out = copy_tree(ref_out, tmp_path / "out")
    (out / "x" / "b_T1w.nii.gz").write_bytes(b"tampered")
    # A sidecar belongs to its image's group: without it, that group is defaced again.
    (out / "a_T1w.json").unlink()
    again = run_batch(source, out, DefaceOptions())
    assert sorted(defaced) == ["a_T1w.nii.gz", "x/b_T1w.nii.gz"] and again.reused == 1
    assert again.results == ref_report.results
    assert read_tree(out) == read_tree(ref_out)


def test_other_settings_or_a_changed_input_deface_again(
    source: Path, reference: tuple[DefaceReport, Path], tmp_path: Path, defaced: list[str]
) -> None:
    _ref_report, ref_out = reference
    # An input changed in place (same name) is defaced again; the others are not.
    changed = copy_tree(source, tmp_path / "in")
    (changed / "a_T1w.json").write_text(json.dumps({"EchoTime": 0.004}))
    out = copy_tree(ref_out, tmp_path / "out")
    assert run_batch(changed, out, DefaceOptions()).reused == 2
    assert defaced == ["a_T1w.nii.gz"]
    assert json.loads((out / "a_T1w.json").read_text()) == {"EchoTime": 0.004}
    defaced.clear()
    blurred = run_batch(changed, out, DefaceOptions(blur=True))
    assert sorted(defaced) == GROUPS and blurred.reused == 0
    report = json.loads((out / REPORT_NAME).read_text())
    assert len(report["groups"]) == 3 and report["options"]["blur"] is True


def test_a_record_is_checked_before_it_is_trusted(source: Path, tmp_path: Path) -> None:
    task = batch.make_plan(source, tmp_path / "out", DefaceOptions()).tasks[0]
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_T1w.nii.gz").write_bytes(b"defaced")
    done = [FileResult("a_T1w.nii.gz", "defaced", "mask", None, ("a_T1w.nii.gz",))]
    runs: list[int] = []

    def deface() -> list[FileResult]:
        runs.append(1)
        return done

    def outcome(job: GroupJob) -> GroupOutcome:
        return reuse_or_run(job, task, DefaceOptions(), deface=deface, at_output=local_reader(out))

    first = outcome(GroupJob(task, "settings"))
    assert first.record is not None and not first.reused and len(runs) == 1
    assert outcome(GroupJob(task, "settings", first.record)).reused and len(runs) == 1
    assert not outcome(GroupJob(task, "other settings", first.record)).reused
    outside = json.loads(json.dumps(first.record))
    outside["results"][0]["outputs"] = ["../elsewhere.nii.gz"]
    outside["outputs"] = {"../elsewhere.nii.gz": first.record["outputs"]["a_T1w.nii.gz"]}
    assert not outcome(GroupJob(task, "settings", outside)).reused
    failed = json.loads(json.dumps(first.record))
    failed["results"][0]["status"] = "failed"  # never recorded: the report names no failure
    assert not outcome(GroupJob(task, "settings", failed)).reused
    assert len(runs) == 4
    refused = [FileResult("a_T1w.nii.gz", "refused", "the brain would change")]
    # With --qc, the QC files belong to the record: a changed one defaces the group again.
    qc_dir = tmp_path / "qc"
    qc_dir.mkdir()
    (qc_dir / "abc123.png").write_bytes(b"png")
    (qc_dir / "abc123.json").write_text("{}")
    with_qc = [FileResult("a_T1w.nii.gz", "defaced", "mask", {"qc_id": "abc123"}, done[0].outputs)]
    options = DefaceOptions(qc_dir=qc_dir)

    def qc_outcome(job: GroupJob) -> GroupOutcome:
        return reuse_or_run(job, task, options, deface=lambda: with_qc, at_output=local_reader(out))

    recorded = qc_outcome(GroupJob(task, "qc")).record
    assert recorded is not None and sorted(recorded["qc_files"]) == ["abc123.json", "abc123.png"]
    assert qc_outcome(GroupJob(task, "qc", recorded)).reused
    (qc_dir / "abc123.json").write_text('{"changed": 1}')
    assert not qc_outcome(GroupJob(task, "qc", recorded)).reused
    kept = reuse_or_run(GroupJob(task, "settings"), task, DefaceOptions(),
                        deface=lambda: refused, at_output=local_reader(out))  # fmt: skip
    assert kept.record is None


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
    source = copy_tree(source, tmp_path / "in")
    shutil.rmtree(source / "series1")  # two groups are enough here
    code, ref_json = _cli(str(source), str(tmp_path / "ref"), "--json")
    assert code == EXIT_OK, ref_json
    out = tmp_path / "out"
    args = ["deface", str(source), str(out), "--json"]
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, *args],
                            capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["complete"] is False and len(report["groups"]) == 1
    defaced.clear()
    code, resumed_json = _cli(str(source), str(out), "--json")
    assert code == EXIT_OK, resumed_json
    assert defaced == ["x/b_T1w.nii.gz"]  # the first group was not defaced again
    assert json.loads(resumed_json) == json.loads(ref_json)
    assert read_tree(out) == read_tree(tmp_path / "ref")


def test_a_rerun_with_qc_reuses_the_qc_record_and_keeps_its_files(
    source: Path, tmp_path: Path, defaced: list[str]
) -> None:
    one = tmp_path / "in"
    one.mkdir()
    shutil.copy(source / "a_T1w.nii.gz", one)  # one group: QC renders take seconds
    out, qc = tmp_path / "out", tmp_path / "qc"
    code, first_json = _cli(str(one), str(out), "--qc", str(qc), "--json")
    assert code == EXIT_OK, first_json
    assert json.loads(first_json)["results"][0]["qc"]["qc_id"]
    outputs, qc_files = read_tree(out), read_tree(qc)
    defaced.clear()
    code, again_json = _cli(str(one), str(out), "--qc", str(qc), "--json")
    assert code == EXIT_OK and defaced == []
    assert json.loads(again_json) == json.loads(first_json)  # the QC record too
    assert read_tree(out) == outputs and read_tree(qc) == qc_files
    code, text = _cli(str(one), str(out), "--qc", str(qc))
    assert code == EXIT_OK and defaced == []
    assert "resumed: 1 image group(s)" in text


def _failing_second(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    real = batch.run_task  # the spy, which the fixture put in both modules
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
    for rel, data in read_tree(source).items():
        fs.pipe_file(f"{root}/in/{rel}", data)
    src, out = f"memory://{root}/in", f"memory://{root}/out"
    restore = _failing_second(monkeypatch)
    with pytest.raises(RuntimeError, match="crashed"):
        run_url_batch(src, out, DefaceOptions())
    restore()
    defaced.clear()
    again = run_url_batch(src, out, DefaceOptions())
    assert again.reused == 1 and sorted(defaced) == ["series1", "x/b_T1w.nii.gz"]
    assert again.results == ref_report.results
    assert memory_tree(fs, f"{root}/out") == read_tree(ref_out)
    fs.pipe_file(f"{root}/out/x/b_T1w.nii.gz", b"tampered")
    defaced.clear()
    assert run_url_batch(src, out, DefaceOptions()).reused == 2
    assert defaced == ["x/b_T1w.nii.gz"]
    assert memory_tree(fs, f"{root}/out") == read_tree(ref_out)


def test_settings_count_the_brain_mask_by_its_bytes(tmp_path: Path) -> None:
    mask = tmp_path / "mask.nii"
    missing = settings_fingerprint(DefaceOptions(brain_mask=mask))  # each group fails on it
    mask.write_bytes(b"one")
    first = settings_fingerprint(DefaceOptions(brain_mask=mask))
    mask.write_bytes(b"two")
    assert len({missing, first, settings_fingerprint(DefaceOptions(brain_mask=mask))}) == 3
    assert settings_fingerprint(DefaceOptions(qc_dir=tmp_path / "a")) == settings_fingerprint(
        DefaceOptions(qc_dir=tmp_path / "b")
    )
    assert settings_fingerprint(DefaceOptions()) != settings_fingerprint(DefaceOptions(ears=True))


def test_worker_processes_and_dask_skip_the_same_groups(
    source: Path, reference: tuple[DefaceReport, Path], tmp_path: Path, defaced: list[str]
) -> None:
    ref_report, ref_out = reference
    out = copy_tree(ref_out, tmp_path / "out")
    (out / "x" / "b_T1w.nii.gz").unlink()
    pooled = run_batch(source, out, DefaceOptions(), workers=2)  # the spy sees no process
    assert pooled.reused == 2 and pooled.results == ref_report.results
    assert read_tree(out) == read_tree(ref_out)
    pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")
    from deidkit.core.dask_executor import DaskCluster

    with DaskCluster.connect(workers=2, processes=False, dashboard_address=":0") as cluster:
        on_dask = run_batch(source, out, DefaceOptions(), cluster=cluster)
    assert on_dask.reused == 3 and defaced == []
    assert on_dask.results == ref_report.results and read_tree(out) == read_tree(ref_out)
