"""Small synthetic images for the predict tests: the same RAS volume as NIfTI and as DICOM.

The DICOM writer derives LPS positions and row/column cosines independently of the code
under test (auditkit.imaging): a standard axial series whose rows run to the patient's
left and columns to posterior, slice positions increasing towards superior.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_nifti(path: Path, volume: np.ndarray, affine: np.ndarray) -> Path:
    """Save a float32 NIfTI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume.astype(np.float32), affine), str(path))
    return path


def _slice_dataset(
    pixels: np.ndarray,
    *,
    position: tuple[float, float, float],
    spacing: tuple[float, float, float],
    series_uid: str,
    study_uid: str,
    index: int,
    slope: float,
    intercept: float,
    attrs: dict[str, Any],
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "CT"
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [f"{v:.6g}" for v in position]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [f"{spacing[1]:g}", f"{spacing[0]:g}"]  # row spacing, column spacing
    ds.SliceThickness = f"{spacing[2]:g}"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.astype("<i2").tobytes()
    return ds


def write_dicom_series(
    folder: Path,
    volume: np.ndarray,
    *,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    slope: float = 1.0,
    intercept: float = 0.0,
    attrs: dict[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """Write RAS ``volume[x, y, z]`` (affine ``diag(spacing)`` + ``origin``) as an axial series.

    Voxel values must be integers after ``(value - intercept) / slope``. Files get
    random names and are written in shuffled order so a loader cannot rely on either.
    """
    folder.mkdir(parents=True, exist_ok=True)
    nx, ny, nz = volume.shape
    sx, sy, sz = spacing
    series_uid, study_uid = generate_uid(), generate_uid()
    order = list(range(nz))
    random.Random(seed).shuffle(order)
    for k in order:
        # DICOM pixel (row r, column c) shows voxel (nx-1-c, ny-1-r): rows run to L, columns to P.
        stored = np.rint((volume[::-1, ::-1, k].T - intercept) / slope)
        ras = (origin[0] + (nx - 1) * sx, origin[1] + (ny - 1) * sy, origin[2] + k * sz)
        lps = (-ras[0], -ras[1], ras[2])
        ds = _slice_dataset(
            stored,
            position=lps,
            spacing=spacing,
            series_uid=series_uid,
            study_uid=study_uid,
            index=k,
            slope=slope,
            intercept=intercept,
            attrs=attrs or {},
        )
        name = f"{random.Random(seed * 1000 + k).getrandbits(40):010x}.dcm"
        ds.save_as(folder / name, enforce_file_format=True)
    return folder


def ras_affine(
    spacing: tuple[float, float, float], origin: tuple[float, float, float]
) -> np.ndarray:
    """The RAS affine that :func:`write_dicom_series` encodes."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    return affine


def asymmetric_volume(shape: tuple[int, int, int] = (12, 10, 8), seed: int = 0) -> np.ndarray:
    """Integer-valued volume, bright on the right (high x), so a left-right flip shows."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 50, size=shape).astype(np.float32)
    ramp = np.linspace(0, 400, shape[0], dtype=np.float32)[:, None, None]
    return base + np.rint(ramp)
