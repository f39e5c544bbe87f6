"""The MONAI transforms ``auditkit predict`` preprocesses with, in torch, numpy and nibabel.

``import monai`` takes seconds whatever submodule is asked for: the package's ``__init__``
imports every subpackage, and with them SciPy, scikit-learn, scikit-image and matplotlib
(``python -X importtime``). The default predict path (a TorchScript, factory or ONNX model) needs
only five transforms, so they are repeated here step by step as MONAI 1.x computes them: the
same float64 geometry, the same ``affine_grid``/``grid_sample`` call, the same reductions, so the
tensors are MONAI's (``tests/auditkit/test_transforms.py`` compares them with MONAI's own).
Bundles, sliding windows and segmentation metrics still use MONAI itself.

* :func:`orient`: ``Orientation(axcodes, labels=None)`` on a RAS ``MetaTensor``;
* :func:`resample_to_spacing`: ``Spacing(pixdim, mode, padding_mode)`` (``diagonal=False``,
  ``align_corners=False``, float64);
* :class:`Resize` (``Resize(size, mode="area")``), :class:`PadOrCrop` (``ResizeWithPadOrCrop``);
* :class:`WindowRange`, :class:`PercentileRange`, :class:`MinMax`, :class:`ZScore`:
  ``ScaleIntensityRange``, ``ScaleIntensityRangePercentiles``, ``ScaleIntensity`` and
  ``NormalizeIntensity`` with the options :func:`auditkit.imaging.parse_intensity` gives them.

Tensors are channel-first ``(C, *spatial)``; affines are 4x4 voxel-to-RAS float64 arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: MONAI's AFFINE_TOL: spacings and affines closer than this count as unchanged.
AFFINE_TOL = 1e-3
#: Above this many values MONAI computes percentiles with numpy (torch.quantile's size limit).
_QUANTILE_LIMIT = 1_000_000


# --- geometry ----------------------------------------------------------------------------


def orient(data: Any, affine: np.ndarray, axcodes: str) -> tuple[Any, np.ndarray]:
    """Flip and transpose ``data`` so its voxel axes point along ``axcodes``; the new affine."""
    import nibabel.orientations
    import torch

    nio: Any = nibabel.orientations  # untyped
    shape = tuple(int(s) for s in data.shape[1:])
    ornt = nio.ornt_transform(
        nio.io_orientation(np.asarray(affine, dtype=np.float64)),
        nio.axcodes2ornt(axcodes[: len(shape)]),
    )
    xform = nio.inv_ornt_aff(ornt, shape)
    flips = [1 + axis for axis, flip in enumerate(ornt[:, 1]) if flip == -1]
    order = [0, *(1 + int(axis) for axis in np.argsort(ornt[:, 0]))]
    out = torch.flip(data, dims=flips) if flips else data
    if order != list(range(out.ndim)):
        out = out.permute(order)
    # MONAI multiplies a numpy transform in numpy (a torch one in torch): the same last bits.
    return out, np.asarray(affine, dtype=np.float64) @ xform


def _compose(affine: np.ndarray, xform: np.ndarray) -> np.ndarray:
    """``affine @ xform`` as MONAI updates a MetaTensor's affine by a torch transform."""
    import torch

    left = torch.as_tensor(np.asarray(affine), dtype=torch.float64)
    right = torch.as_tensor(np.asarray(xform), dtype=torch.float64)
    return np.asarray((left @ right).numpy(), dtype=np.float64)


def _spacing(affine: np.ndarray) -> np.ndarray:
    """Column norms of the rotation-zoom block; a zero norm counts as 1 (MONAI)."""
    spacing = np.sqrt(np.sum(affine[:3, :3] * affine[:3, :3], axis=0))
    spacing[spacing == 0] = 1.0
    return np.asarray(spacing, dtype=np.float64)


def _target_spacing(affine: np.ndarray, pixdim: Sequence[float]) -> np.ndarray:
    """The spacing resampled to: non-positive entries and ones within tolerance keep the image's."""
    wanted = np.array([float(v) for v in pixdim][:3], dtype=np.float64)
    if wanted.size < 3:
        wanted = np.append(wanted, [wanted[-1]] * (3 - wanted.size))
    original = _spacing(affine)
    for axis, target in enumerate(wanted):
        if target - AFFINE_TOL <= original[axis] <= target + AFFINE_TOL:
            wanted[axis] = original[axis]
    return wanted


def _zoom_affine(affine: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """MONAI's ``zoom_affine(diagonal=False)``: the rotation kept, shear dropped, new zooms."""
    norm = _spacing(affine)
    zooms = np.array([s if s > 0 else n for s, n in zip(scale, norm, strict=True)], np.float64)
    zooms[zooms == 0] = 1.0
    rzs = affine[:-1, :-1]
    zs = np.linalg.cholesky(rzs.T @ rzs).T
    rotation = rzs @ np.linalg.inv(zs)
    new = np.eye(len(affine))
    new[:-1, :-1] = rotation @ np.diag(np.sign(np.diag(zs)) * np.abs(zooms))
    return new


def _shape_offset(
    shape: Sequence[int], in_affine: np.ndarray, out_affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MONAI's ``compute_shape_offset(scale_extent=False)``: the grid covering the input's."""
    size = np.array(tuple(shape), dtype=float)
    coords = [(0.0, dim - 1.0) for dim in size]
    corners: np.ndarray = np.asarray(np.meshgrid(*coords, indexing="ij")).reshape((len(size), -1))
    corners = np.concatenate((corners, np.ones_like(corners[:1])))
    corners_out = np.linalg.solve(out_affine, in_affine) @ corners
    corners = in_affine @ corners
    distances = corners_out[:-1].copy()
    corners_out = corners_out[:-1] / corners_out[-1]
    out_shape = np.round(np.ptp(corners_out, axis=1) + 1.0)
    offset = None
    for i in range(corners.shape[1]):
        smallest = np.min(distances - distances[:, i : i + 1], 1)
        if np.allclose(smallest, 0.0, rtol=AFFINE_TOL):
            offset = corners[:-1, i]
            break
    if offset is None:  # no corner is the smallest: align the centres
        offset = (
            in_affine[:-1, :-1] @ (size / 2.0)
            + in_affine[:-1, -1]
            - out_affine[:-1, :-1] @ (out_shape / 2.0)
        )
    return out_shape.astype(int), offset


def resample_to_spacing(
    data: Any,
    affine: np.ndarray,
    pixdim: Sequence[float],
    *,
    mode: str = "bilinear",
    padding_mode: str = "border",
) -> tuple[Any, np.ndarray]:
    """Resample ``data`` (``(C, X, Y, Z)``) to voxels of ``pixdim`` mm, as MONAI's ``Spacing``.

    A non-positive ``pixdim`` entry keeps that axis' spacing. Returns float32 data and the
    affine of the new grid (the input's when nothing changes).
    """
    in_affine = np.asarray(affine, dtype=np.float64)
    shape = tuple(int(s) for s in data.shape[1:])
    new_affine = _zoom_affine(in_affine, _target_spacing(in_affine, pixdim))
    out_shape, offset = _shape_offset(shape, in_affine, new_affine)
    new_affine[:3, -1] = offset[:3]
    return _resample(
        data, in_affine, new_affine, tuple(int(s) for s in out_shape), mode, padding_mode
    )


def _resample(
    data: Any,
    src: np.ndarray,
    dst: np.ndarray,
    size: tuple[int, ...],
    mode: str,
    padding_mode: str,
) -> tuple[Any, np.ndarray]:
    """MONAI's ``spatial_resample`` (torch backend, ``align_corners=False``, float64)."""
    import torch

    xform = np.linalg.solve(src, dst)
    same_size = size == tuple(int(s) for s in data.shape[1:])
    src_t = torch.as_tensor(src, dtype=torch.float64)
    unchanged = same_size and (
        torch.allclose(src_t, torch.as_tensor(dst, dtype=torch.float64), atol=AFFINE_TOL)
        or bool(np.allclose(xform, np.eye(len(xform)), rtol=1e-5, atol=AFFINE_TOL))
    )
    if unchanged:
        return data.float(), src
    theta = torch.as_tensor(xform, dtype=torch.float64)[None]
    theta = _normalised(data.shape[1:], dtype=torch.float64) @ theta
    theta = theta @ torch.as_tensor(
        np.linalg.inv(_normalised(size, dtype=torch.float64).numpy()), dtype=torch.float64
    )
    rank = len(size)
    reverse = torch.as_tensor(range(rank - 1, -1, -1))
    theta[:, :rank] = theta[:, reverse]
    theta[:, :, :rank] = theta[:, :, reverse]
    image = data.to(torch.float64)[None]
    grid = torch.nn.functional.affine_grid(
        theta=theta[:, :rank], size=[1, image.shape[1], *size], align_corners=False
    )
    out = torch.nn.functional.grid_sample(
        input=image.contiguous(),
        grid=grid,
        mode=mode,
        padding_mode=padding_mode,
        align_corners=False,
    )
    return out[0].to(torch.float32), _compose(src, xform)


def _normalised(shape: Sequence[int], *, dtype: Any) -> Any:
    """Voxel index ``[-0.5, d-0.5]`` to grid_sample's ``[-1, 1]`` (``normalize_transform``)."""
    import torch

    size = torch.as_tensor([float(s) for s in shape], dtype=torch.float64)
    norm = size.clone()
    norm[norm <= 0.0] = 2.0
    matrix = torch.diag(torch.cat((2.0 / norm, torch.ones((1,), dtype=torch.float64))))
    matrix[:-1, -1] = 1.0 / size - 1.0
    return matrix.unsqueeze(0).to(dtype=dtype)


@dataclass(frozen=True)
class Resize:
    """``monai.transforms.Resize(size, mode="area")``: area interpolation to ``size``."""

    size: tuple[int, ...]

    def __call__(self, data: Any) -> Any:
        import torch

        if tuple(int(s) for s in data.shape[1:]) == self.size:
            return data.float()
        resized = torch.nn.functional.interpolate(
            input=data.to(torch.float32)[None], size=self.size, mode="area"
        )
        return resized[0].to(torch.float32)


@dataclass(frozen=True)
class PadOrCrop:
    """``monai.transforms.ResizeWithPadOrCrop(size)``: zero-pad symmetrically, crop centrally."""

    size: tuple[int, ...]

    def __call__(self, data: Any) -> Any:
        import torch

        shape = [int(s) for s in data.shape[1:]]
        widths = [max(want - have, 0) for want, have in zip(self.size, shape, strict=True)]
        if any(widths):
            pad: list[int] = []
            for width in reversed(widths):  # torch's pad lists the last axis first
                pad += [width // 2, width - width // 2]
            data = torch.nn.functional.pad(data, pad, mode="constant", value=0.0)
        slices = [slice(None)]
        for have, want in zip(data.shape[1:], self.size, strict=True):
            start = max(int(have) // 2 - want // 2, 0)
            slices.append(slice(start, start + want))
        return data[tuple(slices)]


# --- intensity ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowRange:
    """``ScaleIntensityRange(low, high, 0, 1, clip=True)``: the window to [0, 1]."""

    low: float
    high: float

    def __call__(self, data: Any) -> Any:
        import torch

        return _scale_range(data, self.low, self.high).to(torch.float32)


def _scale_range(data: Any, low: Any, high: Any) -> Any:
    import torch

    if bool(high - low == 0.0):
        return data - low + 0.0  # MONAI's divide-by-zero branch: shifted, not clipped
    scaled = (data - low) / (high - low)
    return torch.clamp(scaled * (1.0 - 0.0) + 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class PercentileRange:
    """``ScaleIntensityRangePercentiles(lower, upper, 0, 1, clip=True)`` over the whole image."""

    lower: float
    upper: float

    def __call__(self, data: Any) -> Any:
        import torch

        low, high = _percentile(data, self.lower), _percentile(data, self.upper)
        return _scale_range(data, low, high).to(torch.float32)


def _percentile(data: Any, q: float) -> Any:
    import torch

    if data.numel() > _QUANTILE_LIMIT:
        value = np.percentile(data.detach().cpu().numpy(), np.asarray(q))
        return torch.as_tensor(value, dtype=data.dtype, device=data.device)
    fraction = torch.as_tensor(np.asarray(q) / 100.0, dtype=data.dtype, device=data.device)
    return torch.quantile(data, fraction)


@dataclass(frozen=True)
class MinMax:
    """``ScaleIntensity(minv=0, maxv=1)``: per-image min-max to [0, 1]."""

    def __call__(self, data: Any) -> Any:
        import torch

        values = data.to(torch.float32)
        low, high = values.min(), values.max()
        if bool(low == high):
            return values * 0.0
        return (values - low) / (high - low) * (1.0 - 0.0) + 0.0


@dataclass(frozen=True)
class ZScore:
    """``NormalizeIntensity()``: zero mean, unit (population) standard deviation."""

    def __call__(self, data: Any) -> Any:
        import torch

        values = data.to(torch.float32)
        mean = torch.mean(values.float()).item()
        std = torch.std(values.float(), unbiased=False).item()
        return (values - mean) / (std if std != 0.0 else 1.0)
