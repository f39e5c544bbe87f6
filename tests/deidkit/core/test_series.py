"""The one DICOM series reader, checked against SimpleITK's (GDCM) reading of the same files.

Series are built here from known geometry (row/column cosines, pixel spacing, slice
positions) and written with pydicom; SimpleITK (LPS, array ``[slice, row, column]``) is
the independent oracle for voxel order, origin, direction and spacing.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.processing import apply_modality_lut
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from deidkit.core.errors import SeriesError
from deidkit.core.series import LPS_TO_RAS, SeriesVolume, SpacingCheck, read_series_volume

SHAPE = (6, 5, 4)  # columns, rows, slices
PIXEL_SPACING = (0.7, 0.9)  # between rows, between columns
SECRET_POSITION = 123.456  # must never show up in an error message


def _distinct_volume() -> np.ndarray:
    """``volume[i, j, k]``: a different value at every voxel (i column, j row, k slice)."""
    return np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE, order="F") + 100


def _rotation(x_deg: float, y_deg: float, z_deg: float) -> np.ndarray:
    rx, ry, rz = np.radians([x_deg, y_deg, z_deg])
    about_x = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
    about_y = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
    about_z = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
    return np.asarray(about_z @ about_y @ about_x)


def _write_series(
    folder: Path,
    volume: np.ndarray,
    *,
    row: np.ndarray,
    col: np.ndarray,
    positions: list[np.ndarray],
    slope: float = 1.0,
    intercept: float = 0.0,
) -> list[Path]:
    """Slice ``k`` of ``volume[i, j, k]`` at LPS ``positions[k]``; files named in random order."""
    folder.mkdir(parents=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k, position in enumerate(positions):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID = frame
        ds.Modality = "CT"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row, *col)]
        ds.PixelSpacing = [f"{v:g}" for v in PIXEL_SPACING]
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
        ds.PixelData = np.ascontiguousarray(volume[:, :, k].T).astype("<i2").tobytes()
        path = folder / f"{random.Random(k).getrandbits(40):010x}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _shuffled_datasets(paths: list[Path]) -> list[Dataset]:
    # Random file names: sorted by name is an order unrelated to the slice order.
    return [pydicom.dcmread(p) for p in sorted(paths)]


def _sitk_read(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def _assert_matches_sitk(volume: SeriesVolume, image: sitk.Image) -> None:
    # SimpleITK's array is [slice, row, column]; ours is [column, row, slice].
    np.testing.assert_array_equal(volume.data, sitk.GetArrayFromImage(image).transpose(2, 1, 0))
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    expected = np.eye(4)
    expected[:3, :3] = direction @ np.diag(image.GetSpacing())
    expected[:3, 3] = image.GetOrigin()
    np.testing.assert_allclose(volume.lps_affine, expected, atol=1e-4)
    np.testing.assert_allclose(volume.affine, LPS_TO_RAS @ expected, atol=1e-4)


AXIAL = (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
OBLIQUE = tuple(_rotation(20.0, -35.0, 50.0).T[:2])
# Normal (row x column) points to the patient's right (-x): slices stacked towards +x
# run against it, so the reader must reverse them.
FLIPPED = (np.array([0, 1.0, 0]), np.array([0, 0, -1.0]))


@pytest.mark.parametrize("spacing_check", ["steps", "gaps"])
@pytest.mark.parametrize(
    ("name", "cosines", "along"),
    [("axial", AXIAL, 1.0), ("oblique", OBLIQUE, 1.0), ("flipped", FLIPPED, -1.0)],
)
def test_volume_and_affine_match_simpleitk(
    tmp_path: Path,
    name: str,
    cosines: tuple[np.ndarray, np.ndarray],
    along: float,
    spacing_check: SpacingCheck,
) -> None:
    row, col = cosines
    normal = np.cross(row, col)
    origin = np.array([-12.5, 40.25, SECRET_POSITION])
    positions = [origin + along * 2.5 * k * normal for k in range(SHAPE[2])]
    truth = _distinct_volume()
    paths = _write_series(tmp_path / name, truth, row=row, col=col, positions=positions)
    volume = read_series_volume(
        _shuffled_datasets(paths),
        spacing_check=spacing_check,
    )
    _assert_matches_sitk(volume, _sitk_read(tmp_path / name))
    # The geometry the files were built from, independently of SimpleITK.
    slices = range(SHAPE[2]) if along > 0 else range(SHAPE[2] - 1, -1, -1)
    np.testing.assert_array_equal(volume.data, truth[:, :, list(slices)])
    assert volume.data.dtype == np.int16
    assert [int(ds.InstanceNumber) - 1 for ds in volume.datasets] == list(slices)
    assert [Path(str(ds.filename)) for ds in volume.datasets] == [paths[k] for k in slices]
    assert np.all(np.diff(volume.slice_positions) > 0)
    np.testing.assert_allclose(np.diff(volume.slice_positions), 2.5, atol=1e-5)


def test_order_indexes_the_input(tmp_path: Path) -> None:
    positions = [np.array([0.0, 0.0, 3.0 * k]) for k in range(SHAPE[2])]
    paths = _write_series(
        tmp_path / "s", _distinct_volume(), row=AXIAL[0], col=AXIAL[1], positions=positions
    )
    given = _shuffled_datasets(paths)
    volume = read_series_volume(given)
    assert [given[i] for i in volume.order] == list(volume.datasets)


def test_modality_lut_reader_matches_simpleitk_rescaling(tmp_path: Path) -> None:
    row, col = OBLIQUE
    normal = np.cross(row, col)
    positions = [np.array([5.0, -7.0, 9.0]) + 1.25 * k * normal for k in range(SHAPE[2])]
    paths = _write_series(
        tmp_path / "ct",
        _distinct_volume(),
        row=row,
        col=col,
        positions=positions,
        slope=2.0,
        intercept=-1024.0,
    )
    volume = read_series_volume(
        _shuffled_datasets(paths),
        pixels=lambda ds: np.asarray(apply_modality_lut(ds.pixel_array, ds), dtype=np.float32),
    )
    assert volume.data.dtype == np.float32
    _assert_matches_sitk(volume, _sitk_read(tmp_path / "ct"))
    np.testing.assert_array_equal(volume.data, _distinct_volume() * 2.0 - 1024.0)


def _axial_positions(gaps: list[float]) -> list[np.ndarray]:
    z = np.concatenate([[SECRET_POSITION], SECRET_POSITION + np.cumsum(gaps)])
    return [np.array([1.0, 2.0, v]) for v in z]


def test_small_jitter_passes_gaps_but_not_steps(tmp_path: Path) -> None:
    # 0.015 mm off: within 1% of a 2 mm gap, beyond the 0.01 mm the written-back path allows.
    positions = _axial_positions([2.0, 2.0, 2.015])
    paths = _write_series(
        tmp_path / "s", _distinct_volume(), row=AXIAL[0], col=AXIAL[1], positions=positions
    )
    volume = read_series_volume(_shuffled_datasets(paths), spacing_check="gaps")
    # The mean step, so the jitter is shared out instead of piling up on the last slice.
    np.testing.assert_allclose(volume.lps_affine[:3, 2], [0.0, 0.0, 6.015 / 3], atol=1e-6)
    with pytest.raises(SeriesError) as caught:
        read_series_volume(_shuffled_datasets(paths), spacing_check="steps")
    assert caught.value.reason == "spacing"


@pytest.mark.parametrize("gaps", [[2.0, 2.0, 3.0], [2.0, 0.0, 2.0]], ids=["uneven", "duplicate"])
@pytest.mark.parametrize("spacing_check", ["steps", "gaps"])
def test_uneven_or_duplicate_slices_are_refused(
    tmp_path: Path, gaps: list[float], spacing_check: SpacingCheck
) -> None:
    positions = _axial_positions(gaps)
    paths = _write_series(
        tmp_path / "s", _distinct_volume(), row=AXIAL[0], col=AXIAL[1], positions=positions
    )
    with pytest.raises(SeriesError) as caught:
        read_series_volume(
            _shuffled_datasets(paths),
            spacing_check=spacing_check,
        )
    assert caught.value.reason == "spacing"
    assert str(SECRET_POSITION) not in str(caught.value)


def test_in_plane_drift_is_refused_by_steps_only(tmp_path: Path) -> None:
    # Even along the normal, but each slice shifted 0.5 mm more in x than the one before.
    positions = [np.array([0.5 * k * k, 0.0, 2.0 * k]) for k in range(SHAPE[2])]
    paths = _write_series(
        tmp_path / "s", _distinct_volume(), row=AXIAL[0], col=AXIAL[1], positions=positions
    )
    read_series_volume(_shuffled_datasets(paths), spacing_check="gaps")
    with pytest.raises(SeriesError, match="not evenly spaced"):
        read_series_volume(_shuffled_datasets(paths), spacing_check="steps")


def test_missing_geometry_names_the_keyword_and_slice_not_the_file(tmp_path: Path) -> None:
    positions = _axial_positions([2.0, 2.0, 2.0])
    paths = _write_series(
        tmp_path / "s", _distinct_volume(), row=AXIAL[0], col=AXIAL[1], positions=positions
    )
    datasets = [pydicom.dcmread(p) for p in paths]
    del datasets[2].PixelSpacing
    with pytest.raises(SeriesError) as caught:
        read_series_volume(datasets)
    assert caught.value.reason == "missing_attribute"
    # File names of a PACS export can carry patient names: the position in the series only.
    assert str(caught.value) == "slice 3 of 4: missing PixelSpacing"
    # Without required geometry the spacing falls back to 1 mm; the positions still count.
    assert read_series_volume(datasets, require_geometry=False).data.shape == SHAPE
    for ds in datasets:
        del ds.ImagePositionPatient
    with pytest.raises(SeriesError) as caught:
        read_series_volume(datasets, require_geometry=False)
    assert caught.value.reason == "no_position"


def test_mixed_orientations_are_refused(tmp_path: Path) -> None:
    positions = _axial_positions([2.0, 2.0, 2.0])
    paths = _write_series(
        tmp_path / "s", _distinct_volume(), row=AXIAL[0], col=AXIAL[1], positions=positions
    )
    datasets = [pydicom.dcmread(p) for p in paths]
    datasets[1].ImageOrientationPatient = [f"{v:.8f}" for v in np.concatenate(OBLIQUE)]
    with pytest.raises(SeriesError) as caught:
        read_series_volume(datasets)
    assert caught.value.reason == "orientation"


def test_single_image_without_geometry_matches_simpleitk(tmp_path: Path) -> None:
    # A projection image: no position, orientation or pixel spacing at all.
    paths = _write_series(
        tmp_path / "x",
        _distinct_volume()[:, :, :1],
        row=AXIAL[0],
        col=AXIAL[1],
        positions=[np.zeros(3)],
    )
    ds = pydicom.dcmread(paths[0])
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        delattr(ds, keyword)
    ds.save_as(paths[0])
    volume = read_series_volume([pydicom.dcmread(paths[0])], require_geometry=False)
    image = sitk.ReadImage(str(paths[0]))
    assert volume.data.shape == (SHAPE[0], SHAPE[1], 1)
    _assert_matches_sitk(volume, image)
