"""World-millimetre geometry: voxel grids, resampling between grids, SimpleITK conversion.

Everything here works from the NIfTI affine (voxel index -> RAS+ mm), so the defacing code
never assumes an axis order, an orientation (RAS, LPS, LIA, PIR, ...) or isotropic voxels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: RAS+ (NIfTI) <-> LPS+ (DICOM, ITK) flip of the first two world axes.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Grid:
    """A 3D voxel grid placed in world space.

    Parameters
    ----------
    shape
        Number of voxels along the three array axes.
    affine
        4x4 matrix mapping voxel indices to RAS+ millimetres.
    """

    shape: tuple[int, int, int]
    affine: FloatArray

    @property
    def zooms(self) -> FloatArray:
        """Voxel edge lengths in mm (column norms of the affine)."""
        return np.asarray(np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0)), dtype=np.float64)

    def same_as(self, other: Grid, *, atol: float = 1e-3) -> bool:
        """Return whether both grids have the same shape and (nearly) the same affine."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol))


def grid_of(shape: tuple[int, ...], affine: Any) -> Grid:
    """Build a :class:`Grid` from the first three entries of ``shape`` and ``affine``."""
    sx, sy, sz = (int(n) for n in shape[:3])
    return Grid((sx, sy, sz), np.asarray(affine, dtype=np.float64))


def resample_to(
    data: NDArray[Any],
    source: Grid,
    target: Grid,
    *,
    order: int = 1,
    world_transform: FloatArray | None = None,
    cval: float = 0.0,
) -> NDArray[np.float32]:
    """Resample ``data`` (on ``source``) onto ``target`` through world coordinates.

    Parameters
    ----------
    data
        3D array on the source grid.
    source, target
        Grids of the input data and of the wanted output.
    order
        Spline order (0 nearest, 1 linear).
    world_transform
        Optional 4x4 map from target world mm to source world mm (a registration result);
        identity when omitted.
    cval
        Value outside the source field of view.

    Returns
    -------
    numpy.ndarray
        float32 array of ``target.shape``.
    """
    world = np.eye(4) if world_transform is None else world_transform
    vox = np.linalg.inv(source.affine) @ world @ target.affine
    out = ndimage.affine_transform(
        np.asarray(data, dtype=np.float32),
        vox[:3, :3],
        vox[:3, 3],
        output_shape=target.shape,
        order=order,
        mode="constant",
        cval=cval,
        prefilter=False,
    )
    return np.asarray(out, dtype=np.float32)


def downsampled_grid(grid: Grid, voxel_mm: float) -> Grid:
    """Return a grid covering the same field of view with voxels of about ``voxel_mm``."""
    zooms = grid.zooms
    factors = np.maximum(voxel_mm / zooms, 1.0)
    shape = tuple(max(int(np.ceil(n / f)), 2) for n, f in zip(grid.shape, factors, strict=True))
    scale = np.diag([*factors, 1.0])
    # Keep the centre of voxel 0 at the centre of the first block of source voxels.
    shift = np.eye(4)
    shift[:3, 3] = (factors - 1.0) / 2.0
    sx, sy, sz = shape
    return Grid((sx, sy, sz), grid.affine @ shift @ scale)


def ras_aligned_grid(grid: Grid, voxel_mm: float) -> Grid:
    """Return an axis-aligned RAS+ grid enclosing ``grid``'s field of view."""
    corners = np.array(
        [
            [i, j, k, 1.0]
            for i in (0, grid.shape[0] - 1)
            for j in (0, grid.shape[1] - 1)
            for k in (0, grid.shape[2] - 1)
        ]
    )
    world = (grid.affine @ corners.T)[:3]
    lo, hi = world.min(axis=1), world.max(axis=1)
    shape = np.floor((hi - lo) / voxel_mm).astype(int) + 1
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = lo
    sx, sy, sz = (int(n) for n in shape)
    return Grid((sx, sy, sz), affine)


def to_sitk(data: NDArray[Any], grid: Grid) -> Any:
    """Wrap a 3D array as a SimpleITK image placed by ``grid`` (RAS affine -> LPS direction)."""
    from deidkit.deface._deps import sitk

    sk = sitk()
    image = sk.GetImageFromArray(np.ascontiguousarray(np.asarray(data, dtype=np.float32).T))
    lps = RAS_TO_LPS @ grid.affine
    zooms = grid.zooms
    image.SetSpacing([float(z) for z in zooms])
    image.SetOrigin([float(v) for v in lps[:3, 3]])
    image.SetDirection([float(v) for v in (lps[:3, :3] / zooms).ravel()])
    return image


def warp_mask(
    mask: BoolArray,
    source: Grid,
    target: Grid,
    *,
    world_transform: FloatArray | None = None,
) -> BoolArray:
    """Bring a boolean mask onto ``target`` (nearest neighbour), touching only its bounding box.

    Only the target voxels inside the mask's transformed bounding box are interpolated, so
    warping a face mask onto a 1 mm head costs a fraction of a full resample.

    Parameters
    ----------
    mask
        Boolean array on ``source``.
    source, target
        Grids of the mask and of the output.
    world_transform
        Optional 4x4 map from target world mm to source world mm.

    Returns
    -------
    numpy.ndarray
        Boolean array of ``target.shape``.
    """
    out = np.zeros(target.shape, dtype=bool)
    idx = np.argwhere(mask)
    if idx.size == 0:
        return out
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    corners = np.array(
        [[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    world = np.eye(4) if world_transform is None else world_transform
    # Source voxel -> target voxel, to find where the mask can land on the target grid.
    to_target = np.linalg.inv(target.affine) @ np.linalg.inv(world) @ source.affine
    pts = (to_target @ corners.T)[:3]
    start = np.clip(np.floor(pts.min(axis=1)).astype(int) - 2, 0, np.array(target.shape))
    stop = np.clip(np.ceil(pts.max(axis=1)).astype(int) + 3, 0, np.array(target.shape))
    if (stop <= start).any():
        return out
    shift = np.eye(4)
    shift[:3, 3] = start
    sub_shape = tuple(int(n) for n in stop - start)
    vox = np.linalg.inv(source.affine) @ world @ target.affine @ shift
    block = ndimage.affine_transform(
        mask.astype(np.uint8),
        vox[:3, :3],
        vox[:3, 3],
        output_shape=sub_shape,
        order=0,
        mode="constant",
        cval=0,
    )
    out[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]] = block > 0
    return out


def any_within_mm(points: BoolArray, region: BoolArray, grid: Grid, radius_mm: float) -> int:
    """Count ``points`` voxels lying within ``radius_mm`` (world distance) of ``region``.

    The distance transform runs only on the bounding box of ``points`` padded by the radius,
    which is all that can matter, instead of on the whole volume.
    """
    idx = np.argwhere(points)
    if idx.size == 0 or not region.any():
        return 0
    pad = np.ceil(radius_mm / grid.zooms).astype(int) + 1
    start = np.maximum(idx.min(axis=0) - pad, 0)
    stop = np.minimum(idx.max(axis=0) + pad + 1, np.array(grid.shape))
    box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    sub_region = region[box]
    if not sub_region.any():
        return 0
    dist = ndimage.distance_transform_edt(~sub_region, sampling=grid.zooms)
    return int(np.count_nonzero(points[box] & (dist <= radius_mm)))
