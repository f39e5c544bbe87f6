"""``deidkit deface`` with INPUT / OUTPUT as fsspec URLs: exit codes, bytes, no input names."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
from deface_heads import head_grid, make_head, nifti
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import EXIT_OK, EXIT_USAGE
from deidkit.deface.templates import HeadTemplate

fsspec = pytest.importorskip("fsspec", reason="needs the 'cloud' extra (fsspec)")

runner = CliRunner()
NAME = "PATIENTNAME"


@pytest.fixture(scope="module")
def source(template: HeadTemplate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small head whose file name carries a (fake) patient name."""
    src = tmp_path_factory.mktemp("deface-cli-urls") / "in"
    src.mkdir()
    grid = head_grid(template, zooms=(6.0, 6.0, 6.0))
    head, _truth = make_head(template, grid)
    nib.save(nifti(head, grid), src / f"{NAME}_T1w.nii.gz")
    return src


def test_memory_round_trip_equals_a_local_run(
    source: Path, tmp_path: Path, memory: tuple[Any, str]
) -> None:
    fs, root = memory
    for path in source.iterdir():
        fs.pipe_file(f"{root}/in/{path.name}", path.read_bytes())
    local = runner.invoke(app, ["deface", str(source), str(tmp_path / "local"), "--json"])
    remote = runner.invoke(
        app, ["deface", f"memory://{root}/in", f"memory://{root}/out", "--json", "--workers", "2"]
    )
    assert local.exit_code == remote.exit_code == EXIT_OK, remote.output
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert NAME not in remote.stdout + remote.stderr
    written = {p[len(root) + 5 :]: fs.cat_file(p) for p in fs.find(f"{root}/out")}
    local_tree = {
        p.relative_to(tmp_path / "local").as_posix(): p.read_bytes()
        for p in (tmp_path / "local").rglob("*")
        if p.is_file()
    }
    assert written == local_tree


def test_unknown_protocol_names_only_the_scheme(source: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["deface", f"nosuchfs://bucket-{NAME}/in", str(tmp_path / "o")])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "nosuchfs://" in result.stderr and "'cloud'" in result.stderr
    assert NAME not in result.output
    out = runner.invoke(app, ["deface", str(source), f"nosuchfs://bucket-{NAME}/out"])
    assert out.exit_code == EXIT_USAGE and NAME not in out.output
    assert not (tmp_path / "o").exists()


def test_missing_backend_and_missing_input(
    tmp_path: Path, memory: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs -> ImportError
    result = runner.invoke(app, ["deface", f"s3://bucket-{NAME}/x", str(tmp_path / "out")])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "pip install s3fs" in result.stderr.replace("\n", " ")
    assert NAME not in result.output
    _fs, root = memory
    missing = runner.invoke(app, ["deface", f"memory://{root}/{NAME}", str(tmp_path / "out")])
    assert missing.exit_code == EXIT_USAGE, missing.output
    assert "INPUT does not exist" in missing.stderr and NAME not in missing.output
    assert not (tmp_path / "out").exists()
