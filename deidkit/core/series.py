"""One DICOM series -> one voxel volume and its affine, for every package that needs one.

Slices are ordered by where they are (ImagePositionPatient projected on the slice normal,
the cross product of the ImageOrientationPatient row and column cosines), never by file
name or InstanceNumber, which exports do not keep in slice order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from deidkit.core.errors import SeriesError

FloatArray = NDArray[np.float64]
PixelReader = Callable[[Dataset], NDArray[Any]]
SpacingCheck = Literal["steps", "gaps"]

#: Flips the first two world axes, DICOM/ITK LPS+ <-> NIfTI/nibabel RAS+ (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Largest difference between two slices' direction cosines that still counts as equal.
ORIENTATION_ATOL = 1e-4
#: ``spacing_check="steps"``: largest deviation (mm, per axis) of a slice step from the first.
STEP_ATOL_MM = 1e-2
#: ``spacing_check="gaps"``: largest spread of the gaps, as a fraction of the mean gap.
GAP_RTOL = 0.01
#: Slices closer than this along the normal (mm) are the same plane: a duplicate.
DUPLICATE_MM = 1e-6
_GEOMETRY = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class SeriesVolume:
    """Slices of one series stacked into a volume placed in patient space.

    Attributes
    ----------
    data : numpy.ndarray
        Voxels ``data[i, j, k]``: ``i`` the column index (along the row cosine), ``j`` the
        row index (along the column cosine), ``k`` the slice, in increasing position along
        the slice normal. The dtype is whatever the pixel reader returned.
    affine : numpy.ndarray
        4x4 float64 map from ``(i, j, k, 1)`` to RAS+ millimetres (nibabel convention).
    datasets : tuple of pydicom.Dataset
        The slices in ``k`` order.
    order : tuple of int
        ``order[k]`` is the index, in the input sequence, of slice ``k``.
    slice_positions : numpy.ndarray
        Position (mm) of each slice along the unit slice normal, increasing.
    """

    data: NDArray[Any]
    affine: FloatArray
    datasets: tuple[Dataset, ...]
    order: tuple[int, ...]
    slice_positions: FloatArray

    @property
    def lps_affine(self) -> FloatArray:
        """The same map to LPS+ millimetres (DICOM and ITK convention)."""
        return np.asarray(LPS_TO_RAS @ self.affine, dtype=np.float64)


def stored_pixels(ds: Dataset) -> NDArray[Any]:
    """Stored pixel values as pydicom decodes them (no Modality LUT), frames first."""
    return np.asarray(ds.pixel_array)


def read_series_volume(
    datasets: Sequence[Dataset],
    *,
    require_geometry: bool = True,
    spacing_check: SpacingCheck = "steps",
    pixels: PixelReader = stored_pixels,
) -> SeriesVolume:
    """Stack the slices of one series, in any order, into a volume with its affine.

    One dataset is read as a single image: 2D, or multi-frame with its frames stacked one
    ``SpacingBetweenSlices`` (else ``SliceThickness``, else 1 mm) apart along the normal.

    Parameters
    ----------
    datasets
        The slices, read with their pixel data.
    require_geometry
        True: every slice must carry ImagePositionPatient, ImageOrientationPatient and
        PixelSpacing. False (projection images carry none of them): orientation defaults
        to axial, pixel spacing to ImagerPixelSpacing then 1 mm, and the position of a
        single image to the origin; several slices still need their positions.
    spacing_check
        How evenly spaced the slices must be. ``"steps"``: every slice-to-slice position
        vector equals the first within :data:`STEP_ATOL_MM` per axis (so in-plane drift
        is refused too). ``"gaps"``: the gaps along the normal spread by at most
        :data:`GAP_RTOL` of their mean. Duplicate planes are refused either way.
    pixels
        Turns one dataset into its pixel array ``[row, column]`` (or frames first);
        :func:`stored_pixels` by default. Its errors pass through unchanged.

    Returns
    -------
    SeriesVolume

    Raises
    ------
    SeriesError
        ``no_slices`` for an empty input; ``missing_attribute`` for a geometry attribute
        absent or malformed with ``require_geometry``; ``no_position`` for slices without
        ImagePositionPatient; ``orientation`` for differing orientations or parallel
        cosines; ``spacing`` for duplicate or unevenly spaced slices; ``shape`` for slices
        that are not 2D or differ in size; ``dimensions`` for a single image that is not
        2D or 3D.
    """
    if not datasets:
        raise SeriesError("no_slices", "no DICOM slices given")
    if require_geometry:
        for index, ds in enumerate(datasets):
            for keyword, count in zip(_GEOMETRY, (3, 6, 2), strict=True):
                if _floats(ds, keyword, count) is None:
                    where = f"slice {index + 1} of {len(datasets)}"
                    raise SeriesError("missing_attribute", f"{where}: missing {keyword}")
    cosines = [_floats(ds, "ImageOrientationPatient", 6) for ds in datasets]
    iop = cosines[0] if cosines[0] is not None else np.asarray(_AXIAL)
    normal = np.cross(iop[:3], iop[3:])
    length = float(np.linalg.norm(normal))
    if length < ORIENTATION_ATOL:
        raise SeriesError("orientation", "ImageOrientationPatient cosines are parallel")
    # Sorting and gaps are in mm only along a unit normal; IOP rounding leaves it ~1e-6 off.
    normal /= length
    if len(datasets) == 1:
        return _single_image(datasets[0], iop, normal, pixels)

    positions = [_floats(ds, "ImagePositionPatient", 3) for ds in datasets]
    known = [p for p in positions if p is not None]
    if len(known) != len(positions):
        raise SeriesError("no_position", "slices lack ImagePositionPatient; their order is unknown")
    for other in cosines[1:]:
        if not np.allclose(other if other is not None else _AXIAL, iop, atol=ORIENTATION_ATOL):
            raise SeriesError("orientation", "slices of the series have different orientations")
    distances = np.asarray([float(np.dot(p, normal)) for p in known])
    order = np.argsort(distances, kind="stable")
    points = np.asarray(known)[order]
    if not _evenly_spaced(points, distances[order], spacing_check):
        raise SeriesError("spacing", "slices are not evenly spaced")
    planes = [pixels(datasets[int(i)]) for i in order]
    if any(p.ndim != 2 for p in planes) or len({p.shape for p in planes}) != 1:
        raise SeriesError("shape", "slices differ in size or are not single frames")
    # The mean step, not the first, so that jitter within the tolerance does not add up.
    step = (points[-1] - points[0]) / (len(points) - 1)
    sorted_datasets = tuple(datasets[int(i)] for i in order)
    return SeriesVolume(
        data=np.stack([p.T for p in planes], axis=-1),
        affine=_ras_affine(sorted_datasets[0], iop, points[0], step),
        datasets=sorted_datasets,
        order=tuple(int(i) for i in order),
        slice_positions=distances[order],
    )


def _single_image(
    ds: Dataset, iop: FloatArray, normal: FloatArray, pixels: PixelReader
) -> SeriesVolume:
    frames = pixels(ds)
    frames = frames[None] if frames.ndim == 2 else frames
    if frames.ndim != 3:
        raise SeriesError("dimensions", f"image has {frames.ndim} dimensions; expected 2 or 3")
    origin = _floats(ds, "ImagePositionPatient", 3)
    origin = origin if origin is not None else np.zeros(3)
    spacing = _frame_spacing(ds)
    offsets = spacing * np.arange(frames.shape[0], dtype=np.float64)
    return SeriesVolume(
        data=np.ascontiguousarray(np.transpose(frames, (2, 1, 0))),
        affine=_ras_affine(ds, iop, origin, normal * spacing),
        datasets=(ds,),
        order=(0,),
        slice_positions=float(np.dot(origin, normal)) + offsets,
    )


def _evenly_spaced(points: FloatArray, distances: FloatArray, check: SpacingCheck) -> bool:
    gaps = np.diff(distances)
    if gaps.size == 0:
        return True
    if gaps.min() <= DUPLICATE_MM:
        return False
    if check == "steps":
        steps = np.diff(points, axis=0)
        return bool(np.allclose(steps, steps[0], atol=STEP_ATOL_MM))
    return bool(gaps.max() - gaps.min() <= GAP_RTOL * gaps.mean())


def _ras_affine(ds: Dataset, iop: FloatArray, origin: FloatArray, step: FloatArray) -> FloatArray:
    spacing = _floats(ds, "PixelSpacing", 2)
    if spacing is None:
        spacing = _floats(ds, "ImagerPixelSpacing", 2)
    row_spacing, col_spacing = spacing if spacing is not None else (1.0, 1.0)
    lps = np.eye(4)
    # PixelSpacing is (between rows, between columns): moving along a row steps columns.
    lps[:3, 0] = iop[:3] * col_spacing
    lps[:3, 1] = iop[3:] * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return np.asarray(LPS_TO_RAS @ lps, dtype=np.float64)


def _frame_spacing(ds: Dataset) -> float:
    value: Any = getattr(ds, "SpacingBetweenSlices", None) or getattr(ds, "SliceThickness", None)
    try:
        spacing = float(value)
    except (TypeError, ValueError):
        return 1.0
    return spacing if math.isfinite(spacing) and spacing > 0 else 1.0


def _floats(ds: Dataset, keyword: str, count: int) -> FloatArray | None:
    """The attribute as ``count`` finite floats, or None when absent or malformed."""
    value = getattr(ds, keyword, None)
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        numbers = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):  # a single value is not iterable; a bad DS string
        return None
    if numbers.shape != (count,) or not np.isfinite(numbers).all():
        return None
    return numbers
