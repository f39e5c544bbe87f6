"""Issue 20: quickshear's plane in the head's registered frame, on any pose and field of view."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from deface_heads import (
    Truth,
    about_centre,
    head_grid,
    make_head,
    make_moved_head,
    moved_grid,
    rotation,
)

from deidkit.deface import methods
from deidkit.deface.core import changed_voxels, deface_raw
from deidkit.deface.errors import NoSafeMethodError
from deidkit.deface.geometry import Grid
from deidkit.deface.methods import shear_mask, template_transform
from deidkit.deface.registration import RegistrationError
from deidkit.deface.templates import HeadTemplate

MM = 4.0


@pytest.fixture(scope="module")
def posed_head(template: HeadTemplate) -> tuple[np.ndarray, Grid, Truth, np.ndarray]:
    """The template pitched 20, rolled 15 and yawed -20 degrees; with subject -> template."""
    move = about_centre(template, rotation(0, 20) @ rotation(1, 15) @ rotation(2, -20))
    grid = moved_grid(template, move, zooms=(MM, MM, MM))
    data, truth = make_moved_head(template, grid, move)
    return data, grid, truth, np.linalg.inv(move)


def _share(removed: np.ndarray, truth: Truth) -> float:
    return float(np.count_nonzero(removed & truth.face) / np.count_nonzero(truth.face))


def test_plane_in_the_head_frame_is_not_tilted_by_the_pose(
    posed_head: tuple[np.ndarray, Grid, Truth, np.ndarray],
) -> None:
    _, grid, truth, to_template = posed_head
    in_world = shear_mask(truth.brain, grid)
    in_head = shear_mask(truth.brain, grid, frame=to_template)
    # The world-axes plane (quickshear's own way) leaves a quarter of the turned face.
    assert _share(in_world, truth) < 0.9
    assert _share(in_head, truth) >= 0.99
    assert not (in_head & truth.brain).any()


def test_quickshear_removes_a_posed_face_and_spares_the_brain(
    posed_head: tuple[np.ndarray, Grid, Truth, np.ndarray],
) -> None:
    data, grid, truth, to_template = posed_head
    outcome = deface_raw(data, grid, method="quickshear")
    changed = changed_voxels(data, outcome.raw)
    assert not (changed & truth.brain).any()
    assert _share(changed, truth) >= 0.95
    found = template_transform(outcome.mask.grid)
    assert found is not None  # the QC renders in the registered pose
    # The registration found the known pose: the face centre lands within a few mm.
    centre = np.array([*(grid.affine[:3, :3] @ np.argwhere(truth.face).mean(axis=0)), 1.0])
    centre[:3] += grid.affine[:3, 3]
    assert np.linalg.norm((found @ centre - to_template @ centre)[:3]) < 3 * MM


def _slab(data: np.ndarray, truth: Truth, grid: Grid) -> tuple[np.ndarray, Grid, Truth]:
    # An axial slab through the eyes and nose, on the grid's superior axis.
    axis = int(np.argmax(np.abs(grid.affine[2, :3])))
    face_top = int(np.argwhere(truth.face)[:, axis].max()) + 2
    lo = face_top - int(56 / MM)
    box = [slice(None)] * 3
    box[axis] = slice(lo, face_top)
    start = np.zeros(3)
    start[axis] = lo
    affine = grid.affine.copy()
    affine[:3, 3] = grid.affine[:3, :3] @ start + grid.affine[:3, 3]
    shape = [int(n) for n in grid.shape]
    shape[axis] = face_top - lo
    sub = Grid((shape[0], shape[1], shape[2]), affine)
    cut = Truth(truth.brain[tuple(box)], truth.face[tuple(box)])
    return np.ascontiguousarray(data[tuple(box)]), sub, cut


def _fails(*_: Any, **__: Any) -> Any:
    raise RegistrationError("template registration gave a degenerate transform")


def test_partial_view_uses_the_template_brain_plane(
    template: HeadTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The partial search trusts the header's orientation: an upright head, as scanned.
    upright = head_grid(template, zooms=(MM, MM, MM))
    slab, grid, truth = _slab(*make_head(template, upright), upright)
    monkeypatch.setattr(methods, "register_template", _fails)
    outcome = deface_raw(slab, grid, method="quickshear")
    assert outcome.mask.finding is not None and "partial field-of-view" in outcome.mask.finding
    changed = changed_voxels(slab, outcome.raw)
    assert not (changed & truth.brain).any()
    assert _share(changed, truth) >= 0.9


def test_no_registration_refuses_without_a_brain_mask_and_uses_a_given_one(
    posed_head: tuple[np.ndarray, Grid, Truth, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, grid, truth, _ = posed_head
    monkeypatch.setattr(methods, "register_robust", _fails)
    with pytest.raises(NoSafeMethodError, match="no brain mask was given"):
        deface_raw(data, grid, method="quickshear")
    outcome = deface_raw(data, grid, method="quickshear", brain=truth.brain)
    assert outcome.mask.finding is not None and "world axes" in outcome.mask.finding
    assert template_transform(outcome.mask.grid) is None  # QC renders in the subject's pose
    assert not (changed_voxels(data, outcome.raw) & truth.brain).any()
    assert outcome.face_voxels_changed > 0


def test_no_face_in_view_passes_through(
    posed_head: tuple[np.ndarray, Grid, Truth, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, grid, _, to_template = posed_head
    # A pose that puts the template's face far outside this field of view.
    away = np.eye(4)
    away[2, 3] = 400.0
    monkeypatch.setattr(
        methods,
        "register_robust",
        lambda v, g: (methods._registered(away @ to_template, g), None),
    )
    outcome = deface_raw(data, grid, method="quickshear")
    assert outcome.mask.finding == methods.NO_FACE_NOTE
    assert np.array_equal(outcome.raw, data)
