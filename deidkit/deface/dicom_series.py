"""DICOM series <-> volume in patient space, for defacing and writing back.

The volume's affine comes from ImagePositionPatient / ImageOrientationPatient / PixelSpacing
(LPS, converted to RAS for the rest of the package). Writing back replaces PixelData only:
every other element, the file meta and the transfer syntax stay as they were. New SOP and
series UIDs are not made here: run ``deidkit scrub`` on the defaced series next.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray

from deidkit.deface.errors import UnsupportedImageError
from deidkit.deface.geometry import RAS_TO_LPS, Grid


@dataclass
class DicomSeries:
    """Slices of one series sorted along the slice normal, with their grid."""

    paths: list[Path]
    datasets: list[Any]
    raw: NDArray[Any]
    grid: Grid
    scaling: tuple[float, float]


def is_dicom_file(path: Path) -> bool:
    """Return whether ``path`` has the DICOM preamble magic."""
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_series(paths: list[Path]) -> DicomSeries:
    """Read single-frame slices of one series into a volume ``raw[col, row, slice]``.

    Raises
    ------
    UnsupportedImageError
        For compressed or big-endian pixel data, multi-frame, mixed geometry or scaling,
        non-uniform slice spacing, or fewer than 3 slices.
    """
    if len(paths) < 3:
        raise UnsupportedImageError("a DICOM series needs at least 3 slices")
    datasets = []
    for path in paths:
        ds = pydicom.dcmread(path)
        syntax = ds.file_meta.TransferSyntaxUID
        if syntax.is_compressed or not syntax.is_little_endian:
            raise UnsupportedImageError(f"{path.name}: compressed/big-endian pixel data")
        if int(getattr(ds, "NumberOfFrames", 1) or 1) != 1:
            raise UnsupportedImageError(f"{path.name}: multi-frame DICOM is not supported")
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
            if keyword not in ds:
                raise UnsupportedImageError(f"{path.name}: missing {keyword}")
        datasets.append(ds)
    iop = np.asarray(datasets[0].ImageOrientationPatient, dtype=np.float64)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    for ds in datasets:
        if not np.allclose(np.asarray(ds.ImageOrientationPatient, dtype=float), iop, atol=1e-4):
            raise UnsupportedImageError("slices of the series have different orientations")
    order = np.argsort([float(np.dot(normal, ds.ImagePositionPatient)) for ds in datasets])
    datasets = [datasets[i] for i in order]
    paths = [paths[i] for i in order]
    positions = np.array([np.asarray(ds.ImagePositionPatient, dtype=float) for ds in datasets])
    steps = np.diff(positions, axis=0)
    if not np.allclose(steps, steps[0], atol=1e-2) or np.linalg.norm(steps[0]) < 1e-6:
        raise UnsupportedImageError("slices are not evenly spaced")
    scalings = {
        (float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0)))
        for ds in datasets
    }
    if len(scalings) != 1:
        raise UnsupportedImageError("slices of the series have different rescale values")
    dr, dc = (float(v) for v in datasets[0].PixelSpacing)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * dc  # voxel axis 0 = column index
    lps[:3, 1] = col_dir * dr  # voxel axis 1 = row index
    lps[:3, 2] = steps[0]
    lps[:3, 3] = positions[0]
    raw = np.stack([ds.pixel_array.T for ds in datasets], axis=-1)
    nx, ny, nz = raw.shape
    return DicomSeries(paths, datasets, raw, Grid((nx, ny, nz), RAS_TO_LPS @ lps), scalings.pop())


def series_bytes(series: DicomSeries, raw: NDArray[Any]) -> list[bytes]:
    """Encode each slice with its PixelData replaced from ``raw`` (same dtype and layout)."""
    out = []
    for k, ds in enumerate(series.datasets):
        original = ds.pixel_array
        plane = np.ascontiguousarray(raw[:, :, k].T.astype(original.dtype))
        ds.PixelData = plane.tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=False)
        out.append(buffer.getvalue())
    return out
