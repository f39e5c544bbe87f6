"""Test heads for deface tests: a realistic head with a face, built from pydeface's mean head.

The ground truth comes from the template itself: the head is resampled (world identity)
onto each test grid, so the template's brain and face masks resampled the same way are an
independent oracle for "brain untouched" and "face removed".
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from deidkit.deface.geometry import BoolArray, Grid, downsampled_grid, resample_to
from deidkit.deface.templates import HeadTemplate

HEAD_MM = 3.0


@dataclass(frozen=True)
class Truth:
    """Ground-truth brain and face masks of a synthetic head on its grid."""

    brain: BoolArray
    face: BoolArray


def rotation_x(degrees: float) -> np.ndarray:
    """4x4 rotation about the world x axis (a pitch, as in an oblique acquisition)."""
    t = np.deg2rad(degrees)
    rot = np.eye(4)
    rot[1:3, 1:3] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    return rot


def head_grid(
    template: HeadTemplate,
    *,
    zooms: tuple[float, float, float] = (HEAD_MM, HEAD_MM, HEAD_MM),
    orient: str = "RAS",
    tilt_deg: float = 0.0,
) -> Grid:
    """A grid covering the template head: voxel sizes, axis orientation and a pitch tilt."""
    base = downsampled_grid(template.grid, HEAD_MM)
    centre = base.affine @ np.array([*((np.array(base.shape) - 1) / 2.0), 1.0])
    extent = np.array(base.shape) * base.zooms  # per world axis, roughly (RAS template)
    codes = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    affine = np.zeros((4, 4))
    affine[3, 3] = 1.0
    shape = []
    for col, letter in enumerate(orient):
        axis, sign = codes[letter]
        affine[axis, col] = sign * zooms[col]
        shape.append(int(np.ceil(extent[axis] / zooms[col])))
    affine[:3, 3] = centre[:3] - affine[:3, :3] @ ((np.array(shape) - 1) / 2.0)
    if tilt_deg:
        to_origin, back = np.eye(4), np.eye(4)
        to_origin[:3, 3], back[:3, 3] = -centre[:3], centre[:3]
        affine = back @ rotation_x(tilt_deg) @ to_origin @ affine
    sx, sy, sz = shape
    return Grid((sx, sy, sz), affine)


def make_head(template: HeadTemplate, grid: Grid) -> tuple[np.ndarray, Truth]:
    """Resample the mean head (real units) and its true masks onto ``grid``."""
    head = resample_to(template.head, template.grid, grid, order=1)
    brain = (
        resample_to(
            template.brain, template.brain_grid, grid, world_transform=template.head_to_brain
        )
        > 0.5
    )
    face = resample_to(template.face, template.grid, grid, order=1) > 0.5
    return head, Truth(brain=np.asarray(brain), face=np.asarray(face))


def nifti(
    data: np.ndarray,
    grid: Grid,
    *,
    dtype: type = np.int16,
    scaling: tuple[float, float] | None = None,
) -> nib.Nifti1Image:
    """A NIfTI image with sform/qform set and optional stored-value scaling."""
    if scaling is not None:
        slope, inter = scaling
        stored = np.round((data - inter) / slope).astype(dtype)
    else:
        stored = data.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(data).astype(dtype)
    img = nib.Nifti1Image(stored, grid.affine)
    img.header.set_sform(grid.affine, code=1)
    img.header.set_qform(grid.affine, code=1)
    img.header["descrip"] = b"Doe^Jane 2020-01-02"
    if scaling is not None:
        img.header.set_slope_inter(*scaling)
    return img


# ---------------------------------------------------------------------------------------
# Heads the method has never seen: the template moved in world space by a KNOWN transform.
# The truth masks are warped with that same transform, independent of the method's estimate.


def rotation(axis: int, degrees: float) -> np.ndarray:
    """4x4 rotation about world axis 0 (x: pitch), 1 (y: roll) or 2 (z: yaw)."""
    t = np.deg2rad(degrees)
    a, b = [i for i in range(3) if i != axis]
    rot = np.eye(4)
    rot[a, a], rot[a, b], rot[b, a], rot[b, b] = np.cos(t), -np.sin(t), np.sin(t), np.cos(t)
    return rot


def about_centre(template: HeadTemplate, linear: np.ndarray) -> np.ndarray:
    """Conjugate a 4x4 linear map so it acts about the template head's centre."""
    centre = template.grid.affine @ np.array([*((np.array(template.grid.shape) - 1) / 2.0), 1.0])
    there, back = np.eye(4), np.eye(4)
    there[:3, 3], back[:3, 3] = -centre[:3], centre[:3]
    return back @ linear @ there


def moved_grid(
    template: HeadTemplate,
    move: np.ndarray,
    *,
    zooms: tuple[float, float, float] = (HEAD_MM, HEAD_MM, HEAD_MM),
    orient: str = "RAS",
    crop_top_mm: float = 0.0,
    neck_mm: float = 0.0,
) -> Grid:
    """An axis-aligned grid (``orient``) around the template head moved by ``move``.

    ``crop_top_mm`` cuts the field of view at the top; ``neck_mm`` extends it at the bottom.
    """
    tpl = template.grid
    corners = np.array(
        [
            [i, j, k, 1.0]
            for i in (0, tpl.shape[0])
            for j in (0, tpl.shape[1])
            for k in (0, tpl.shape[2])
        ]
    )
    world = (move @ tpl.affine @ corners.T)[:3]
    lo, hi = world.min(axis=1), world.max(axis=1)
    # The template box is generous; trim it to about a head (crop applies from the head top).
    hi[2] -= crop_top_mm
    lo[2] -= neck_mm
    codes = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    affine = np.zeros((4, 4))
    affine[3, 3] = 1.0
    shape = []
    for col, letter in enumerate(orient):
        axis, sign = codes[letter]
        affine[axis, col] = sign * zooms[col]
        n = int(np.ceil((hi[axis] - lo[axis]) / zooms[col])) + 1
        shape.append(n)
        affine[axis, 3] = lo[axis] if sign > 0 else lo[axis] + (n - 1) * zooms[col]
    sx, sy, sz = shape
    return Grid((sx, sy, sz), affine)


def make_moved_head(
    template: HeadTemplate, grid: Grid, move: np.ndarray, *, neck: bool = False
) -> tuple[np.ndarray, Truth]:
    """The template head moved by ``move`` (template world -> subject world) onto ``grid``.

    With ``neck``, voxels below the template's field of view get a synthetic neck and
    shoulders (soft-tissue intensity) so the image extends well below the chin.
    """
    inverse = np.linalg.inv(move)
    head = resample_to(template.head, template.grid, grid, order=1, world_transform=inverse)
    brain = resample_to(
        template.brain,
        template.brain_grid,
        grid,
        world_transform=template.head_to_brain @ inverse,
    )
    face = resample_to(template.face, template.grid, grid, order=1, world_transform=inverse)
    if neck:
        head = head + _synthetic_neck(template, grid, inverse, head)
    return head, Truth(brain=np.asarray(brain > 0.5), face=np.asarray(face > 0.5))


def _synthetic_neck(
    template: HeadTemplate, grid: Grid, inverse: np.ndarray, head: np.ndarray
) -> np.ndarray:
    # Template-world coordinates of every subject voxel.
    ijk = np.indices(grid.shape, dtype=np.float32).reshape(3, -1)
    world = (inverse @ grid.affine)[:3, :3] @ ijk + (inverse @ grid.affine)[:3, 3:4]
    x, y, z = (world[i].reshape(grid.shape) for i in range(3))
    bottom = float((template.grid.affine @ np.array([0, 0, 0, 1.0]))[2]) + 25.0
    below = z < bottom
    depth = np.clip(bottom - z, 0.0, None)
    # Neck: an ellipse behind the chin; shoulders widen it 60 mm further down.
    half_x = 55.0 + np.clip(depth - 60.0, 0.0, None) * 2.0
    inside = below & (((x / half_x) ** 2 + ((y + 25.0) / 55.0) ** 2) < 1.0)
    tissue = float(np.percentile(head[head > 0], 60)) if (head > 0).any() else 100.0
    neck = np.where(inside & (head < 0.2 * tissue), tissue, 0.0)
    return np.asarray(neck, dtype=np.float32)
