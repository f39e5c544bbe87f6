"""Heads the default method has never seen: the template moved by a KNOWN world transform.

The truth (template brain and face masks warped with the same transform) is independent
of the method's own registration. Before multi-start registration, a 30 degree chin-down
head had 361 true-brain voxels zeroed without a refusal (the estimated brain was misplaced
too) and a chin-up head kept a third of its face; these are regression tests on 4 mm copies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from deface_heads import about_centre, make_moved_head, moved_grid, rotation
from test_deface_dicom import write_series

from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.core import changed_voxels, deface_raw
from deidkit.deface.dicom_series import read_series
from deidkit.deface.templates import HeadTemplate

MM = 4.0


def _t2_like(head: np.ndarray) -> np.ndarray:
    # Tissue classes inverted (WM dark, CSF bright) inside the head; air stays dark.
    hi = float(np.percentile(head[head > 0], 99))
    return np.where(head > 0.08 * hi, np.clip(1.15 * hi - head, 0.0, None), 0.0)


CASES = {
    "chin-down-30": (rotation(0, -30.0), False),
    "chin-up-30": (rotation(0, 30.0), False),
    "child-0.8x-t2-pitch20-yaw-20": (
        np.diag([0.8, 0.8, 0.8, 1.0]) @ rotation(0, 20.0) @ rotation(2, -20.0),
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_moved_head_keeps_brain_and_loses_face(name: str, template: HeadTemplate) -> None:
    linear, t2 = CASES[name]
    move = about_centre(template, linear)
    grid = moved_grid(template, move, zooms=(MM, MM, MM), neck_mm=40.0)
    head, truth = make_moved_head(template, grid, move, neck=True)
    if t2:
        head = _t2_like(head)
    raw = head.astype(np.float32)
    outcome = deface_raw(raw, grid, method="mask")
    changed = changed_voxels(raw, outcome.raw)
    assert int(np.count_nonzero(changed & truth.brain)) == 0
    # Removed = now holds the fill value (air already at 0 in the face region counts too).
    gone = changed | (outcome.raw == 0)
    assert np.count_nonzero(gone & truth.face) / truth.face.sum() >= 0.9


def test_sagittal_dicom_series_of_a_tilted_head(template: HeadTemplate, tmp_path: Path) -> None:
    # Sagittal slices (ImageOrientationPatient in the A/S plane), head pitched chin-down.
    move = about_centre(template, rotation(0, -20.0))
    grid = moved_grid(template, move, zooms=(MM, MM, 1.2 * MM), orient="PIL")
    head, _ = make_moved_head(template, grid, move)
    src = tmp_path / "in"
    paths = write_series(src / "sag", head, grid)
    report = run_batch(src, tmp_path / "out", DefaceOptions())
    assert [r.status for r in report.results] == ["defaced"], report.results
    a = read_series(sorted(paths))
    b = read_series(sorted((tmp_path / "out" / "sag").iterdir()))
    # The reader may stack the slices the other way round; the voxel centres are the same.
    assert a.grid.shape == grid.shape
    corners = np.array(
        [
            [i, j, k, 1.0]
            for i in (0, grid.shape[0] - 1)
            for j in (0, 1)
            for k in (0, grid.shape[2] - 1)
        ]
    )
    world_a = {tuple(np.round(v, 3)) for v in (a.grid.affine @ corners.T).T}
    world_g = {tuple(np.round(v, 3)) for v in (grid.affine @ corners.T).T}
    assert world_a == world_g
    _, truth = make_moved_head(template, a.grid, move)
    changed = a.raw != b.raw
    assert not (changed & truth.brain).any()
    assert (changed & truth.face).sum() / truth.face.sum() >= 0.9
