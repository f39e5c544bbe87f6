"""Method registry, quickshear fixes (world mm, small masks) and the frozen template transform."""

from __future__ import annotations

import numpy as np
import pytest
from deface_heads import head_grid, make_head

from deidkit.deface import MethodUnavailableError, get_method, method_names
from deidkit.deface.errors import BrainMaskError
from deidkit.deface.geometry import any_within_mm, grid_of, warp_mask
from deidkit.deface.methods import shear_mask
from deidkit.deface.templates import MNI_TO_MEAN_HEAD, HeadTemplate, derive_brain_transform


def test_registry_is_lazy_and_checked() -> None:
    assert method_names() == ("auto", "mask", "quickshear", "reface")
    assert get_method("auto").name == "mask"
    assert get_method("quickshear").is_available()
    with pytest.raises(MethodUnavailableError, match="unknown"):
        get_method("fsl")


def test_small_brain_mask_is_a_typed_error() -> None:
    grid = grid_of((20, 20, 20), np.eye(4))
    brain = np.zeros(grid.shape, dtype=bool)
    brain[10, 10, 10] = True
    with pytest.raises(BrainMaskError, match="too small"):
        shear_mask(brain, grid)


def test_shear_plane_keeps_true_distance_on_anisotropic_grid(template: HeadTemplate) -> None:
    grid = head_grid(template, zooms=(2.0, 2.0, 6.0), orient="PIR", tilt_deg=20.0)
    _, truth = make_head(template, grid)
    face = shear_mask(truth.brain, grid, buffer_mm=10.0)
    assert face.any()
    assert any_within_mm(face, truth.brain, grid, 8.0) == 0  # buffer measured in world mm


def test_any_within_mm_matches_full_distance_transform() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    grid = grid_of((30, 25, 12), np.diag([1.0, 1.5, 3.0, 1.0]))
    region = rng.random(grid.shape) > 0.995
    points = rng.random(grid.shape) > 0.9
    dist = ndimage.distance_transform_edt(~region, sampling=grid.zooms)
    expected = int(np.count_nonzero(points & (dist <= 4.0)))
    assert expected > 0
    assert any_within_mm(points, region, grid, 4.0) == expected


def test_warp_mask_identity_is_exact() -> None:
    grid = grid_of((10, 12, 14), np.diag([2.0, 2.0, 2.0, 1.0]))
    mask = np.zeros(grid.shape, dtype=bool)
    mask[2:5, 3:9, 4:6] = True
    np.testing.assert_array_equal(warp_mask(mask, grid, grid), mask)


def test_frozen_template_brain_transform_is_reproducible() -> None:
    fresh = derive_brain_transform()
    # Points across a brain-sized box move by less than 0.5 mm between the two transforms.
    pts = np.array([[x, y, z, 1.0] for x in (-60, 60) for y in (-90, 60) for z in (-50, 70)]).T
    assert np.abs((fresh @ pts - MNI_TO_MEAN_HEAD @ pts)[:3]).max() < 0.5
