"""Geometry and intensity handling: DICOM (LPS) and NIfTI (RAS) meet in one canonical grid."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from imaging_samples import asymmetric_volume, ras_affine, write_dicom_series, write_nifti

from auditkit.errors import ImageReadError, UsageError
from auditkit.imaging import (
    ERR_GAPS,
    ERR_MISSING,
    ERR_NO_POSITION,
    ERR_UNREADABLE,
    Preprocessor,
    PreprocessSpec,
    axcodes_of,
    load_volume,
    parse_intensity,
)

SPACING = (1.5, 1.0, 2.0)
ORIGIN = (-10.0, 20.0, 5.0)


@pytest.fixture()
def volume() -> np.ndarray:
    return asymmetric_volume()


def test_dicom_series_and_nifti_give_the_same_array_and_affine(
    tmp_path: Path, volume: np.ndarray
) -> None:
    series = write_dicom_series(tmp_path / "series", volume, spacing=SPACING, origin=ORIGIN)
    nifti = write_nifti(tmp_path / "v.nii.gz", volume, ras_affine(SPACING, ORIGIN))
    pre = Preprocessor(PreprocessSpec(spacing=(1.0, 1.0, 1.0)))
    from_dicom, affine_dicom = pre(load_volume(series))
    from_nifti, affine_nifti = pre(load_volume(nifti))
    assert from_dicom.shape == from_nifti.shape
    torch.testing.assert_close(from_dicom, from_nifti, atol=1e-4, rtol=0)
    np.testing.assert_allclose(affine_dicom, affine_nifti, atol=1e-6)


def test_dicom_series_loads_to_the_source_ras_volume(tmp_path: Path, volume: np.ndarray) -> None:
    series = write_dicom_series(tmp_path / "series", volume, spacing=SPACING, origin=ORIGIN)
    loaded = load_volume(series)
    # Before reorientation the DICOM array runs L and P; the RAS affine says so.
    assert np.sign(loaded.affine[0, 0]) == -1 and np.sign(loaded.affine[1, 1]) == -1
    canonical, affine = Preprocessor(PreprocessSpec())(loaded)
    np.testing.assert_array_equal(canonical[0].numpy(), volume)
    np.testing.assert_allclose(affine, ras_affine(SPACING, ORIGIN), atol=1e-6)


def test_nifti_stored_left_to_right_is_reoriented(tmp_path: Path, volume: np.ndarray) -> None:
    # Same anatomy stored with voxel axis 0 running towards the left.
    affine = ras_affine(SPACING, ORIGIN)
    flipped_affine = affine.copy()
    flipped_affine[0, 0] = -SPACING[0]
    flipped_affine[0, 3] = ORIGIN[0] + (volume.shape[0] - 1) * SPACING[0]
    plain = write_nifti(tmp_path / "ras.nii.gz", volume, affine)
    las = write_nifti(tmp_path / "las.nii.gz", volume[::-1].copy(), flipped_affine)
    pre = Preprocessor(PreprocessSpec())
    torch.testing.assert_close(pre(load_volume(plain))[0], pre(load_volume(las))[0])


def test_left_right_flip_is_never_silent(tmp_path: Path, volume: np.ndarray) -> None:
    affine = ras_affine(SPACING, ORIGIN)
    plain = write_nifti(tmp_path / "a.nii.gz", volume, affine)
    mirrored = write_nifti(tmp_path / "b.nii.gz", volume[::-1].copy(), affine)
    pre = Preprocessor(PreprocessSpec())
    a, b = pre(load_volume(plain))[0], pre(load_volume(mirrored))[0]
    assert not torch.equal(a, b)
    torch.testing.assert_close(a.flip(1), b)


def test_rescale_slope_intercept_gives_hounsfield_units(tmp_path: Path) -> None:
    hu = np.full((4, 4, 3), -1000.0, dtype=np.float32)
    hu[1:3, 1:3, :] = 40.0
    series = write_dicom_series(tmp_path / "ct", hu, slope=2.0, intercept=-1024.0)
    first = next(series.iterdir())
    stored = pydicom.dcmread(first).pixel_array
    assert stored.min() == 12  # (-1000 + 1024) / 2: the file holds stored values, not HU
    loaded = load_volume(series)
    canonical = Preprocessor(PreprocessSpec())(loaded)[0][0].numpy()
    np.testing.assert_array_equal(canonical, hu)


def test_window_maps_hounsfield_to_unit_range(tmp_path: Path) -> None:
    hu = np.zeros((4, 4, 2), dtype=np.float32)
    hu[0] = -1000.0
    hu[1] = 500.0
    hu[2] = 40.0
    series = write_dicom_series(tmp_path / "ct", hu, intercept=-1024.0)
    tensor, _ = Preprocessor(PreprocessSpec(intensity="window:-160,240"))(load_volume(series))
    values = tensor[0].numpy()
    assert values[0].max() == 0.0 and values[1].min() == 1.0
    np.testing.assert_allclose(values[2], (40 + 160) / 400, atol=1e-6)


def test_percentile_scaling_for_mr(tmp_path: Path, volume: np.ndarray) -> None:
    nifti = write_nifti(tmp_path / "mr.nii.gz", volume * 7.0 + 300.0, np.eye(4))
    tensor, _ = Preprocessor(PreprocessSpec(intensity="percentile:1,99"))(load_volume(nifti))
    assert float(tensor.min()) == 0.0 and float(tensor.max()) == 1.0


def test_spacing_and_size(tmp_path: Path, volume: np.ndarray) -> None:
    nifti = write_nifti(tmp_path / "v.nii.gz", volume, ras_affine(SPACING, ORIGIN))
    resampled, affine = Preprocessor(PreprocessSpec(spacing=(3.0, 2.0, 2.0)))(load_volume(nifti))
    np.testing.assert_allclose(np.abs(np.diag(affine)[:3]), (3.0, 2.0, 2.0))
    # The new grid spans the old field of view to within one new voxel.
    for n_new, n_old, new, old in zip(
        resampled.shape[1:], volume.shape, (3, 2, 2), SPACING, strict=True
    ):
        assert abs(n_new * new - n_old * old) <= new
    sized, _ = Preprocessor(PreprocessSpec(spatial_size=(8, 8, 8)))(load_volume(nifti))
    assert sized.shape == (1, 8, 8, 8)


def test_single_slice_for_a_2d_model(tmp_path: Path, volume: np.ndarray) -> None:
    series = write_dicom_series(tmp_path / "s", volume[:, :, :1])
    single = next(series.iterdir())
    tensor, _ = Preprocessor(PreprocessSpec(spatial_dims=2, spatial_size=(6, 5)))(
        load_volume(single)
    )
    assert tensor.shape == (1, 6, 5)
    with pytest.raises(ImageReadError):
        Preprocessor(PreprocessSpec(spatial_dims=2))(
            load_volume(write_nifti(tmp_path / "v.nii", volume, np.eye(4)))
        )


def test_unreadable_and_missing_images(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match=ERR_UNREADABLE):
        load_volume(junk)
    with pytest.raises(ImageReadError, match=ERR_MISSING):
        load_volume(tmp_path / "absent.nii.gz")
    bad_nifti = tmp_path / "bad.nii.gz"
    bad_nifti.write_bytes(b"\x1f\x8b broken")
    with pytest.raises(ImageReadError, match=ERR_UNREADABLE):
        load_volume(bad_nifti)


def test_stray_files_in_a_series_folder_are_ignored(tmp_path: Path, volume: np.ndarray) -> None:
    series = write_dicom_series(tmp_path / "s", volume)
    (series / "notes.txt").write_text("acquired on the old scanner")
    np.testing.assert_array_equal(Preprocessor(PreprocessSpec())(load_volume(series))[0][0], volume)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(ImageReadError, match=ERR_UNREADABLE):
        load_volume(empty)


def test_duplicate_slice_positions_are_refused(tmp_path: Path, volume: np.ndarray) -> None:
    series = write_dicom_series(tmp_path / "s", volume[:, :, :3])
    files = sorted(series.iterdir())
    ds = pydicom.dcmread(files[0])
    ds.ImagePositionPatient = pydicom.dcmread(files[1]).ImagePositionPatient
    ds.save_as(files[0])
    with pytest.raises(ImageReadError, match=ERR_GAPS):
        load_volume(series)


def test_slices_without_positions_say_so(tmp_path: Path, volume: np.ndarray) -> None:
    # QA: a series without ImagePositionPatient was reported as "irregular" slice gaps.
    series = write_dicom_series(tmp_path / "s", volume[:, :, :2])
    for path in series.iterdir():
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient
        ds.save_as(path)
    with pytest.raises(ImageReadError, match=ERR_NO_POSITION):
        load_volume(series)


@pytest.mark.parametrize(
    "spec", ["window:5", "window:10,0", "percentile:50,10", "gamma", "zscore:1"]
)
def test_bad_intensity_specs(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_intensity(spec)


@pytest.mark.parametrize(
    ("affine", "codes"),
    [
        (np.diag([0.5, 2.0, 3.0, 1.0]), "RAS"),
        (np.diag([-1.0, -1.0, 1.0, 1.0]), "LPS"),
        (np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1.0]]), "ASR"),
        (np.array([[1, 1, 0, 0], [1, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]), ""),  # 45 deg
    ],
)
def test_axcodes_of_agrees_with_nibabel_or_declines(affine: np.ndarray, codes: str) -> None:
    # The fast path skips MONAI's Orientation only when these codes are the model's.
    assert axcodes_of(affine) == codes
    if codes:
        assert "".join(nib.aff2axcodes(affine)) == codes
