"""Deface one image: compute the face mask, change only face voxels, prove the brain is intact.

The brain post-condition is checked on the actual stored voxel arrays before anything is
written: if any voxel inside the brain mask dilated by ``margin_mm`` differs, the file is
refused with :class:`BrainOverlapError`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from deidkit.deface.errors import (
    BrainMaskError,
    BrainOverlapError,
    NoSafeMethodError,
    UnsupportedImageError,
)
from deidkit.deface.geometry import BoolArray, Grid, any_within_mm
from deidkit.deface.methods import FaceMask, get_method

#: Default safety margin around the brain (mm) that defacing must never touch.
BRAIN_MARGIN_MM = 4.0
#: Gaussian sigma (mm) used by ``blur=True``.
BLUR_SIGMA_MM = 8.0


@dataclass(frozen=True)
class DefaceOutcome:
    """Defaced voxels and the evidence that only the face changed.

    Parameters
    ----------
    raw
        The new stored voxel array (same shape and dtype as the input's).
    mask
        The face/brain masks used.
    brain_voxels_changed
        Voxels inside the dilated brain that differ (0, or the call would have raised).
    face_voxels_changed
        Voxels that differ anywhere (all inside the face mask).
    face_region_removed
        Share of the template face region that now holds the fill value (None if unknown).
    """

    raw: NDArray[Any]
    mask: FaceMask
    brain_voxels_changed: int
    face_voxels_changed: int
    face_region_removed: float | None


def scaled_volume(raw: NDArray[Any], scaling: tuple[float, float]) -> NDArray[np.float32]:
    """Return the first 3D volume in real units, NaNs and infinities set to 0."""
    if raw.ndim < 3 or min(raw.shape[:3]) < 2:
        raise UnsupportedImageError("image is not a 3D or 4D volume")
    vol = raw.reshape((*raw.shape[:3], -1))[..., 0].astype(np.float32)
    slope, inter = scaling
    vol = vol * np.float32(slope) + np.float32(inter)
    return np.nan_to_num(vol, nan=0.0, posinf=0.0, neginf=0.0)


def fill_value(raw: NDArray[Any], scaling: tuple[float, float]) -> Any:
    """Stored value used for removed voxels: real 0, or the minimum when data go below 0 (CT)."""
    slope, inter = scaling
    finite = raw[np.isfinite(raw)] if raw.dtype.kind == "f" else raw
    low = float(finite.min()) * slope + inter if finite.size else 0.0
    target = min(0.0, low)
    stored = (target - inter) / slope
    if raw.dtype.kind in "iu":
        info = np.iinfo(raw.dtype)
        return raw.dtype.type(int(np.clip(np.round(stored), info.min, info.max)))
    return raw.dtype.type(stored)


def changed_voxels(before: NDArray[Any], after: NDArray[Any]) -> BoolArray:
    """3D map of voxels that differ in any volume (NaN equals NaN)."""
    diff = before != after
    if before.dtype.kind == "f":
        diff &= ~(np.isnan(before) & np.isnan(after))
    while diff.ndim > 3:
        diff = diff.any(axis=-1)
    return np.asarray(diff)


def _blurred(
    raw: NDArray[Any], grid: Grid, scaling: tuple[float, float], face: BoolArray
) -> NDArray[Any]:
    sigma = BLUR_SIGMA_MM / grid.zooms
    out = raw.copy()
    slope, inter = scaling
    # Index volumes explicitly: a reshape of the (Fortran-ordered) array could be a copy.
    for extra in np.ndindex(*raw.shape[3:]):
        index = (slice(None), slice(None), slice(None), *extra)
        real = np.nan_to_num(out[index].astype(np.float32) * slope + inter)
        smooth = (ndimage.gaussian_filter(real, sigma) - inter) / slope
        if raw.dtype.kind in "iu":
            info = np.iinfo(raw.dtype)
            smooth = np.clip(np.round(smooth), info.min, info.max)
        volume = out[index]
        volume[face] = smooth[face].astype(raw.dtype)
    return out


def _replaced(
    raw: NDArray[Any], scaling: tuple[float, float], face: BoolArray, values: NDArray[np.float32]
) -> NDArray[Any]:
    """``raw`` with ``values`` (real units) written on ``face`` in every volume (reface)."""
    slope, inter = scaling
    stored = (values[face].astype(np.float64) - inter) / slope
    if raw.dtype.kind in "iu":
        info = np.iinfo(raw.dtype)
        stored = np.clip(np.round(stored), info.min, info.max)
    out = raw.copy()
    for extra in np.ndindex(*raw.shape[3:]):
        volume = out[(slice(None), slice(None), slice(None), *extra)]
        volume[face] = stored.astype(raw.dtype)
    return out


def check_brain_mask(brain: BoolArray, grid: Grid, brain_grid: Grid) -> BoolArray:
    """Validate a user brain mask against the image grid.

    Raises
    ------
    BrainMaskError
        If the mask is on another grid (shape or affine) or is empty.
    """
    if not brain_grid.same_as(grid, atol=1e-2):
        raise BrainMaskError(
            "brain mask is on a different grid (shape or affine) than the image; "
            "resample it to the image grid first"
        )
    if not brain.any():
        raise BrainMaskError("brain mask is empty")
    return brain


#: Below this share of the face region still removable outside the brain margin, the file
#: is refused: no method can remove the face without touching the brain.
MIN_REMOVABLE_SHARE = 0.5


def trimmed(mask: FaceMask, margin_mm: float) -> FaceMask:
    """``mask`` without face voxels within ``margin_mm`` of its brain.

    Raises
    ------
    BrainOverlapError
        When less than :data:`MIN_REMOVABLE_SHARE` of the face (its template face region
        when known) is left to remove: the face lies within the margin of the brain.
    """
    from deidkit.deface.facezone import trim_to_margin

    face = trim_to_margin(mask.face, mask.brain, mask.grid, margin_mm)
    region = mask.face_region if mask.face_region is not None else mask.face
    wanted = int(np.count_nonzero(mask.face & region))
    kept = int(np.count_nonzero(face & region))
    if wanted and kept < MIN_REMOVABLE_SHARE * wanted:
        raise NoSafeMethodError(
            f"the face lies within the brain mask dilated {margin_mm:g} mm: no method can "
            "remove it without touching the brain; file refused, nothing written"
        )
    return replace(mask, face=face)


def deface_raw(
    raw: NDArray[Any],
    grid: Grid,
    *,
    scaling: tuple[float, float] = (1.0, 0.0),
    method: str = "auto",
    brain: BoolArray | None = None,
    mask: FaceMask | None = None,
    blur: bool = False,
    margin_mm: float = BRAIN_MARGIN_MM,
    ears: bool = False,
) -> DefaceOutcome:
    """Deface a stored voxel array (3D or 4D) on ``grid``.

    Parameters
    ----------
    raw
        Stored (unscaled) voxels; 4D volumes all get the same mask.
    grid
        The 3D grid of ``raw``.
    scaling
        ``(slope, inter)`` mapping stored values to real values.
    method
        ``auto``, ``mask``, ``quickshear`` or ``reface`` (the template's face written on
        the face zone instead of the fill value; ``blur`` is then ignored).
    brain
        Optional brain mask on ``grid`` (validated by the caller); estimated otherwise.
    mask
        A precomputed face mask (``--applyto``); ``method`` is then not run.
    blur
        Replace face voxels by a heavy Gaussian blur instead of the fill value.
    margin_mm
        Brain dilation that must stay unchanged; a method's face voxels within it are
        dropped (:func:`trimmed`).
    ears
        The face-zone methods also remove the ears.

    Returns
    -------
    DefaceOutcome

    Raises
    ------
    BrainOverlapError
        If any voxel inside the dilated brain would change, or if the face lies so close to
        the brain that keeping the margin would leave most of it.
    """
    if mask is None:
        volume = scaled_volume(raw, scaling)
        mask = get_method(method, ears=ears).face_mask(volume, grid, brain=brain)
        mask = trimmed(mask, margin_mm)
    elif brain is not None:
        mask = replace(mask, brain=brain)
    if mask.replacement is not None:
        out = _replaced(raw, scaling, mask.face, mask.replacement)
    elif blur:
        out = _blurred(raw, grid, scaling, mask.face)
    else:
        out = raw.copy()
        out[mask.face] = fill_value(raw, scaling)
    changed = changed_voxels(raw, out)
    in_brain = any_within_mm(changed, mask.brain, grid, margin_mm)
    if in_brain:
        raise BrainOverlapError(
            f"defacing would change {in_brain} voxels inside the brain mask "
            f"(dilated {margin_mm:g} mm); file refused, nothing written"
        )
    removed = None
    if mask.face_region is not None and mask.face_region.any():
        fill = fill_value(raw, scaling)
        first = out.reshape((*out.shape[:3], -1))[..., 0]
        gone = (first == fill) | changed
        removed = float(np.count_nonzero(gone & mask.face_region) / mask.face_region.sum())
    return DefaceOutcome(
        raw=out,
        mask=mask,
        brain_voxels_changed=in_brain,
        face_voxels_changed=int(np.count_nonzero(changed)),
        face_region_removed=removed,
    )
