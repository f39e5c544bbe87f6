"""Affine registration of a head template to a subject with SimpleITK (world mm).

Runs on downsampled copies (a few mm) so a 1 mm head registers in seconds. Single-threaded
and with a fixed sampling seed, so the same input gives the same transform every time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from deidkit.deface._deps import sitk
from deidkit.deface.errors import DefaceError
from deidkit.deface.geometry import (
    RAS_TO_LPS,
    FloatArray,
    Grid,
    downsampled_grid,
    resample_to,
    to_sitk,
)

_SEED = 20240601


class RegistrationError(DefaceError):
    """The template could not be registered to the image."""

    default_message = "template registration failed"


def _normalise(data: NDArray[Any]) -> NDArray[np.float32]:
    # Robust intensity scaling makes the metric insensitive to scl_slope, dtype and contrast.
    arr = np.nan_to_num(np.asarray(data, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    positive = arr[arr > 0]
    if positive.size == 0:
        raise RegistrationError("image has no positive voxels to register")
    # A strided subsample gives the same percentile to well under 1 % and is ~10x faster.
    hi = float(np.percentile(positive[:: max(1, positive.size // 200_000)], 99.0))
    return np.asarray(np.clip(arr / hi, 0.0, 1.0), dtype=np.float32)


def prepare(data: NDArray[Any], grid: Grid, voxel_mm: float) -> tuple[NDArray[np.float32], Grid]:
    """Downsample and normalise an image for :func:`register_affine` (cache it for templates).

    Normalising the small downsampled copy instead of the full volume saves seconds on 1 mm.
    """
    clean = np.nan_to_num(np.asarray(data, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    coarse, coarse_grid = _coarse(clean, grid, voxel_mm)
    return _normalise(coarse), coarse_grid


def _coarse(data: NDArray[Any], grid: Grid, voxel_mm: float) -> tuple[NDArray[np.float32], Grid]:
    target = downsampled_grid(grid, voxel_mm)
    if target.same_as(grid):
        return np.asarray(data, dtype=np.float32), grid
    # Linear interpolation of a box-smoothed copy avoids aliasing without a costly filter.
    from scipy import ndimage

    factors = np.maximum(voxel_mm / grid.zooms, 1.0)
    smooth = ndimage.uniform_filter(np.asarray(data, dtype=np.float32), size=np.round(factors))
    return resample_to(smooth, grid, target, order=1), target


def register_affine(
    fixed: NDArray[Any],
    fixed_grid: Grid,
    moving: NDArray[Any],
    moving_grid: Grid,
    *,
    voxel_mm: float = 4.0,
    fixed_mask: NDArray[np.bool_] | None = None,
    iterations: int = 100,
    moving_prepared: bool = False,
    multistart: bool = False,
) -> FloatArray:
    """Register ``moving`` to ``fixed`` with a 12-parameter affine transform.

    Parameters
    ----------
    fixed, moving
        3D intensity arrays (any scaling; NaNs allowed).
    fixed_grid, moving_grid
        Their voxel grids in world mm.
    voxel_mm
        Resolution of the downsampled copies the optimiser works on.
    fixed_mask
        Optional boolean mask on ``fixed_grid``: the metric is computed inside it only.
    iterations
        Optimiser iterations per resolution level.
    moving_prepared
        ``moving`` is already the output of :func:`prepare` at ``voxel_mm``.
    multistart
        Search initial rotations (:data:`START_ANGLES_DEG`) and refine the best few with a
        similarity transform before the affine stage. Needed for heads tilted by more than
        ~15 degrees (chin-down / chin-up, rolled or turned): from the moments-only start
        the optimiser stops in a local optimum that misplaces the face mask, and can put
        the estimated brain where it does not protect the true brain.

    Returns
    -------
    numpy.ndarray
        4x4 matrix mapping fixed world (RAS mm) to moving world (RAS mm); feed it to
        :func:`deidkit.deface.geometry.resample_to` as ``world_transform`` to bring template
        masks onto the fixed grid.

    Raises
    ------
    RegistrationError
        If the optimiser fails or returns a degenerate transform.
    """
    sk = sitk()
    f_arr, f_grid = prepare(fixed, fixed_grid, voxel_mm)
    if moving_prepared:
        m_arr, m_grid = np.asarray(moving, dtype=np.float32), moving_grid
    else:
        m_arr, m_grid = prepare(moving, moving_grid, voxel_mm)
    f_img, m_img = to_sitk(f_arr, f_grid), to_sitk(m_arr, m_grid)

    mask_img = None
    if fixed_mask is not None:
        mask_arr, _ = _coarse(fixed_mask.astype(np.float32), fixed_grid, voxel_mm)
        mask_img = sk.Cast(to_sitk(mask_arr > 0.5, f_grid), sk.sitkUInt8)
    if multistart:
        init = _multistart(f_img, m_img, mask_img)
    else:
        init = sk.CenteredTransformInitializer(
            f_img, m_img, sk.AffineTransform(3), sk.CenteredTransformInitializerFilter.MOMENTS
        )
    reg = _method(mask_img)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0,
        minStep=1e-3,
        numberOfIterations=iterations,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([1.0, 0.0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    reg.SetInitialTransform(init, inPlace=False)
    reg.SetNumberOfThreads(1)
    try:
        result = reg.Execute(f_img, m_img)
    except RuntimeError as exc:
        raise RegistrationError("template registration did not converge") from exc
    return _to_ras_matrix(result)


#: Initial rotations (degrees about the LPS x, y, z axes) tried by ``multistart``: pitch
#: (chin-down / chin-up) is the commonest and riskiest, so it gets the finest steps.
START_ANGLES_DEG: tuple[tuple[float, float, float], ...] = tuple(
    (rx, ry, rz)
    for rx in (-36.0, -24.0, -12.0, 0.0, 12.0, 24.0, 36.0)
    for ry in (-24.0, 0.0, 24.0)
    for rz in (-24.0, 0.0, 24.0)
)
#: Initial isotropic scales tried with every rotation (children's heads are ~0.8x adult).
START_SCALES: tuple[float, ...] = (1.0,)
#: How many of the best-scoring starts are refined before the affine stage.
REFINED_STARTS = 3


def _method(mask_img: Any) -> Any:
    # Mattes MI works across contrasts (T1 template on T2 or PD subjects, inverted classes).
    sk = sitk()
    reg = sk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.REGULAR)
    reg.SetMetricSamplingPercentage(0.25, _SEED)
    if mask_img is not None:
        reg.SetMetricFixedMask(mask_img)
    reg.SetInterpolator(sk.sitkLinear)
    return reg


def _multistart(f_img: Any, m_img: Any, mask_img: Any) -> Any:
    """Best similarity transform over a grid of initial rotations about the centres of mass."""
    sk = sitk()
    base = sk.CenteredTransformInitializer(
        f_img, m_img, sk.Similarity3DTransform(), sk.CenteredTransformInitializerFilter.MOMENTS
    )
    # Score the starts on 2x shrunk copies (8 mm): ~8x cheaper and smoother, enough to rank.
    f_small, m_small = sk.BinShrink(f_img, [2, 2, 2]), sk.BinShrink(m_img, [2, 2, 2])
    mask_small = None if mask_img is None else sk.BinShrink(mask_img, [2, 2, 2]) > 0
    scored: list[tuple[float, int, Any]] = []
    starts = [(a, s) for s in START_SCALES for a in START_ANGLES_DEG]
    for index, (angles, scale) in enumerate(starts):
        start = sk.Similarity3DTransform(base)
        rx, ry, rz = np.deg2rad(angles)
        start.SetMatrix(sk.Euler3DTransform((0, 0, 0), rx, ry, rz).GetMatrix())
        start.SetScale(scale)
        probe = _method(mask_small)
        probe.SetInitialTransform(start, inPlace=False)
        probe.SetNumberOfThreads(1)
        scored.append((float(probe.MetricEvaluate(f_small, m_small)), index, start))
    scored.sort(key=lambda item: (item[0], item[1]))  # MI: lower is better; ties by index
    # Coarse level only: the affine stage that follows refines at full registration size.
    starts_kept = [start for _, _, start in scored[:REFINED_STARTS]]
    affine = _refine(f_img, m_img, mask_img, starts_kept, iterations=60, coarse_only=True)
    if affine is None:
        raise RegistrationError("template registration did not converge")
    return affine


def _refine(
    f_img: Any,
    m_img: Any,
    mask_img: Any,
    starts: list[Any],
    *,
    iterations: int,
    coarse_only: bool,
) -> Any | None:
    """The best of ``starts`` refined (lowest metric, the first on ties) as an affine
    transform; None when no start converged."""
    sk = sitk()
    best: tuple[float, Any] | None = None
    for start in starts:
        reg = _method(mask_img)
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=1.0,
            minStep=1e-2,
            numberOfIterations=iterations,
            gradientMagnitudeTolerance=1e-6,
        )
        reg.SetOptimizerScalesFromPhysicalShift()
        if coarse_only:
            reg.SetShrinkFactorsPerLevel([2])
            reg.SetSmoothingSigmasPerLevel([1.0])
            reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
        reg.SetInitialTransform(start, inPlace=False)
        reg.SetNumberOfThreads(1)
        try:
            result = reg.Execute(f_img, m_img)
        except RuntimeError:
            continue
        value = float(reg.GetMetricValue())
        if best is None or value < best[0]:
            best = (value, sk.CompositeTransform(result).GetNthTransform(0))
    if best is None:
        return None
    similarity = sk.Similarity3DTransform(best[1])
    affine = sk.AffineTransform(3)
    affine.SetCenter(similarity.GetCenter())
    affine.SetMatrix(similarity.GetMatrix())
    affine.SetTranslation(similarity.GetTranslation())
    return affine


def _to_ras_matrix(transform: Any) -> FloatArray:
    # ITK maps fixed LPS points to moving LPS points: y = A (x - c) + c + t.
    sk = sitk()
    affine = sk.AffineTransform(sk.CompositeTransform(transform).GetNthTransform(0))
    a = np.asarray(affine.GetMatrix(), dtype=np.float64).reshape(3, 3)
    c = np.asarray(affine.GetCenter(), dtype=np.float64)
    t = np.asarray(affine.GetTranslation(), dtype=np.float64)
    lps = np.eye(4)
    lps[:3, :3] = a
    lps[:3, 3] = t + c - a @ c
    matrix = RAS_TO_LPS @ lps @ RAS_TO_LPS
    det = float(np.linalg.det(matrix[:3, :3]))
    if not np.isfinite(matrix).all() or not 0.3 < abs(det) < 3.0:
        raise RegistrationError("template registration gave a degenerate transform")
    return matrix


#: Spacing (mm) of the template points a partial field of view's centre is tried at.
PARTIAL_STEP_MM = 16.0


def _partial_starts(f_img: Any, m_img: Any) -> list[Any]:
    """Similarity starts (no rotation) putting the fixed centre on a grid of template points."""
    sk = sitk()
    f_size = np.array(f_img.GetSize()) - 1
    centre = np.array(f_img.TransformContinuousIndexToPhysicalPoint((f_size / 2.0).tolist()))
    # Only where the template has head: its voxels above a tenth of the robust maximum.
    head = np.argwhere(sk.GetArrayViewFromImage(m_img).T > 0.1)
    corners = [
        np.array(m_img.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner]))
        for corner in (head.min(axis=0), head.max(axis=0))
    ]
    lo, hi = np.minimum(*corners), np.maximum(*corners)
    step = PARTIAL_STEP_MM
    axes = [np.arange(a + step / 2, b, step) for a, b in zip(lo, hi, strict=True)]
    # Heads are near-symmetric and the header's left-right is trusted: the midline only.
    axes[0] = np.array([(lo[0] + hi[0]) / 2.0])
    starts = []
    for point in np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3):
        start = sk.Similarity3DTransform()
        start.SetCenter(centre.tolist())
        start.SetTranslation((point - centre).tolist())
        starts.append(start)
    return starts


def register_partial(
    fixed: NDArray[Any],
    fixed_grid: Grid,
    moving: NDArray[np.float32],
    moving_grid: Grid,
    *,
    voxel_mm: float = 4.0,
) -> FloatArray:
    """Register a partial field of view (``fixed``) into a whole head (``moving``, prepared).

    The whole-head start (centres of mass) is meaningless when only part of the head is in
    view, so the fixed field of view's centre is tried at every :data:`PARTIAL_STEP_MM` of
    the template, the header's orientation taken as it is; the best starts are refined with
    a similarity transform (rotation, one scale, translation), which cannot shear a small
    field of view into a degenerate fit.

    Raises
    ------
    RegistrationError
        If no start can be evaluated or refined.
    """
    f_arr, f_grid = prepare(fixed, fixed_grid, voxel_mm)
    f_img, m_img = to_sitk(f_arr, f_grid), to_sitk(moving, moving_grid)
    scored: list[tuple[float, int, Any]] = []
    for index, start in enumerate(_partial_starts(f_img, m_img)):
        probe = _method(None)
        probe.SetInitialTransform(start, inPlace=False)
        probe.SetNumberOfThreads(1)
        try:
            scored.append((float(probe.MetricEvaluate(f_img, m_img)), index, start))
        except RuntimeError:  # the field of view falls outside the template there
            continue
    scored.sort(key=lambda item: (item[0], item[1]))
    starts_kept = [start for _, _, start in scored[:REFINED_STARTS]]
    affine = _refine(f_img, m_img, None, starts_kept, iterations=80, coarse_only=False)
    if affine is None:
        raise RegistrationError("partial field of view: template registration did not converge")
    return _to_ras_matrix(affine)
