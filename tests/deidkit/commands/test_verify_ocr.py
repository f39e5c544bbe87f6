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


def test_burned_in_yes_without_phi_read_is_released_marked_and_passes(tmp_path: Path) -> None:
    """Burned In Annotation YES, nothing written in the image: every frame is read, no PHI
    found, so the file leaves with YES turned to NO and the Clean Pixel Data code, and
    verify does not cry wolf; released without the scan, verify flags it."""
    import pydicom

    root = tmp_path / "export"
    root.mkdir()
    picture = mono_picture(items=[("TIS 0.4", (200, 10), 13, 230, False)], kind="anatomy")
    picture.ds.Modality = "CT"  # no other risk rule: only the header's claim
    picture.ds.BurnedInAnnotation = "YES"
    (root / "flagged.dcm").write_bytes(to_bytes(picture.ds))
    generate_key_file(root.parent / "project.key")

    release = tmp_path / "release"
    _scrub(root, release, "--clean-pixels")
    log = [json.loads(line) for line in
           release.with_name("release.actions.jsonl").read_text().splitlines()]  # fmt: skip
    pixels = log[0]["pixels"]
    assert pixels["status"] == "no_text" and pixels["burned_in_annotation"] == "NO"
    assert "every frame read" in pixels["note"]
    (released,) = list(release.rglob("*.dcm"))
    ds = pydicom.dcmread(released)
    assert ds.BurnedInAnnotation == "NO"
    assert "113101" in [str(i.CodeValue) for i in ds.DeidentificationMethodCodeSequence]
    assert ds.PixelData == picture.ds.PixelData  # the pixels are not touched
    for flags in (("--no-ocr",), ("--ocr",)):
        result, document = _verify(release, root, *flags)
        assert result.exit_code == 0, result.output
        assert not [f for f in document["findings"] if f["check"] == "burned-in"]

    unscanned = tmp_path / "unscanned"
    _scrub(root, unscanned, "--allow-burned-in")
    result, document = _verify(unscanned, root, "--no-ocr")
    assert [f for f in document["findings"] if f["check"] == "burned-in"]
