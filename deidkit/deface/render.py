"""Shaded surface renderings of a head (front and side), for QC and face detection.

The head is resampled onto an axis-aligned RAS grid (so any orientation or obliquity looks
the same), thresholded, and ray-cast along one world axis into a depth map; the depth map's
normals are Lambert-shaded with a light from the viewer. That is a true surface rendering,
deterministic and fast, and the offline Haar face detector fires on it for an intact face.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from deidkit.deface.geometry import Grid, ras_aligned_grid, resample_to

#: Voxel size (mm) of the rendering grid; one output pixel per voxel before upscaling.
RENDER_MM = 1.5
#: Head surface threshold as a fraction of the 99th percentile of positive intensities.
THRESHOLD_FRACTION = 0.05


def head_threshold(volume: NDArray[np.float32]) -> float:
    """Intensity separating head from background (a fraction of the robust maximum)."""
    positive = volume[volume > 0]
    if positive.size == 0:
        return 1.0
    return float(np.percentile(positive, 99.0)) * THRESHOLD_FRACTION


def _depth_image(inside: NDArray[np.bool_], axis: int, from_high: bool) -> NDArray[np.float32]:
    occ = np.flip(inside, axis=axis) if from_high else inside
    hit = occ.any(axis=axis)
    depth = np.argmax(occ, axis=axis).astype(np.float32)
    depth[~hit] = np.nan
    return np.asarray(depth, dtype=np.float32)


def _shade(depth: NDArray[np.float32]) -> NDArray[np.uint8]:
    hit = np.isfinite(depth)
    filled = np.where(hit, depth, np.nanmax(depth) if hit.any() else 0.0)
    filled = ndimage.gaussian_filter(filled, 0.8)
    gy, gx = np.gradient(filled)
    # Normal of the surface z = depth(x, y) seen from the viewer; light slightly from above.
    normal = np.stack([-gx, -gy, -np.ones_like(gx)])
    normal /= np.linalg.norm(normal, axis=0)
    light = np.array([0.0, -0.35, -1.0])
    light /= np.linalg.norm(light)
    lambert = np.clip(np.tensordot(light, normal, axes=1), 0.0, 1.0)
    img = 30.0 + 215.0 * lambert
    img[~hit] = 0.0
    return img.astype(np.uint8)


def render_views(volume: NDArray[np.float32], grid: Grid) -> dict[str, NDArray[np.uint8]]:
    """Render the head surface from the front and from the (subject's) right side.

    Parameters
    ----------
    volume
        3D intensities in real units (NaN-free) on ``grid``.
    grid
        The volume's grid.

    Returns
    -------
    dict
        ``{"front": image, "side": image}``, 8-bit grey images with superior at the top.
    """
    ras = ras_aligned_grid(grid, RENDER_MM)
    vol = resample_to(volume, grid, ras, order=1)
    inside = vol > head_threshold(vol)
    inside = ndimage.binary_opening(inside, iterations=1)
    # Front: look along -A (from anterior); image rows = S (top = superior), cols = R..L
    # as a viewer facing the subject sees them (subject's right on the viewer's left).
    front = _depth_image(inside, axis=1, from_high=True)  # (x, z)
    front_img = _shade(front.T[::-1, :])
    # Side: look from the subject's right (+x... R is high x) along -R.
    side = _depth_image(inside, axis=0, from_high=True)  # (y, z)
    side_img = _shade(side.T[::-1, ::-1])
    return {"front": front_img, "side": side_img}
