"""The whole face in front of the brain margin, in template space and on a subject's grid.

pydeface's face mask is a slanted slab: it leaves the nasal septum, the philtrum and the chin
column behind its back face, and a detector still finds a face on what is left. The full face
zone removes everything in front of the brain's margin below the brow line: for every
left-right / up-down column of the template, every voxel anterior to the most anterior
voxel near the brain (``SAFE_MM``); columns below the brain keep what lies behind the face
mask's back (and the lowest brain slice's front above them), so the lips, chin and jaw go
and the neck stays; columns lateral to the brain (the ears) keep everything behind the
face mask's back unless ``ears`` is set, which removes all tissue beside the brain margin
below the brows.

The zone is built once per process on a coarse copy of the template (``ZONE_MM``) and
warped like the face mask; :func:`trim_to_margin` then takes every voxel within the run's
brain margin out of it on the subject's own grid, with the subject's own brain mask.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from deidkit.deface.geometry import BoolArray, Grid, downsampled_grid, resample_to, warp_mask

#: Resolution (mm) of the template copy the face zone is built on.
ZONE_MM = 2.0
#: Template-space distance (mm) from the brain inside which nothing belongs to the zone.
SAFE_MM = 6.0
#: How far (mm) above the face mask's top the zone reaches (the brows).
BROW_MM = 6.0
#: Extra distance (mm) on top of the run's margin when trimming on the subject grid (the
#: post-condition compares voxel centres; one coarse voxel of slack keeps it exact).
TRIM_SLACK_MM = 1.0


def _column_front(near: BoolArray) -> np.ndarray:
    """Most anterior ``near`` index per (x, z) column (axis 1 is anterior), -1 if none."""
    ny = near.shape[1]
    last = ny - 1 - np.argmax(near[:, ::-1, :], axis=1)
    return np.where(near.any(axis=1), last, -1)


def _fill_down(front: np.ndarray) -> np.ndarray:
    """Give columns below the brain the front of the nearest brain column above them."""
    out = front.copy()
    for k in range(out.shape[1] - 2, -1, -1):
        out[:, k] = np.where(out[:, k] >= 0, out[:, k], out[:, k + 1])
    return out


@functools.lru_cache(maxsize=2)
def template_face_zone(*, ears: bool = False) -> tuple[BoolArray, Grid]:
    """The full face zone on a coarse template grid (cached): ``(zone, grid)``."""
    from deidkit.deface.templates import load_template

    tpl = load_template()
    grid = downsampled_grid(tpl.grid, ZONE_MM)
    brain = warp_mask(tpl.brain, tpl.brain_grid, grid, world_transform=tpl.head_to_brain)
    face = resample_to(tpl.face.astype(np.float32), tpl.grid, grid) > 0.5
    near = ndimage.distance_transform_edt(~brain, sampling=grid.zooms) <= SAFE_MM
    face_j = np.argwhere(face)
    back = int(face_j[:, 1].min())
    top = int(face_j[:, 2].max()) + int(np.ceil(BROW_MM / grid.zooms[2]))
    own = _column_front(near)
    # Below the brain the lowest slices are the cerebellum's, far back: there, in front of
    # the face mask's back only, so the lips, chin and jaw go and the neck stays.
    below = _fill_down(own)
    front = np.where(own >= 0, own, np.maximum(below, back))
    lateral = below < 0  # no brain above or at this column: beside the head (ears)
    front = np.where(lateral, 0 if ears else back, front)
    j = np.arange(grid.shape[1])[None, :, None]
    k = np.arange(grid.shape[2])[None, None, :]
    zone = (j > front[:, None, :]) & (k <= top) & ~near
    return np.asarray(zone | (face & ~near)), grid


def warped_face_zone(grid: Grid, transform: np.ndarray, *, ears: bool = False) -> BoolArray:
    """The template face zone on ``grid`` (``transform``: subject world -> template world)."""
    zone, zone_grid = template_face_zone(ears=ears)
    return warp_mask(zone, zone_grid, grid, world_transform=transform)


def trim_to_margin(face: BoolArray, brain: BoolArray, grid: Grid, margin_mm: float) -> BoolArray:
    """``face`` without its voxels within ``margin_mm`` (+ slack) of ``brain``, in world mm.

    The distance transform runs on the face's bounding box padded by the radius only.
    """
    idx = np.argwhere(face)
    if idx.size == 0 or not brain.any():
        return face
    radius = margin_mm + TRIM_SLACK_MM
    pad = np.ceil(radius / grid.zooms).astype(int) + 1
    start = np.maximum(idx.min(axis=0) - pad, 0)
    stop = np.minimum(idx.max(axis=0) + pad + 1, np.array(grid.shape))
    box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    sub_brain = brain[box]
    if not sub_brain.any():
        return face
    dist = ndimage.distance_transform_edt(~sub_brain, sampling=grid.zooms)
    out = face.copy()
    out[box] &= dist > radius
    return out


#: Quantiles matched between the template's and the subject's head intensities (reface).
MATCH_QUANTILES = np.linspace(0.0, 100.0, 101)


def _head_quantiles(values: np.ndarray) -> np.ndarray:
    from deidkit.deface.intensity import head_threshold

    head = values[values > head_threshold(values)]
    if head.size == 0:
        return np.zeros(MATCH_QUANTILES.size)
    return np.asarray(np.percentile(head[:: max(1, head.size // 200_000)], MATCH_QUANTILES))


def template_face_values(
    volume: np.ndarray, grid: Grid, transform: np.ndarray, face: BoolArray
) -> np.ndarray:
    """The template head warped onto ``grid`` (``transform``: subject -> template world),
    its intensities mapped onto ``volume``'s by head-voxel quantiles; float32, real units.

    Only the face's bounding box is resampled; voxels outside it are 0 (never used).
    """
    from deidkit.deface.intensity import head_threshold
    from deidkit.deface.templates import load_template

    tpl = load_template()
    out = np.zeros(grid.shape, dtype=np.float32)
    idx = np.argwhere(face)
    if idx.size == 0:
        return out
    start, stop = idx.min(axis=0), idx.max(axis=0) + 1
    shift = np.eye(4)
    shift[:3, 3] = start
    sx, sy, sz = (int(n) for n in stop - start)
    box_grid = Grid((sx, sy, sz), grid.affine @ shift)
    warped = resample_to(tpl.head, tpl.grid, box_grid, order=1, world_transform=transform)
    # Quantiles of the head outside the face, so the subject's own face does not set them.
    outside = volume[~face]
    mapped = np.interp(warped, _head_quantiles(tpl.head), _head_quantiles(outside))
    air = warped <= head_threshold(tpl.head)
    mapped[air] = 0.0
    box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    out[box] = mapped
    return out
