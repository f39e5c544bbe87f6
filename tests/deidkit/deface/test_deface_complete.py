"""Issue 20: both detectors on three views, the whole face zone, partial fields of view, reface."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from deface_heads import Truth, head_grid, make_head, nifti
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_OK
from deidkit.deface import methods
from deidkit.deface.core import changed_voxels, deface_raw
from deidkit.deface.errors import NoSafeMethodError
from deidkit.deface.geometry import Grid
from deidkit.deface.nifti_io import load_nifti
from deidkit.deface.qc import (
    HOG_THRESHOLD,
    VIEW_YAWS,
    face_found,
    view_scores,
    visible_face_removed,
    write_qc,
)
from deidkit.deface.registration import RegistrationError
from deidkit.deface.templates import HeadTemplate

MM = 4.0


@pytest.fixture(scope="module")
def head(template: HeadTemplate) -> tuple[np.ndarray, Grid, Truth]:
    grid = head_grid(template, zooms=(MM, MM, MM))
    data, truth = make_head(template, grid)
    return data, grid, truth


@pytest.fixture(scope="module")
def defaced(head: tuple[np.ndarray, Grid, Truth]) -> Any:
    data, grid, _ = head
    return deface_raw(data, grid, method="mask")


def test_both_detectors_fire_on_the_face_and_not_after_mask(
    head: tuple[np.ndarray, Grid, Truth], defaced: Any
) -> None:
    data, _, _ = head
    posed = defaced.mask.grid
    before = view_scores(data, posed)
    assert set(before) == set(VIEW_YAWS)
    assert before["front"].haar >= 1
    hog = before["front"].hog
    assert hog is not None and hog > HOG_THRESHOLD
    after = view_scores(defaced.raw, posed)
    assert not face_found(after)
    assert all(s.hog is None or s.hog < HOG_THRESHOLD for s in after.values())


def test_whole_face_zone_removed_brain_untouched(
    head: tuple[np.ndarray, Grid, Truth], defaced: Any
) -> None:
    data, _, truth = head
    changed = changed_voxels(data, defaced.raw)
    assert not (changed & truth.brain).any()
    share = visible_face_removed(data, defaced.raw, defaced.mask.grid, defaced.mask.face_region)
    assert share is not None and share >= 0.95
    # The measure can fail: nothing removed is 0 % removed.
    assert visible_face_removed(data, data, defaced.mask.grid, defaced.mask.face_region) == 0.0
    # The zone reaches beyond pydeface's face slab (the nose's midline, lips, chin).
    assert np.count_nonzero(defaced.mask.face & ~defaced.mask.face_region) > 0


def test_qc_record_has_both_detectors_per_view(
    head: tuple[np.ndarray, Grid, Truth], defaced: Any, tmp_path: Path
) -> None:
    data, _, _ = head
    record = write_qc(
        tmp_path,
        "sub-01_T1w.nii.gz",
        before=data,
        after=defaced.raw.astype(np.float32),
        grid=defaced.mask.grid,
        method="mask",
        brain_voxels_changed=0,
        face_voxels_changed=defaced.face_voxels_changed,
        face_region_removed=defaced.face_region_removed,
        face_region=defaced.mask.face_region,
    )
    saved = json.loads((tmp_path / f"{record.qc_id}.json").read_text())
    assert saved["face_detected_before"] and not saved["flagged"]
    for when in ("before", "after"):
        assert set(saved["detectors"][when]) == {"front", "yaw-30", "yaw+30"}
        assert all(set(v) == {"haar", "hog"} for v in saved["detectors"][when].values())
    assert saved["detectors"]["before"]["front"]["hog"] > HOG_THRESHOLD
    assert saved["visible_face_removed"] >= 0.95
    assert saved["finding"] is None


def _slab(data: np.ndarray, grid: Grid, truth: Truth) -> tuple[np.ndarray, Grid, Truth]:
    # An axial slab through the eyes and nose: the face's upper part, no brain top or chin.
    top = int(np.argwhere(truth.face)[:, 2].max()) + 2
    lo, hi = top - 14, top
    affine = grid.affine.copy()
    affine[:3, 3] = grid.affine[:3, :3] @ np.array([0, 0, lo]) + grid.affine[:3, 3]
    sub = Grid((grid.shape[0], grid.shape[1], hi - lo), affine)
    cut = Truth(truth.brain[..., lo:hi], truth.face[..., lo:hi])
    return np.ascontiguousarray(data[..., lo:hi]), sub, cut


def _registration_fails(*_: Any, **__: Any) -> Any:
    raise RegistrationError("template registration gave a degenerate transform")


def test_slab_falls_back_to_the_partial_search(
    head: tuple[np.ndarray, Grid, Truth], monkeypatch: pytest.MonkeyPatch
) -> None:
    slab, grid, truth = _slab(*head)
    monkeypatch.setattr(methods, "register_template", _registration_fails)
    outcome = deface_raw(slab, grid, method="mask")
    assert outcome.mask.finding is not None and "partial field-of-view" in outcome.mask.finding
    changed = changed_voxels(slab, outcome.raw)
    assert not (changed & truth.brain).any()
    assert np.count_nonzero(changed & truth.face) >= 0.9 * np.count_nonzero(truth.face)


def test_degenerate_transform_is_not_plausible() -> None:
    assert methods.plausible(np.eye(4))
    assert methods.plausible(np.diag([1.25, 1.25, 1.25, 1.0]))  # a child's head
    assert not methods.plausible(np.diag([0.69, 1.32, 0.45, 1.0]))  # a tiny view, sheared


def test_no_method_refuses_with_the_reason(
    head: tuple[np.ndarray, Grid, Truth], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, grid, _ = head

    def nothing(*_: Any, **__: Any) -> Any:
        raise RegistrationError("template registration did not converge")

    monkeypatch.setattr(methods, "register_robust", nothing)
    with pytest.raises(NoSafeMethodError, match="no brain mask was given"):
        deface_raw(data, grid, method="mask")


def test_no_face_in_view_passes_through(
    head: tuple[np.ndarray, Grid, Truth], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, grid, truth = head
    # The top of the head only: from 20 mm above the face zone's top to the vertex.
    lo = int(np.argwhere(truth.face)[:, 2].max()) + int(40 / MM)
    affine = grid.affine.copy()
    affine[:3, 3] = grid.affine[:3, :3] @ np.array([0, 0, lo]) + grid.affine[:3, 3]
    top = Grid((grid.shape[0], grid.shape[1], grid.shape[2] - lo), affine)
    crown = np.ascontiguousarray(data[..., lo:])
    monkeypatch.setattr(
        methods, "register_robust", lambda v, g: (methods._registered(np.eye(4), g), None)
    )
    outcome = deface_raw(crown, top, method="mask")
    assert outcome.mask.finding == methods.NO_FACE_NOTE
    assert outcome.face_voxels_changed == 0
    assert np.array_equal(outcome.raw, crown)


def test_reface_writes_the_template_face_and_spares_the_brain(
    head: tuple[np.ndarray, Grid, Truth], template: HeadTemplate
) -> None:
    data, grid, truth = head
    # Stored as int16 on another intensity scale than the template.
    stored = np.round(data * 1.7).astype(np.int16)
    outcome = deface_raw(stored, grid, method="reface")
    assert outcome.mask.method == "reface" and outcome.mask.replacement is not None
    changed = changed_voxels(stored, outcome.raw)
    assert not (changed & truth.brain).any()
    assert not (changed & ~outcome.mask.face).any()
    # A head-shaped face is back: tissue (not the fill value) on most of the face slab.
    face = outcome.mask.face_region
    assert face is not None
    tissue = outcome.raw[face & (stored > 0.2 * stored.max())]
    assert np.count_nonzero(tissue > 0) > 0.5 * tissue.size
    # On the template itself the average face is the subject's: the surface stays where it was.
    share = visible_face_removed(
        data, outcome.raw.astype(np.float32) / 1.7, outcome.mask.grid, face
    )
    assert share is not None and share < 0.5


@pytest.fixture(scope="module")
def head_file(template: HeadTemplate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    grid = head_grid(template, zooms=(MM, MM, MM))
    data, _ = make_head(template, grid)
    folder = tmp_path_factory.mktemp("strict") / "in"
    folder.mkdir()
    nib.save(nifti(data, grid), folder / "sub-01_T1w.nii.gz")
    return folder / "sub-01_T1w.nii.gz"


def test_strict_fails_a_file_whose_face_stays(
    head_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = CliRunner().invoke(
        app, ["deface", str(head_file), str(tmp_path / "ok"), "--strict", "--json"]
    )
    assert ok.exit_code == EXIT_OK, ok.output
    # A method that leaves the face: both detectors see it and --strict holds the file back.
    real = methods.TemplateMaskMethod.face_mask

    def keeps_face(self: Any, volume: Any, grid: Any, *, brain: Any) -> Any:
        mask = real(self, volume, grid, brain=brain)
        return replace(mask, face=np.zeros_like(mask.face))

    monkeypatch.setattr(methods.TemplateMaskMethod, "face_mask", keeps_face)
    args = ["deface", str(head_file), str(tmp_path / "out"), "--json", "--qc", str(tmp_path / "q")]
    flagged = CliRunner().invoke(app, [*args, "--strict"])
    assert flagged.exit_code == EXIT_HELD_BACK
    assert json.loads(flagged.stdout)["results"][0]["status"] == "flagged"
    assert not (tmp_path / "out" / "sub-01_T1w.nii.gz").exists()
    record = json.loads(next((tmp_path / "q").glob("*.json")).read_text())
    assert record["flagged"] and record["detectors"]["after"]["front"]["haar"] >= 1


def test_ears_flag_widens_the_zone_beside_the_brain() -> None:
    from deidkit.deface.facezone import template_face_zone

    face_only, grid = template_face_zone(ears=False)
    with_ears, _ = template_face_zone(ears=True)
    assert (face_only <= with_ears).all()
    extra = np.argwhere(with_ears & ~face_only)
    assert extra.size
    # What --ears adds lies beside the head's midline, not in front of the face.
    centre = grid.shape[0] / 2
    assert np.abs(extra[:, 0] - centre).min() > 0.25 * grid.shape[0]


def test_reface_applyto_refaces_the_other_image_in_its_own_intensities(
    template: HeadTemplate, tmp_path: Path
) -> None:
    grid = head_grid(template, zooms=(MM, MM, MM))
    data, truth = make_head(template, grid)
    folder = tmp_path / "in"
    folder.mkdir()
    nib.save(nifti(data, grid), folder / "sub-01_T1w.nii.gz")
    # Another contrast on another intensity scale (T2-like: tissue classes inverted inside
    # the head, the air as dark as it was).
    inside = data > 0.05 * data.max()
    other = np.where(inside, 3000.0 - 3.0 * data, data)
    nib.save(nifti(other, grid), folder / "sub-01_T2w.nii.gz")
    args = ["deface", str(folder / "sub-01_T1w.nii.gz"), str(tmp_path / "out"), "--json"]
    args += ["--method", "reface", "--applyto", str(folder / "sub-01_T2w.nii.gz")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout)["counts"] == {"defaced": 2}
    before = load_nifti(folder / "sub-01_T2w.nii.gz").get_fdata(dtype=np.float32)
    after = load_nifti(tmp_path / "out" / "sub-01_T2w.nii.gz").get_fdata(dtype=np.float32)
    changed = changed_voxels(before, after)
    assert not (changed & truth.brain).any()
    assert changed.any()
    # Refaced, not removed: tissue on most of the face, in this image's own range.
    face = truth.face & inside
    tissue = after[face]
    assert np.count_nonzero(tissue > 0) > 0.8 * tissue.size
    ratio = float(np.median(tissue)) / float(np.median(before[face]))
    assert 0.5 < ratio < 2.0
