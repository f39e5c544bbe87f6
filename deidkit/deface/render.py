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
from deidkit.deface.intensity import head_threshold

#: Voxel size (mm) of the rendering grid; one output pixel per voxel before upscaling.
RENDER_MM = 1.5
#: Vertical light component (image rows point down, so positive = light from below).
LIGHT_FROM_BELOW = 0.35
#: Gaussian sigma (mm) applied before thresholding, against noise speckle.
SMOOTH_MM = 1.5


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


def _shade(
    depth: NDArray[np.float32], light_from_below: float = LIGHT_FROM_BELOW
) -> NDArray[np.uint8]:
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
    light = np.array([0.0, light_from_below, -1.0])
    light /= np.linalg.norm(light)
    lambert = np.clip(np.tensordot(light, normal, axes=1), 0.0, 1.0)
    img = 30.0 + 215.0 * lambert
    img[~hit] = 0.0
    return img.astype(np.uint8)


def head_surface(vol: NDArray[np.float32], *, level: float | None = None) -> NDArray[np.bool_]:
    """Head voxels of a rendering volume: smoothed, thresholded, largest component only.

    ``level`` is the intensity threshold on the smoothed volume (default: its own
    :func:`~deidkit.deface.intensity.head_threshold`).
    """
    return _head_surface(vol, level)[0]


def _head_surface(vol: NDArray[np.float32], level: float | None) -> tuple[NDArray[np.bool_], float]:
    smooth = ndimage.gaussian_filter(vol, SMOOTH_MM / RENDER_MM)
    if level is None:
        level = head_threshold(smooth)
    inside = smooth > level
    labels, count = ndimage.label(inside)
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        inside = labels == int(np.argmax(sizes))
    return np.asarray(inside, dtype=bool), float(level)


def shade(depth: NDArray[np.float32], *, light_from_below: float) -> NDArray[np.uint8]:
    """Lambert-shade a depth map (:func:`front_depth`); negative light comes from above."""
    return _shade(depth, light_from_below)


def _yawed(yaw_deg: float, centre: NDArray[np.float64]) -> FloatArray:
    # Viewer world -> head world: the head turned by yaw_deg about the vertical through centre.
    t = np.deg2rad(yaw_deg)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    there, back = np.eye(4), np.eye(4)
    there[:3, 3], back[:3, 3] = -centre, centre
    return np.asarray(back @ rot @ there, dtype=np.float64)


def _grid_centre(grid: Grid) -> NDArray[np.float64]:
    centre = grid.affine @ np.array([*((np.array(grid.shape) - 1) / 2.0), 1.0])
    return np.asarray(centre[:3], dtype=np.float64)


def _render_volume(
    volume: NDArray[np.float32], grid: Grid, transform: FloatArray | None, yaw_deg: float
) -> NDArray[np.float32]:
    if transform is None:
        target = ras_aligned_grid(grid, RENDER_MM)
        turn = _yawed(yaw_deg, _grid_centre(target)) if yaw_deg else None
        return resample_to(volume, grid, target, order=1, world_transform=turn)
    # Template world -> subject world, so every rendering voxel samples the subject.
    inverse = np.asarray(np.linalg.inv(transform), dtype=np.float64)
    target = template_render_grid()
    if yaw_deg:
        inverse = inverse @ _yawed(yaw_deg, _grid_centre(target))
    return resample_to(volume, grid, target, order=1, world_transform=inverse)


def front_depth(
    volume: NDArray[np.float32],
    grid: Grid,
    *,
    yaw_deg: float = 0.0,
    template_transform: FloatArray | None = None,
) -> NDArray[np.float32]:
    """Depth map (render voxels from the front of the box, NaN: no head) of a front view.

    ``yaw_deg`` turns the head about the vertical before looking from the front (a three-
    quarter view); the pose is chosen as in :func:`render_views`. Rows are S (top superior),
    columns R..L as a viewer facing the subject sees them.
    """
    return front_view(volume, grid, yaw_deg=yaw_deg, template_transform=template_transform)[0]


def front_view(
    volume: NDArray[np.float32],
    grid: Grid,
    *,
    yaw_deg: float = 0.0,
    template_transform: FloatArray | None = None,
    level: float | None = None,
) -> tuple[NDArray[np.float32], float]:
    """:func:`front_depth` of the surface at ``level`` (default: the volume's own), and the level.

    A defaced volume's own level is not the original's: the emptied zone, smoothed, adds
    low values that pull the air estimate down (to half the original's on a noisy 1 mm
    head), so air noise joins the scalp as speckle that a detector can read as eyes. The
    level of the same view before defacing keeps the untouched head's surface where it was.
    """
    from deidkit.deface.methods import template_transform as carried

    transform = carried(grid) if template_transform is None else template_transform
    inside, used = _head_surface(_render_volume(volume, grid, transform, yaw_deg), level)
    depth = _depth_image(inside, axis=1, from_high=True)
    return np.asarray(depth.T[::-1, :], dtype=np.float32), used


def render_views(
    volume: NDArray[np.float32],
    grid: Grid,
    *,
    template_transform: FloatArray | None = None,
    level: float | None = None,
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
    level
        Surface threshold (as :func:`front_view`; the front view's level before defacing
        renders an output's untouched head as it was).

    Returns
    -------
    dict
        ``{"front": image, "side": image}``, 8-bit grey images with superior at the top.
    """
    from deidkit.deface.methods import template_transform as carried

    transform = carried(grid) if template_transform is None else template_transform
    inside = head_surface(_render_volume(volume, grid, transform, 0.0), level=level)
    # Front: look along -A (from anterior); image rows = S (top = superior), cols = R..L
    # as a viewer facing the subject sees them (subject's right on the viewer's left).
    front = _depth_image(inside, axis=1, from_high=True)  # (x, z)
    front_img = _shade(front.T[::-1, :])
    # Side: look from the subject's right (+x... R is high x) along -R.
    side = _depth_image(inside, axis=0, from_high=True)  # (y, z)
    side_img = _shade(side.T[::-1, ::-1])
    return {"front": front_img, "side": side_img}


#: A surface point belongs to the face when the face region holds it or a voxel up to this
#: many render voxels behind it (a slab-shaped region can sit just under the skin).
REGION_DEPTH_VOXELS = 3


def front_surface(
    volume: NDArray[np.float32], grid: Grid, region: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Front depth map (as :func:`front_depth`) and where its surface lies in ``region``.

    ``region`` is a mask on ``grid`` (the template face region); without it the second
    array is all False.
    """
    from deidkit.deface.methods import template_transform

    transform = template_transform(grid)
    inside = head_surface(_render_volume(volume, grid, transform, 0.0))
    depth = _depth_image(inside, axis=1, from_high=True)
    in_region = np.zeros(depth.shape, dtype=bool)
    if region is not None:
        moved = _render_volume(region.astype(np.float32), grid, transform, 0.0) > 0.5
        flipped = np.flip(moved, axis=1)
        hit = np.isfinite(depth)
        x, z = np.nonzero(hit)
        d = depth[hit].astype(np.int64)
        for step in range(REGION_DEPTH_VOXELS + 1):
            y = np.minimum(d + step, flipped.shape[1] - 1)
            in_region[x, z] |= flipped[x, y, z]
    return (
        np.asarray(depth.T[::-1, :], dtype=np.float32),
        np.asarray(in_region.T[::-1, :], dtype=bool),
    )
