"""deidkit scrub --clean-pixels: ultrasound and secondary captures released with clean pixels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pixel_builders import (
    BIRTH_FORMS,
    NAME,
    PATIENT_ID,
    legible,
    mono_picture,
    tesseract_missing,
    to_bytes,
    us_rgb_picture,
)
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.core.keys import KEY_ENV_VAR

runner = CliRunner()
ENV = {KEY_ENV_VAR: "cd" * 32}
pytestmark = pytest.mark.skipif(tesseract_missing() is not None, reason=str(tesseract_missing()))
PHI_TEXTS = [NAME, PATIENT_ID, *BIRTH_FORMS]


def _export(root: Path) -> dict[str, bytes]:
    files = {
        "us_text.dcm": to_bytes(us_rgb_picture(frames=2).ds),
        "sc_blank.dcm": to_bytes(mono_picture(items=[], modality="OT").ds),
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _log(out: Path) -> dict[str, dict]:
    lines = out.with_name(out.name + ".actions.jsonl").read_text().splitlines()
    return {r["source"]: r for r in map(json.loads, lines)}


def test_clean_pixels_releases_clean_files(tmp_path: Path) -> None:
    src, out = tmp_path / "export", tmp_path / "release"
    originals = _export(src)
    result = runner.invoke(
        app, ["scrub", str(src), str(out), "--clean-pixels", "--workers", "1", "--json"], env=ENV
    )
    assert result.exit_code == 0, result.output
    log = _log(out)
    assert log["us_text.dcm"]["pixels"]["status"] == "cleaned"
    assert log["sc_blank.dcm"]["pixels"]["status"] == "no_text"
    assert "no PHI read" in log["sc_blank.dcm"]["pixels"]["note"]
    for path in src.rglob("*.dcm"):  # inputs untouched
        assert path.read_bytes() == originals[path.name]
    released = {p: pydicom.dcmread(p) for p in out.rglob("*.dcm")}
    assert len(released) == 2
    for ds in released.values():
        if ds.Modality == "US":
            assert ds.BurnedInAnnotation == "NO"
            assert "113101" in [str(i.CodeValue) for i in ds.DeidentificationMethodCodeSequence]
            assert legible(ds, PHI_TEXTS) == []
            assert legible(ds, ["TIS", "C5-1"], min_length=3) == ["TIS", "C51"]  # labels kept
        else:
            blank = pydicom.dcmread(src / "sc_blank.dcm")
            assert ds.PixelData == blank.PixelData  # no text read: pixels unchanged
    assert "QUIXOTE" not in result.output


def test_without_the_flag_flagged_files_are_held_back(tmp_path: Path) -> None:
    src, out = tmp_path / "export", tmp_path / "release"
    _export(src)
    result = runner.invoke(app, ["scrub", str(src), str(out), "--workers", "1"], env=ENV)
    assert result.exit_code == 1
    assert {r["reason"] for r in _log(out).values()} == {"burned_in"}


def test_regions_needs_clean_pixels(tmp_path: Path) -> None:
    src = tmp_path / "export"
    _export(src)
    rules = tmp_path / "r.json"
    rules.write_text('{"rules": []}')
    result = runner.invoke(
        app, ["scrub", str(src), str(tmp_path / "o"), "--regions", str(rules)], env=ENV
    )
    assert result.exit_code == 2
    assert "--clean-pixels" in result.output


def test_missing_tesseract_stops_before_writing(tmp_path: Path) -> None:
    src, out = tmp_path / "export", tmp_path / "release"
    _export(src)
    env = {**ENV, "DEIDKIT_TESSERACT": "no-such-tesseract"}
    result = runner.invoke(app, ["scrub", str(src), str(out), "--clean-pixels"], env=env)
    assert result.exit_code == 1
    assert "tesseract-ocr" in result.output
    assert not out.exists() or not any(out.rglob("*.dcm"))


def test_workers_keep_pixel_decoders(tmp_path: Path) -> None:
    """Worker processes (a fresh forkserver) decode and clean pixels as the parent does."""
    src, out = tmp_path / "export", tmp_path / "release"
    _export(src)
    env = {**os.environ, **ENV}
    done = subprocess.run(
        [sys.executable, "-m", "deidkit", "scrub", str(src), str(out), "--clean-pixels",
         "--workers", "2"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {r["pixels"]["status"] for r in _log(out).values()} == {"cleaned", "no_text"}


def test_recipe_filter_boxes_are_cleaned_and_said_so(tmp_path: Path) -> None:
    pytest.importorskip("deid")
    src, out = tmp_path / "export", tmp_path / "release"
    src.mkdir()
    (src / "sc.dcm").write_bytes(to_bytes(mono_picture(items=[], modality="OT").ds))
    recipe = tmp_path / "site.dicom"
    recipe.write_text(
        "FORMAT dicom\n\n%filter graylist\n\nLABEL Acme banner\n  contains Manufacturer Acme\n"
        "  coordinates 0,0,320,20\n\n%header\n\nREMOVE StationName\n"
    )
    args = ["scrub", str(src), str(out), "--clean-pixels", "--recipe", str(recipe)]
    result = runner.invoke(app, [*args, "--workers", "1"], env=ENV)
    assert result.exit_code == 0, result.output
    assert "applied as pixel regions" in result.output
    (record,) = _log(out).values()
    assert record["pixels"]["status"] == "cleaned"
    assert record["pixels"]["boxes"] == {"region": 1}
