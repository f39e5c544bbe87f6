"""auditkit.transforms gives MONAI's tensors without importing MONAI.

The oracle is MONAI itself: the same volume (oblique, anisotropic, sheared or one slice thick)
through MONAI's Orientation, Spacing, Resize, ResizeWithPadOrCrop and intensity transforms on a
MetaTensor, and through auditkit's Preprocessor, must give the same values and affine.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from monai.data.meta_tensor import MetaTensor
from monai.transforms.croppad.array import ResizeWithPadOrCrop
from monai.transforms.intensity.array import (
    NormalizeIntensity,
    ScaleIntensity,
    ScaleIntensityRange,
    ScaleIntensityRangePercentiles,
)
from monai.transforms.spatial.array import Orientation, Resize, Spacing

from auditkit.imaging import Preprocessor, PreprocessSpec, Volume
from auditkit.transforms import orient, resample_to_spacing


def _rotation(degrees: tuple[float, float, float]) -> np.ndarray:
    a, b, c = np.deg2rad(degrees)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx)


def oblique_affine(
    spacing: tuple[float, float, float] = (0.7, 1.3, 3.1),
    degrees: tuple[float, float, float] = (17.0, -25.0, 110.0),
    *,
    flip: tuple[int, int, int] = (-1, 1, -1),
    shear: float = 0.0,
) -> np.ndarray:
    affine = np.eye(4)
    zoom = np.diag(np.asarray(spacing) * np.asarray(flip))
    zoom[0, 1] = shear
    affine[:3, :3] = _rotation(degrees) @ zoom
    affine[:3, 3] = (-41.5, 12.25, 73.0)
    return affine


def volume_of(shape: tuple[int, int, int], affine: np.ndarray, seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    data = rng.normal(100.0, 40.0, size=shape).astype(np.float32)
    data[: shape[0] // 2] += 300.0  # a step edge: interpolation shows up in the values
    return Volume(data=data, affine=affine, header=None, source="nifti")


def monai_reference(volume: Volume, spec: PreprocessSpec, *, label: bool = False) -> Any:
    """The chain the Preprocessor used to run, MONAI transform by MONAI transform."""
    tensor: Any = MetaTensor(
        torch.from_numpy(np.ascontiguousarray(volume.data))[None],
        affine=torch.from_numpy(volume.affine),
    )
    tensor = Orientation(axcodes=spec.axcodes, labels=None)(tensor)
    if spec.spacing is not None:
        flat = 2
        if spec.spatial_dims == 2:
            flat = [i for i, s in enumerate(tensor.shape[1:]) if s == 1][-1]
        pixdim = [float(v) for v in spec.spacing]
        if len(pixdim) < 3:
            pixdim += [-1.0] * (2 - len(pixdim))
            pixdim.insert(flat, -1.0)
        mode, padding = ("nearest", "zeros") if label else ("bilinear", "border")
        tensor = Spacing(pixdim=pixdim, mode=mode, padding_mode=padding)(tensor)
    return tensor


def assert_same(ours: torch.Tensor, affine: np.ndarray, reference: Any) -> None:
    assert tuple(ours.shape) == tuple(reference.shape)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, reference.as_tensor().float(), rtol=0, atol=0)
    np.testing.assert_allclose(affine, reference.affine.numpy(), rtol=0, atol=0)


@pytest.mark.parametrize(
    "affine",
    [
        oblique_affine(),
        oblique_affine(flip=(1, -1, 1), degrees=(0.0, 0.0, 180.0)),  # LPS-like, axis-aligned
        oblique_affine(shear=0.4),  # sheared: zoom_affine drops the shear
        oblique_affine(degrees=(44.0, 46.0, -89.0), spacing=(2.0, 0.5, 1.0)),
    ],
    ids=["oblique", "lps", "sheared", "near-diagonal"],
)
@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 1.0), (2.5, 0.8, 1.7)])
@pytest.mark.parametrize("label", [False, True])
def test_geometry_equals_monai_orientation_and_spacing(
    affine: np.ndarray, spacing: tuple[float, ...] | None, label: bool
) -> None:
    volume = volume_of((11, 9, 7), affine)
    spec = PreprocessSpec(spacing=spacing)
    ours, ours_affine = Preprocessor(spec).geometry(volume, label=label)
    assert_same(ours, ours_affine, monai_reference(volume, spec, label=label))


@pytest.mark.parametrize("axcodes", ["RAS", "LPS", "PIR"])
def test_orient_equals_monai_for_any_axis_codes(axcodes: str) -> None:
    volume = volume_of((5, 6, 7), oblique_affine())
    data = torch.from_numpy(volume.data)[None]
    ours, affine = orient(data, volume.affine, axcodes)
    reference = Orientation(axcodes=axcodes, labels=None)(
        MetaTensor(data, affine=torch.from_numpy(volume.affine))
    )
    assert_same(ours, affine, reference)


def test_spacing_within_tolerance_keeps_the_grid() -> None:
    # MONAI keeps spacings within 1e-3 of the target and returns the image unresampled.
    volume = volume_of((6, 6, 6), np.diag([1.0004, 1.0, 0.9996, 1.0]))
    data = torch.from_numpy(volume.data)[None]
    ours, affine = resample_to_spacing(data, volume.affine, (1.0, 1.0, 1.0))
    reference = Spacing(pixdim=(1.0, 1.0, 1.0))(
        MetaTensor(data, affine=torch.from_numpy(volume.affine))
    )
    assert_same(ours, affine, reference)
    assert torch.equal(ours, data)


@pytest.mark.parametrize(
    ("plane", "shape"),
    [("axial", (12, 10, 1)), ("coronal", (12, 1, 10)), ("sagittal", (1, 12, 10))],
)
@pytest.mark.parametrize("spacing", [None, (0.6, 1.4)])
def test_single_slice_for_a_2d_model_equals_monai(
    plane: str, shape: tuple[int, int, int], spacing: tuple[float, ...] | None
) -> None:
    volume = volume_of(shape, oblique_affine(degrees=(3.0, -4.0, 7.0), flip=(-1, -1, 1)))
    spec = PreprocessSpec(spatial_dims=2, spacing=spacing, spatial_size=(8, 9))
    ours, _ = Preprocessor(spec)(volume)
    reference = monai_reference(volume, spec)
    flat = [i for i, s in enumerate(reference.shape[1:]) if s == 1][-1]
    reference = reference.as_tensor().select(1 + flat, 0)
    sizer = ResizeWithPadOrCrop((8, 9)) if spacing is not None else Resize((8, 9), mode="area")
    expected = torch.as_tensor(sizer(reference)).float()
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("intensity", "monai_transform"),
    [
        ("window:-160,240", ScaleIntensityRange(-160.0, 240.0, 0.0, 1.0, clip=True)),
        ("window:100,100.5", ScaleIntensityRange(100.0, 100.5, 0.0, 1.0, clip=True)),
        ("percentile:1,99", ScaleIntensityRangePercentiles(1.0, 99.0, 0.0, 1.0, clip=True)),
        ("percentile:0,100", ScaleIntensityRangePercentiles(0.0, 100.0, 0.0, 1.0, clip=True)),
        ("minmax", ScaleIntensity(minv=0.0, maxv=1.0)),
        ("zscore", NormalizeIntensity()),
    ],
)
@pytest.mark.parametrize("size", [(16, 12, 9), (6, 7, 5)])
def test_intensity_and_size_equal_monai(
    intensity: str, monai_transform: object, size: tuple[int, int, int]
) -> None:
    volume = volume_of((11, 9, 7), oblique_affine())
    for spacing in (None, (1.5, 1.5, 2.0)):
        spec = PreprocessSpec(spacing=spacing, intensity=intensity, spatial_size=size)
        ours, affine = Preprocessor(spec)(volume)
        reference = monai_transform(monai_reference(volume, spec))  # type: ignore[operator]
        sizer = ResizeWithPadOrCrop(size) if spacing is not None else Resize(size, mode="area")
        expected = torch.as_tensor(sizer(reference)).float()
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)
        np.testing.assert_allclose(affine, reference.affine.numpy(), rtol=0, atol=0)


def test_constant_image_intensity_equals_monai() -> None:
    volume = Volume(
        data=np.full((4, 4, 4), 7.0, np.float32), affine=np.eye(4), header=None, source="nifti"
    )
    for intensity, reference in (
        ("minmax", ScaleIntensity(minv=0.0, maxv=1.0)),
        ("zscore", NormalizeIntensity()),
        ("percentile:5,95", ScaleIntensityRangePercentiles(5.0, 95.0, 0.0, 1.0, clip=True)),
    ):
        ours, _ = Preprocessor(PreprocessSpec(intensity=intensity))(volume)
        expected = reference(torch.from_numpy(volume.data)[None])  # type: ignore[operator]
        torch.testing.assert_close(ours, torch.as_tensor(expected).float(), rtol=0, atol=0)


def test_preprocessing_imports_no_monai() -> None:
    # nibabel imports scipy's package itself (milliseconds); its heavy submodules must stay out.
    code = (
        "import sys, numpy as np\n"
        "from auditkit.imaging import Preprocessor, PreprocessSpec, Volume\n"
        "affine = np.diag([-1.0, 2.0, 3.0, 1.0])\n"
        "v = Volume(np.ones((5, 6, 7), np.float32), affine, None, 'nifti')\n"
        "spec = PreprocessSpec(spacing=(1.0, 1.0, 1.0), intensity='percentile:1,99',"
        " spatial_size=(4, 4, 4))\n"
        "Preprocessor(spec)(v)\n"
        "heavy = {'monai', 'matplotlib', 'sklearn', 'skimage', 'scipy.ndimage', 'scipy.stats'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
