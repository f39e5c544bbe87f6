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
