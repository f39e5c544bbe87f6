"""deidkit verify --ocr: released pixels read again on verify's own path; pixels_hidden."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pixel_builders import mono_picture, tesseract_missing, to_bytes, us_rgb_picture
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.core.keys import generate_key_file

runner = CliRunner()
pytestmark = pytest.mark.skipif(tesseract_missing() is not None, reason=str(tesseract_missing()))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("v") / "export"
    root.mkdir()
    (root / "us.dcm").write_bytes(to_bytes(us_rgb_picture().ds))
    (root / "sc.dcm").write_bytes(to_bytes(mono_picture(items=[]).ds))
    generate_key_file(root.parent / "project.key")
    return root


def _key(export: Path) -> str:
    return str(export.parent / "project.key")


def _scrub(export: Path, out: Path, *flags: str) -> None:
    args = ["scrub", str(export), str(out), "--workers", "1", "--key-file", _key(export)]
    result = runner.invoke(app, [*args, *flags])
    assert result.exit_code == 0, result.output


def _verify(release: Path, export: Path, *flags: str):
    result = runner.invoke(
        app, ["verify", str(release), "--original", str(export), "--workers", "1", "--json",
              "--key-file", _key(export), *flags],
    )  # fmt: skip
    return result, json.loads(result.stdout) if result.stdout.strip() else {}


def test_cleaned_release_passes_and_scores_pixels_hidden(export: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    _scrub(export, release, "--clean-pixels")
    result, document = _verify(release, export, "--ocr")
    assert result.exit_code == 0, result.output
    assert document["pixels"]["files_read"] == 2
    assert document["pixels"]["files_with_phi"] == 0
    hidden = document["score"]["categories"]["pixels_hidden"]
    assert hidden == {"done": 2, "required": 2, "score": 1.0}


def test_burned_in_text_released_as_is_is_found(export: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    _scrub(export, release, "--allow-burned-in")
    result, document = _verify(release, export, "--ocr")
    assert result.exit_code == 3, result.output
    pixel = [f for f in document["findings"] if f["check"] == "pixel-text"]
    assert pixel and {f["severity"] for f in pixel} == {"error"}
    assert document["score"]["categories"]["pixels_hidden"]["done"] == 1
    assert "QUIXOTE" not in result.stdout.upper()
    # without --ocr the pixels are not read (and the header check alone cannot see them)
    _, plain = _verify(release, export, "--no-ocr")
    assert "pixels" not in plain
    assert "pixels_hidden" not in plain["score"]["categories"]
