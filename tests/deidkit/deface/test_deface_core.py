"""Brain untouched and face removed for every orientation, tilt, voxel size, 4D and dtype."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from deface_heads import Truth, head_grid, make_head, nifti

from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.core import changed_voxels
from deidkit.deface.geometry import Grid
from deidkit.deface.nifti_io import raw_data, slope_inter
from deidkit.deface.templates import HeadTemplate

VARIANTS = {
    "RAS": {"orient": "RAS"},
    "LPS": {"orient": "LPS"},
    "LIA": {"orient": "LIA"},
    "PIR": {"orient": "PIR"},
    "oblique18": {"orient": "RAS", "tilt_deg": 18.0},
    "oblique-15-LIA": {"orient": "LIA", "tilt_deg": -15.0},
    "aniso1x1x3": {"zooms": (2.0, 2.0, 6.0)},
}


def _run(tmp_path: Path, img: nib.Nifti1Image, method: str = "mask") -> nib.Nifti1Image:
    src = tmp_path / "in" / "head.nii.gz"
    src.parent.mkdir()
    nib.save(img, src)
    before = src.read_bytes()
    report = run_batch(src, tmp_path / "out", DefaceOptions(method=method))
    assert [r.status for r in report.results] == ["defaced"], report.results
    assert src.read_bytes() == before  # INPUT never modified
    return nib.load(tmp_path / "out" / "head.nii.gz")


def _check(img: nib.Nifti1Image, out: nib.Nifti1Image, truth: Truth) -> None:
    # Same grid, affine (sform and qform with codes), dtype and scaling.
    assert out.shape == img.shape
    assert out.get_data_dtype() == img.get_data_dtype()
    np.testing.assert_allclose(out.affine, img.affine, atol=1e-5)
    np.testing.assert_allclose(out.header.get_sform(), img.header.get_sform(), atol=1e-5)
    np.testing.assert_allclose(out.header.get_qform(), img.header.get_qform(), atol=1e-4)
    assert int(out.header["sform_code"]) == int(img.header["sform_code"])
    assert int(out.header["qform_code"]) == int(img.header["qform_code"])
    assert slope_inter(out) == slope_inter(img)
    assert out.header["descrip"].tobytes().strip(b"\0") == b""
    changed = changed_voxels(raw_data(img), raw_data(out))
    assert int(np.count_nonzero(changed & truth.brain)) == 0  # oracle: the template's brain
    removed = np.count_nonzero(changed & truth.face) / truth.face.sum()
    assert removed > 0.9

    # Only the face zone changed (in front of the brain, below the brows): nothing above the
    # face or behind the brain (issue 20: the zone is more than pydeface's slab).
    def world(mask: np.ndarray) -> np.ndarray:
        return (img.affine[:3, :3] @ np.argwhere(mask).T.astype(float)).T + img.affine[:3, 3]

    moved, face, brain = world(changed), world(truth.face), world(truth.brain)
    assert moved[:, 2].max() <= face[:, 2].max() + 12.0
    assert moved[:, 1].min() >= brain[:, 1].min()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_geometry_variants_keep_brain(name: str, template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, **VARIANTS[name])  # type: ignore[arg-type]
    head, truth = make_head(template, grid)
    img = nifti(head, grid)
    _check(img, _run(tmp_path, img), truth)


def test_4d_gets_same_mask_every_volume(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, orient="LPS")
    head, truth = make_head(template, grid)
    series = np.stack([head, head * 0.9, head * 1.1], axis=-1)
    img = nifti(series, grid)
    out = _run(tmp_path, img)
    _check(img, out, truth)
    data = raw_data(out)
    changed = changed_voxels(raw_data(img), data)
    assert changed.any()
    assert (data[changed] == 0).all()  # the same voxels are zeroed in every volume


def test_int16_with_scaling(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template)
    head, truth = make_head(template, grid)
    img = nifti(head, grid, scaling=(0.5, 10.0))
    out = _run(tmp_path, img)
    _check(img, out, truth)
    assert slope_inter(out) == (0.5, 10.0)


def test_float_with_nans(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, orient="LIA")
    head, truth = make_head(template, grid)
    head = head.astype(np.float32)
    head[:, :, -3:] = np.nan  # a band of NaNs, as after a bad reconstruction
    img = nifti(head, grid, dtype=np.float32)
    out = _run(tmp_path, img)
    _check(img, out, truth)
    assert np.isnan(raw_data(out)[:, :, -3:]).sum() > 0  # NaNs outside the face kept


def test_quickshear_world_space_oblique(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, orient="PIR", tilt_deg=15.0)
    head, truth = make_head(template, grid)
    img = nifti(head, grid)
    out = _run(tmp_path, img, method="quickshear")
    changed = changed_voxels(raw_data(img), raw_data(out))
    assert int(np.count_nonzero(changed & truth.brain)) == 0
    assert np.count_nonzero(changed & truth.face) / truth.face.sum() > 0.8


def test_same_input_same_bytes(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, _ = make_head(template, grid)
    src = tmp_path / "in" / "h.nii.gz"
    src.parent.mkdir()
    nib.save(nifti(head, grid), src)
    run_batch(src, tmp_path / "a", DefaceOptions())
    run_batch(src, tmp_path / "b", DefaceOptions())
    assert (tmp_path / "a" / "h.nii.gz").read_bytes() == (tmp_path / "b" / "h.nii.gz").read_bytes()


def test_grid_helper_orientations_are_the_same_head(template: HeadTemplate) -> None:
    # Guard the fixture itself: LPS and RAS grids place the same head in world space.
    a = head_grid(template, orient="RAS")
    b = head_grid(template, orient="LPS")
    assert isinstance(a, Grid)
    ca = a.affine @ np.array([*((np.array(a.shape) - 1) / 2), 1])
    cb = b.affine @ np.array([*((np.array(b.shape) - 1) / 2), 1])
    np.testing.assert_allclose(ca, cb, atol=1e-6)


def test_blur_changes_only_face_in_every_volume(template: HeadTemplate) -> None:
    from deidkit.deface.core import deface_raw

    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, truth = make_head(template, grid)
    raw = np.asfortranarray(np.stack([head, head], axis=-1).astype(np.int16))
    outcome = deface_raw(raw, grid, method="mask", blur=True)
    changed = changed_voxels(raw, outcome.raw)
    assert not (changed & truth.brain).any()
    assert (changed & truth.face).sum() / truth.face.sum() > 0.5
    np.testing.assert_array_equal(outcome.raw[..., 0], outcome.raw[..., 1])
    assert (outcome.raw[changed] != 0).any()  # blurred, not zeroed


def test_partial_field_of_view(template: HeadTemplate, tmp_path: Path) -> None:
    full = head_grid(template, orient="LPS")
    # Drop the top third of the head (a scan that stops above the eyes' level + some).
    grid = Grid((full.shape[0], full.shape[1], int(full.shape[2] * 0.65)), full.affine)
    head, truth = make_head(template, grid)
    img = nifti(head, grid)
    _check(img, _run(tmp_path, img), truth)
