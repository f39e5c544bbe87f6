"""Shaded surface renderings of a head (front and side), for QC and face detection.

When the template registration is known (the grid is a :class:`~deidkit.deface.methods.
PosedGrid`), the head is resampled into the TEMPLATE's canonical pose (inverse registration
transform), so a pitched, rolled or turned head is seen upright and frontal, exactly as the
template; otherwise it is resampled onto an axis-aligned RAS grid of its own field of view
(the subject's pose). The head surface is segmented robustly (smoothed, thresholded, largest
connected component, so noise and bias do not leave speckle in front of the face), ray-cast
along one world axis into a depth map, and the depth map's normals are Lambert-shaded with a
light from the viewer. Deterministic and fast.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from deidkit.deface.geometry import FloatArray, Grid, ras_aligned_grid, resample_to

#: Voxel size (mm) of the rendering grid; one output pixel per voxel before upscaling.
RENDER_MM = 1.5
#: Head surface threshold as a fraction of the 99th percentile of positive intensities.
THRESHOLD_FRACTION = 0.05
#: Vertical light component (image rows point down, so positive = light from below).
LIGHT_FROM_BELOW = 0.35
#: Gaussian sigma (mm) applied before thresholding, against noise speckle.
SMOOTH_MM = 1.5
#: The threshold stays this many times above the air level (10th percentile of positive
#: voxels), so Rician background noise (which is positive everywhere) is not "head".
AIR_FACTOR = 2.5


def head_threshold(volume: NDArray[np.float32]) -> float:
    """Intensity separating head from background.

    A fraction of the robust maximum, raised above the noise floor of the air when the
    image is noisy (air is most of a head field of view, so its level is a low percentile).
    """
    positive = volume[volume > 0]
    if positive.size == 0:
        return 1.0
    high, air = np.percentile(positive, [99.0, 10.0])
    return max(float(high) * THRESHOLD_FRACTION, float(air) * AIR_FACTOR)


@functools.lru_cache(maxsize=1)
def template_render_grid() -> Grid:
    """Axis-aligned RAS grid over the head template's field of view (the canonical pose)."""
    from deidkit.deface.templates import load_template

    return ras_aligned_grid(load_template().grid, RENDER_MM)


def render_pose(grid: Grid) -> str:
    """``"template"`` when ``grid`` carries a registration (canonical pose), else ``"subject"``."""
    from deidkit.deface.methods import template_transform

    return "subject" if template_transform(grid) is None else "template"


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
    # Normal of the surface z = depth(x, y) seen from the viewer. The light comes slightly
    # from BELOW: lit from above, the downward-facing step at the top of a defacing cut is
    # a dark band over a bright plate, which the Haar cascade takes for eyes over cheeks
    # (it fired on ~99 % defaced heads); lit from below the step is bright, while an intact
    # face (orbits, nose, mouth) is still found with many more neighbours than before.
    normal = np.stack([-gx, -gy, -np.ones_like(gx)])
    normal /= np.linalg.norm(normal, axis=0)
    light = np.array([0.0, LIGHT_FROM_BELOW, -1.0])
    light /= np.linalg.norm(light)
    lambert = np.clip(np.tensordot(light, normal, axes=1), 0.0, 1.0)
    img = 30.0 + 215.0 * lambert
    img[~hit] = 0.0
    return img.astype(np.uint8)


def head_surface(vol: NDArray[np.float32]) -> NDArray[np.bool_]:
    """Head voxels of a rendering volume: smoothed, thresholded, largest component only."""
    smooth = ndimage.gaussian_filter(vol, SMOOTH_MM / RENDER_MM)
    inside = smooth > head_threshold(smooth)
    labels, count = ndimage.label(inside)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        inside = labels == int(np.argmax(sizes))
    return np.asarray(inside, dtype=bool)


def render_views(
    volume: NDArray[np.float32], grid: Grid, *, template_transform: FloatArray | None = None
) -> dict[str, NDArray[np.uint8]]:
    """Render the head surface from the front and from the (subject's) right side.

    Parameters
    ----------
    volume
        3D intensities in real units (NaN-free) on ``grid``.
    grid
        The volume's grid; a ``PosedGrid`` (from a defacing method) selects the template pose.
    template_transform
        Optional 4x4 subject -> template world map; overrides the grid's own.

    Returns
    -------
    dict
        ``{"front": image, "side": image}``, 8-bit grey images with superior at the top.
    """
    from deidkit.deface.methods import template_transform as carried

    transform = carried(grid) if template_transform is None else template_transform
    if transform is None:
        vol = resample_to(volume, grid, ras_aligned_grid(grid, RENDER_MM), order=1)
    else:
        # Template world -> subject world, so every rendering voxel samples the subject.
        inverse = np.asarray(np.linalg.inv(transform), dtype=np.float64)
        vol = resample_to(volume, grid, template_render_grid(), order=1, world_transform=inverse)
    inside = head_surface(vol)
    # Front: look along -A (from anterior); image rows = S (top = superior), cols = R..L
    # as a viewer facing the subject sees them (subject's right on the viewer's left).
    front = _depth_image(inside, axis=1, from_high=True)  # (x, z)
    front_img = _shade(front.T[::-1, :])
    # Side: look from the subject's right (+x... R is high x) along -R.
    side = _depth_image(inside, axis=0, from_high=True)  # (y, z)
    side_img = _shade(side.T[::-1, ::-1])
    return {"front": front_img, "side": side_img}
