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

from deidkit.core.errors import SeriesError
from deidkit.core.series import read_series_volume
from deidkit.deface.errors import UnsupportedImageError
from deidkit.deface.geometry import Grid


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
    # Messages never name a slice (its file name can carry the patient's name): the
    # result they end up in names the series.
    for path in paths:
        ds = pydicom.dcmread(path)
        # Writing back stores native pixel bytes under the file's own transfer syntax.
        syntax = ds.file_meta.TransferSyntaxUID
        if syntax.is_compressed or not syntax.is_little_endian:
            raise UnsupportedImageError("a slice has compressed or big-endian pixel data")
        if int(getattr(ds, "NumberOfFrames", 1) or 1) != 1:
            raise UnsupportedImageError("a slice is multi-frame, which is not supported")
        datasets.append(ds)
    try:
        # "steps": the slices keep their own positions when written back, so in-plane
        # drift between them would misplace the defaced voxels.
        volume = read_series_volume(datasets, spacing_check="steps")
    except SeriesError as exc:
        message = str(exc)
        for path in paths:
            message = message.replace(path.name, "a slice")
        raise UnsupportedImageError(message) from exc
    scalings = {
        (float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0)))
        for ds in volume.datasets
    }
    if len(scalings) != 1:
        raise UnsupportedImageError("slices of the series have different rescale values")
    nx, ny, nz = volume.data.shape
    return DicomSeries(
        [paths[i] for i in volume.order],
        list(volume.datasets),
        volume.data,
        Grid((nx, ny, nz), volume.affine),
        scalings.pop(),
    )


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
