"""``deidkit deface`` through Typer's CliRunner: output, --json, refusals, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from deface_heads import head_grid, make_head, nifti
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_OK, EXIT_USAGE
from deidkit.deface.templates import HeadTemplate


@pytest.fixture(scope="module")
def head_file(template: HeadTemplate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, truth = make_head(template, grid)
    folder = tmp_path_factory.mktemp("cli") / "in"
    folder.mkdir()
    nib.save(nifti(head, grid), folder / "sub-01_T1w.nii.gz")
    nib.save(nifti(np.clip(700 - head, 0, None), grid), folder / "sub-01_T2w.nii.gz")
    nib.save(
        nib.Nifti1Image(truth.brain.astype(np.uint8), grid.affine), folder.parent / "brain.nii.gz"
    )
    wrong = nib.Nifti1Image(truth.brain[::2, ::2, ::2].astype(np.uint8), grid.affine)
    nib.save(wrong, folder.parent / "wrong.nii.gz")
    face_as_brain = nib.Nifti1Image(truth.face.astype(np.uint8), grid.affine)
    nib.save(face_as_brain, folder.parent / "facebrain.nii.gz")
    return folder / "sub-01_T1w.nii.gz"


def test_help_has_example() -> None:
    result = CliRunner().invoke(app, ["deface", "--help"])
    assert result.exit_code == 0
    assert "Example: deidkit deface" in result.output


def test_deface_file_json_with_applyto_and_brain_mask(head_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "deface",
        str(head_file),
        str(out),
        "--json",
        "--qc",
        str(tmp_path / "qc"),
        "--brain-mask",
        str(head_file.parent.parent / "brain.nii.gz"),
        "--applyto",
        str(head_file.parent / "sub-01_T2w.nii.gz"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_OK, result.output
    payload = json.loads(result.stdout)
    assert payload["counts"] == {"defaced": 2}
    # Inputs by number on stdout (names can carry patient names); paths with --show-paths.
    assert [r["input"] for r in payload["results"]] == [1, 2]
    assert not any("path" in r for r in payload["results"])
    shown = CliRunner().invoke(app, [*args, "--force", "--show-paths"])
    paths = {r["path"] for r in json.loads(shown.stdout)["results"]}
    assert paths == {"sub-01_T1w.nii.gz", "sub-01_T2w.nii.gz"}
    assert all(r["qc"]["brain_voxels_changed"] == 0 for r in payload["results"])
    assert (out / "sub-01_T1w.nii.gz").is_file() and (out / "sub-01_T2w.nii.gz").is_file()
    assert len(list((tmp_path / "qc").glob("*.png"))) == 2


def test_wrong_grid_brain_mask_refused(head_file: Path, tmp_path: Path) -> None:
    args = [
        "deface",
        str(head_file),
        str(tmp_path / "out"),
        "--brain-mask",
        str(head_file.parent.parent / "wrong.nii.gz"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_HELD_BACK
    assert "different grid" in result.stdout
    assert not (tmp_path / "out" / "sub-01_T1w.nii.gz").exists()


def test_brain_overlap_refused_nothing_written(head_file: Path, tmp_path: Path) -> None:
    # A "brain" mask covering the face: every face voxel is sacred, so the file is refused.
    args = [
        "deface",
        str(head_file),
        str(tmp_path / "out"),
        "--json",
        "--brain-mask",
        str(head_file.parent.parent / "facebrain.nii.gz"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_HELD_BACK
    payload = json.loads(result.stdout)
    assert payload["results"][0]["status"] == "refused"
    assert "brain" in payload["results"][0]["message"]
    assert not (tmp_path / "out" / "sub-01_T1w.nii.gz").exists()


def test_usage_errors_exit_2(head_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    inside = runner.invoke(app, ["deface", str(head_file.parent), str(head_file.parent / "o")])
    assert inside.exit_code == EXIT_USAGE
    bad = runner.invoke(app, ["deface", str(head_file), str(tmp_path / "o"), "--method", "x"])
    assert bad.exit_code == EXIT_USAGE
    missing = runner.invoke(app, ["deface", str(tmp_path / "nope.nii"), str(tmp_path / "o")])
    assert missing.exit_code == EXIT_USAGE


def test_folder_with_a_broken_file_goes_on(head_file: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.nii.gz").write_bytes(head_file.read_bytes())
    (src / "broken.nii.gz").write_bytes(b"garbage")
    result = CliRunner().invoke(app, ["deface", str(src), str(tmp_path / "out"), "--workers", "2"])
    assert result.exit_code == EXIT_HELD_BACK
    # By number, in path order: the input names never reach stdout.
    assert "failed   #1" in result.stdout and "defaced  #2" in result.stdout
    assert "broken" not in result.stdout and "good" not in result.stdout
    assert (tmp_path / "out" / "good.nii.gz").is_file()
    assert not (tmp_path / "out" / "broken.nii.gz").exists()


def test_input_names_stay_off_stdout_and_stderr(head_file: Path, tmp_path: Path) -> None:
    # Names as a PACS export gives them: the patient's name in the folder and file names.
    src = tmp_path / "in" / "CANARYFAM_CANARYGIV"
    src.mkdir(parents=True)
    (src / "CANARYFAM_head.nii.gz").write_bytes(head_file.read_bytes())
    (src / "CANARYFAM_broken.nii.gz").write_bytes(b"garbage")
    runner = CliRunner()
    text = runner.invoke(app, ["deface", str(tmp_path / "in"), str(tmp_path / "o1")])
    assert text.exit_code == EXIT_HELD_BACK, text.output
    assert "failed   #1  (#1: not a readable NIfTI image)" in text.stdout
    as_json = runner.invoke(app, ["deface", str(tmp_path / "in"), str(tmp_path / "o2"), "--json"])
    assert as_json.exit_code == EXIT_HELD_BACK
    for result in (text, as_json):
        assert "CANARY" not in result.stdout + result.stderr
    assert [r["input"] for r in json.loads(as_json.stdout)["results"]] == [1, 2]
    shown = runner.invoke(
        app, ["deface", str(tmp_path / "in"), str(tmp_path / "o3"), "--show-paths"]
    )
    assert "failed   #1 CANARYFAM_CANARYGIV/CANARYFAM_broken.nii.gz" in shown.stdout
