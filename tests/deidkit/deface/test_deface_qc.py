"""Prove the face is gone: the offline face detector fires before and not after."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
from deface_heads import head_grid, make_head, nifti

from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.core import deface_raw
from deidkit.deface.qc import detect_faces, qc_id
from deidkit.deface.render import render_views
from deidkit.deface.templates import HeadTemplate


def test_detector_fires_on_face_and_not_on_defaced(template: HeadTemplate) -> None:
    grid = head_grid(template, orient="LIA", tilt_deg=15.0)
    head, _ = make_head(template, grid)
    outcome = deface_raw(head, grid, method="mask")
    assert detect_faces(render_views(head, grid)["front"]) >= 1
    assert detect_faces(render_views(outcome.raw, grid)["front"]) == 0


def test_detector_does_not_fire_on_blank_or_noise() -> None:
    rng = np.random.default_rng(0)
    assert detect_faces(np.zeros((120, 100), np.uint8)) == 0
    assert detect_faces(rng.integers(0, 255, (120, 100), dtype=np.uint8)) == 0


def test_qc_files_named_by_hash_with_record(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, _ = make_head(template, grid)
    src = tmp_path / "in" / "sub-DoeJane_T1w.nii.gz"
    src.parent.mkdir()
    nib.save(nifti(head, grid), src)
    qc = tmp_path / "qc"
    report = run_batch(src, tmp_path / "out", DefaceOptions(qc_dir=qc))
    assert report.results[0].status == "defaced"
    ident = qc_id("sub-DoeJane_T1w.nii.gz")
    assert sorted(p.name for p in qc.iterdir()) == [f"{ident}.json", f"{ident}.png"]
    record = json.loads((qc / f"{ident}.json").read_text())
    assert record["brain_voxels_changed"] == 0
    assert record["face_detected_before"] is True
    assert record["face_detected_after"] is False
    assert record["flagged"] is False
    assert record["face_region_removed"] > 0.95
    assert "DoeJane" not in (qc / f"{ident}.json").read_text()
    sheet = cv2.imread(str(qc / f"{ident}.png"), cv2.IMREAD_GRAYSCALE)
    assert sheet is not None and sheet.shape[0] > 100 and sheet.std() > 10


def test_strict_fails_when_face_still_detected(template: HeadTemplate, tmp_path: Path) -> None:
    # Quickshear's single plane leaves the orbits and nasal cavity on this head (a known
    # quickshear failure): the detector still fires, so --strict refuses the file.
    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, _ = make_head(template, grid)
    src = tmp_path / "in" / "h.nii.gz"
    src.parent.mkdir()
    nib.save(nifti(head, grid), src)
    report = run_batch(src, tmp_path / "out", DefaceOptions(method="quickshear", strict=True))
    assert [r.status for r in report.results] == ["flagged"]
    assert not (tmp_path / "out" / "h.nii.gz").exists()


def test_flagged_without_strict_is_written_and_reported(
    template: HeadTemplate, tmp_path: Path
) -> None:
    from deidkit.deface.pipeline import FLAGGED_NOTE

    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, _ = make_head(template, grid)
    src = tmp_path / "in" / "h.nii.gz"
    src.parent.mkdir()
    nib.save(nifti(head, grid), src)
    options = DefaceOptions(method="quickshear", qc_dir=tmp_path / "qc")
    report = run_batch(src, tmp_path / "out", options)
    [result] = report.results
    assert result.status == "defaced" and result.qc is not None and result.qc["flagged"]
    assert FLAGGED_NOTE in result.message
    assert (tmp_path / "out" / "h.nii.gz").is_file()
