"""OUTPUT hygiene of ``deidkit deface``: only what it produced, refused folders, no debris.

Covers: unrelated (PHI-named) files are left behind and counted by kind, never copied or
named; an existing file or a foreign non-empty folder as OUTPUT exits 2 (the latter unless
--force); an earlier deface output is recognised by its report and rewritten without stale
images; a failed image leaves no empty folder and no orphan sidecar.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deface_heads import head_grid, make_head, nifti
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_OK, EXIT_USAGE
from deidkit.core.errors import OutputPathError
from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.bids import left_behind_kind
from deidkit.deface.output import REPORT_NAME, prepare_output
from deidkit.deface.templates import HeadTemplate

CANARY = "Doe^Jane"
CANARY_NAME = "DoeJane"


@pytest.fixture(scope="module")
def head_bytes(template: HeadTemplate) -> bytes:
    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, _truth = make_head(template, grid)
    data: bytes = nifti(head, grid).to_bytes()
    return data


def _tree(root: Path, head: bytes) -> Path:
    """A BIDS dataset with two subjects and files deface must not copy."""
    root.mkdir()
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "x", "BIDSVersion": "1.9.0", "AcquisitionDate": "2020-01-01"})
    )
    (root / "README").write_text(f"Scans of {CANARY}\n")
    (root / "participants.tsv").write_text(f"participant_id\tname\nsub-01\t{CANARY}\n")
    (root / f"{CANARY_NAME}_notes.txt").write_text("private\n")
    (root / f"scan.{CANARY_NAME}").write_bytes(b"\x00")
    anat = root / "sub-01" / "anat"
    anat.mkdir(parents=True)
    (anat / "sub-01_T1w.nii").write_bytes(head)
    (anat / "sub-01_T1w.json").write_text(
        json.dumps({"EchoTime": 0.003, "InstitutionName": CANARY, "StudyDate": "20200101"})
    )
    func = root / "sub-01" / "func"
    func.mkdir()
    (func / "sub-01_task-rest_bold.nii").write_bytes(head)
    (func / "sub-01_task-rest_bold.json").write_text(json.dumps({"TaskName": CANARY}))
    broken = root / "sub-02" / "anat"
    broken.mkdir(parents=True)
    (broken / "sub-02_T1w.nii").write_bytes(b"not a nifti at all")
    (broken / "sub-02_T1w.json").write_text(json.dumps({"EchoTime": 0.003}))
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["deface", *args])
    return result.exit_code, result.stdout, result.stderr


def test_left_behind_kinds_name_no_file() -> None:
    assert left_behind_kind(Path("x/sub-01_bold.nii.gz")) == "nifti"
    assert left_behind_kind(Path("participants.tsv")) == "table"
    assert left_behind_kind(Path("README")) == "text"
    assert left_behind_kind(Path("CHANGES")) == "text"
    assert left_behind_kind(Path(f"scan.{CANARY_NAME}")) == "other"  # never the extension


def test_bids_output_holds_only_what_deface_produced(head_bytes: bytes, tmp_path: Path) -> None:
    src = _tree(tmp_path / "ds", head_bytes)
    before = _files(src)
    out = tmp_path / "out"
    code, stdout, _ = _run(str(src), str(out), "--json")
    assert code == EXIT_HELD_BACK  # sub-02's T1w is broken
    payload = json.loads(stdout)
    assert payload["counts"] == {"defaced": 1, "failed": 1, "scrubbed": 2}
    # json: the bold run's sidecar and the failed image's sidecar.
    assert payload["left_behind"] == {"json": 2, "nifti": 1, "other": 1, "table": 1, "text": 2}
    written = _files(out)
    assert sorted(written) == [
        REPORT_NAME,
        "dataset_description.json",
        "sub-01/anat/sub-01_T1w.json",
        "sub-01/anat/sub-01_T1w.nii",
    ]
    # No planted value and no PHI-bearing name anywhere in OUTPUT or on stdout.
    for name, data in written.items():
        assert CANARY.encode() not in data and CANARY_NAME.encode() not in data, name
        if name.endswith(".json"):
            assert b"2020" not in data, name
    assert CANARY_NAME not in stdout and CANARY not in stdout
    # The failed subject leaves neither its sidecar nor an empty folder behind.
    assert not (out / "sub-02").exists()
    assert _files(src) == before  # INPUT untouched
    report = json.loads(written[REPORT_NAME])
    assert report["tool"] == "deidkit deface" and report["complete"] is True
    assert report["outputs"] == sorted(set(written) - {REPORT_NAME})
    assert report["left_behind"] == payload["left_behind"]


def test_text_summary_counts_what_was_left_behind(head_bytes: bytes, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.nii").write_bytes(head_bytes)
    (src / f"{CANARY_NAME}.txt").write_text("x")
    code, stdout, _ = _run(str(src), str(tmp_path / "out"))
    assert code == EXIT_OK, stdout
    assert "left behind (not written to OUTPUT): 1 text" in stdout
    assert CANARY_NAME not in stdout
    assert sorted(_files(tmp_path / "out")) == [REPORT_NAME, "a.nii"]


def test_output_that_is_a_file_is_a_usage_error(head_bytes: bytes, tmp_path: Path) -> None:
    src = tmp_path / "a.nii"
    src.write_bytes(head_bytes)
    target = tmp_path / "taken.nii"
    target.write_bytes(b"someone else's file")
    code, stdout, stderr = _run(str(src), str(target))
    assert code == EXIT_USAGE
    assert "existing file" in stderr and "Traceback" not in stderr + stdout
    assert target.read_bytes() == b"someone else's file"


def test_foreign_folder_needs_force(head_bytes: bytes, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.nii").write_bytes(head_bytes)
    foreign = tmp_path / "foreign"
    (foreign / "keep").mkdir(parents=True)
    (foreign / "keep" / "theirs.txt").write_text("theirs")
    code, _, stderr = _run(str(src), str(foreign))
    assert code == EXIT_USAGE
    assert "--force" in stderr
    assert sorted(_files(foreign)) == ["keep/theirs.txt"]  # untouched
    code, stdout, _ = _run(str(src), str(foreign), "--force")
    assert code == EXIT_OK, stdout
    assert sorted(_files(foreign)) == [REPORT_NAME, "a.nii", "keep/theirs.txt"]


def test_rerun_into_own_output_removes_stale_images(head_bytes: bytes, tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "x").mkdir(parents=True)
    (src / "a.nii").write_bytes(head_bytes)
    (src / "x" / "b.nii").write_bytes(head_bytes)
    out = tmp_path / "out"
    first = run_batch(src, out, DefaceOptions())
    assert first.outputs == ["a.nii", "x/b.nii"]
    (src / "x" / "b.nii").write_bytes(b"broken now")
    second = run_batch(src, out, DefaceOptions())  # recognised by its report: no --force
    assert second.counts() == {"defaced": 1, "failed": 1}
    assert sorted(_files(out)) == [REPORT_NAME, "a.nii"]  # the stale x/b.nii went, and x/
    assert json.loads((out / REPORT_NAME).read_text())["outputs"] == ["a.nii"]


def test_report_of_an_interrupted_run_is_recognised(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.nii").write_bytes(b"x")
    report = {"tool": "deidkit deface", "format": 1, "complete": False, "outputs": ["a.nii"]}
    (out / REPORT_NAME).write_text(json.dumps(report))
    folder = prepare_output(out)
    assert folder.ours and folder.previous_outputs == ("a.nii",)
    # A report that lists paths outside OUTPUT is never trusted with them.
    report["outputs"] = ["../elsewhere", "/etc/passwd", "ok.nii"]
    (out / REPORT_NAME).write_text(json.dumps(report))
    assert prepare_output(out).previous_outputs == ("ok.nii",)
    (out / REPORT_NAME).write_text(json.dumps({"tool": "something else"}))
    with pytest.raises(OutputPathError):
        prepare_output(out)
