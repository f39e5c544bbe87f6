"""Defacing methods behind one protocol, registered lazily by import path.

A method turns a 3D volume on its grid into a :class:`FaceMask`: the voxels to remove, the
brain it must never touch, and (when known) the template face region used for QC. Applying
the mask, the brain post-condition and writing live in :mod:`deidkit.deface.core`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import warnings
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from deidkit.core.optional import install_hint
from deidkit.deface.errors import BrainMaskError, MethodUnavailableError, NoSafeMethodError
from deidkit.deface.geometry import BoolArray, FloatArray, Grid, resample_to, warp_mask


@dataclass(frozen=True)
class PosedGrid(Grid):
    """A subject grid that also knows the registered template pose.

    Parameters
    ----------
    template_transform
        4x4 map from this subject's world mm to the head template's world mm (the
        registration result). QC renders the head in the template's canonical pose with it,
        so the face detector always sees an upright frontal face. It travels with the grid
        because every QC caller already passes the mask's grid.
    """

    template_transform: FloatArray | None = field(default=None, compare=False)


def posed(grid: Grid, transform: FloatArray | None) -> Grid:
    """Attach a registration transform to ``grid`` (or return it unchanged when None)."""
    if transform is None:
        return grid
    return PosedGrid(grid.shape, grid.affine, np.asarray(transform, dtype=np.float64))


def template_transform(grid: Grid) -> FloatArray | None:
    """The subject -> template world transform carried by ``grid``, if any."""
    return grid.template_transform if isinstance(grid, PosedGrid) else None


@dataclass(frozen=True)
class FaceMask:
    """Result of a defacing method on one grid.

    Parameters
    ----------
    face
        True on voxels to remove.
    brain
        True inside the brain (not dilated).
    grid
        Grid the masks live on; a :class:`PosedGrid` carrying the subject -> template
        transform when the method registered the template (QC renders in that pose).
    method
        Name of the method that made them.
    face_region
        The registered template face region (for QC); None when not computed.
    """

    face: BoolArray
    brain: BoolArray
    grid: Grid
    method: str
    face_region: BoolArray | None = None
    #: How the face was found when the whole-head registration could not be used, or that
    #: no face is in view (None: the default path).
    finding: str | None = None
    #: ``reface``: real-unit values to write on ``face`` (the template's face), else None.
    replacement: NDArray[np.float32] | None = field(default=None, compare=False)

    def moved_to(self, target: Grid, volume: NDArray[np.float32] | None = None) -> FaceMask:
        """Carry the masks to another grid of the same subject through world mm (--applyto).

        A refaced mask refaces the other image too when its ``volume`` (real units, on
        ``target``) is given: the same template pose, the template's face matched to that
        image's own intensities. Without it the face is removed.
        """
        transform = template_transform(self.grid)
        if target.same_as(self.grid):
            moved = self
        else:
            # Same subject, same world: the template pose is still valid on the other grid.
            target = posed(target, transform)

            def move(mask: BoolArray) -> BoolArray:
                return np.asarray(resample_to(mask, self.grid, target, order=1) > 0.5)

            region = None if self.face_region is None else move(self.face_region)
            moved = FaceMask(
                move(self.face), move(self.brain), target, self.method, region, self.finding
            )
        if self.replacement is None:
            return moved
        if volume is None or transform is None:
            return replace(moved, replacement=None)
        from deidkit.deface.facezone import template_face_values

        values = template_face_values(volume, target, transform, moved.face)
        return replace(moved, replacement=values)


class DefaceMethod(Protocol):
    """What a defacing backend provides."""

    name: str

    def is_available(self) -> bool:
        """Return whether the backend's dependencies are importable."""
        ...

    def face_mask(
        self, volume: NDArray[np.float32], grid: Grid, *, brain: BoolArray | None
    ) -> FaceMask:
        """Compute the face (and brain) masks of ``volume`` on ``grid``."""
        ...


def _importable(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@dataclass(frozen=True)
class _Registered:
    transform: FloatArray
    face: BoolArray
    brain: BoolArray


#: Resolution (mm) at which the template is registered to the subject.
REGISTRATION_MM = 4.0


@functools.lru_cache(maxsize=1)
def _template_coarse() -> tuple[NDArray[np.float32], Grid]:
    from deidkit.deface.registration import prepare
    from deidkit.deface.templates import load_template

    tpl = load_template()
    return prepare(tpl.head, tpl.grid, REGISTRATION_MM)


def register_template(volume: NDArray[np.float32], grid: Grid) -> _Registered:
    """Register the mean head to ``volume`` and warp its face and brain masks onto ``grid``."""
    from deidkit.deface.registration import register_affine

    coarse, coarse_grid = _template_coarse()
    transform = register_affine(
        volume,
        grid,
        coarse,
        coarse_grid,
        voxel_mm=REGISTRATION_MM,
        moving_prepared=True,
        multistart=True,
    )
    return _registered(transform, grid)


#: Singular values of a plausible subject -> template map (children ~1.25, large adults
#: ~0.85); outside, or more anisotropic than :data:`MAX_ANISOTROPY`, the fit is degenerate
#: (a small field of view sheared onto the template).
SCALE_RANGE = (0.6, 1.7)
MAX_ANISOTROPY = 1.4


def plausible(transform: FloatArray) -> bool:
    """Whether a subject -> template world map could relate two real heads."""
    values = np.linalg.svd(np.asarray(transform)[:3, :3], compute_uv=False)
    low, high = float(values.min()), float(values.max())
    return SCALE_RANGE[0] <= low and high <= SCALE_RANGE[1] and high / low <= MAX_ANISOTROPY


def _registered(transform: FloatArray, grid: Grid) -> _Registered:
    from deidkit.deface.templates import load_template

    tpl = load_template()
    face = warp_mask(tpl.face, tpl.grid, grid, world_transform=transform)
    brain = warp_mask(
        tpl.brain, tpl.brain_grid, grid, world_transform=tpl.head_to_brain @ transform
    )
    return _Registered(transform, face, brain)


#: QC note when the whole-head registration was replaced by the partial-view search.
PARTIAL_NOTE = (
    "whole-head registration {why}; template placed by the partial field-of-view search "
    "(similarity, header orientation)"
)


def register_robust(volume: NDArray[np.float32], grid: Grid) -> tuple[_Registered, str | None]:
    """Whole-head registration, else the partial field-of-view search; with a QC note.

    Raises
    ------
    RegistrationError
        If neither gives a plausible transform.
    """
    from deidkit.deface.registration import RegistrationError, register_partial

    try:
        reg = register_template(volume, grid)
        if plausible(reg.transform):
            return reg, None
        why = "was degenerate"
    except RegistrationError:
        why = "failed"
    coarse, coarse_grid = _template_coarse()
    transform = register_partial(volume, grid, coarse, coarse_grid, voxel_mm=REGISTRATION_MM)
    if not plausible(transform):
        raise RegistrationError(f"whole-head registration {why} and the partial search too")
    return _registered(transform, grid), PARTIAL_NOTE.format(why=why)


#: QC note when nothing of the face is in the field of view.
NO_FACE_NOTE = "no face in the field of view; image passed through unchanged"


def _in_view(face: BoolArray, volume: NDArray[np.float32]) -> bool:
    from deidkit.deface.intensity import head_threshold

    return bool(face.any()) and bool((volume[face] > head_threshold(volume)).any())


class TemplateMaskMethod:
    """Default: register the mean head (affine, SimpleITK) and remove its whole face zone.

    The zone (:mod:`deidkit.deface.facezone`) is everything in front of the brain margin
    below the brows, not only pydeface's face slab, which left the nose's midline, the
    philtrum and the chin; ``ears`` adds the tissue beside the brain (the ears).
    """

    name = "mask"

    def __init__(self, *, ears: bool = False) -> None:
        self.ears = ears

    def is_available(self) -> bool:
        """Return whether SimpleITK is importable (the templates are vendored)."""
        return _importable("SimpleITK")

    def face_mask(
        self, volume: NDArray[np.float32], grid: Grid, *, brain: BoolArray | None
    ) -> FaceMask:
        """Register the template and return its warped full face zone.

        When no plausible registration exists (a small or odd field of view), a given brain
        mask still places quickshear's plane; without one the file is refused.

        Raises
        ------
        NoSafeMethodError
            If neither registration nor a given brain mask can place the face.
        """
        from deidkit.deface.facezone import warped_face_zone
        from deidkit.deface.registration import RegistrationError

        try:
            reg, note = register_robust(volume, grid)
        except RegistrationError as exc:
            if brain is None:
                raise NoSafeMethodError(
                    f"{exc}: the face cannot be placed on this field of view and no brain "
                    "mask was given (--brain-mask); file refused, nothing written"
                ) from exc
            note = f"{exc}; face removed under quickshear's plane of the given brain mask"
            face = shear_mask(brain, grid)
            return FaceMask(face, brain, grid, self.name, None, note)
        face = reg.face | warped_face_zone(grid, reg.transform, ears=self.ears)
        if not _in_view(face, volume):
            face, note = np.zeros_like(face), NO_FACE_NOTE
        return FaceMask(
            face=face,
            brain=reg.brain if brain is None else brain,
            grid=posed(grid, reg.transform),
            method=self.name,
            face_region=reg.face,
            finding=note,
        )


class RefaceMethod(TemplateMaskMethod):
    """Replace the face zone with the template's average face, warped to the subject.

    As afni_refacer and mri_reface do: downstream tools that need a head-shaped surface keep
    one, and it is not the subject's. The template's intensities are mapped onto the
    subject's by quantiles of the head voxels outside the face. Without a template pose
    (the plane fallback) the face is removed instead, and the record says so.
    """

    name = "reface"

    def face_mask(
        self, volume: NDArray[np.float32], grid: Grid, *, brain: BoolArray | None
    ) -> FaceMask:
        """The mask method's face zone, with the template's face to write on it."""
        from deidkit.deface.facezone import template_face_values

        mask = super().face_mask(volume, grid, brain=brain)
        transform = template_transform(mask.grid)
        if transform is None or not mask.face.any():
            note = mask.finding
            if transform is None:
                note = f"{note}; no template pose, so the face was removed, not replaced"
            return replace(mask, method=self.name, finding=note)
        values = template_face_values(volume, grid, transform, mask.face)
        return replace(mask, method=self.name, replacement=values)


class QuickshearMethod:
    """Quickshear's shear plane, computed in the head's own (registered) frame, in mm.

    Fixes over ``quickshear.quickshear``: the plane is placed in the registered template's
    frame (so a rolled, yawed or pitched head or an oblique grid does not tilt it; the image's
    world axes only when no registration is possible), the buffer is a perpendicular
    distance in mm (obliquity and anisotropic voxels are handled), the hull edge is chosen
    to cut under the orbits rather than the (often steep) first one, small masks raise a
    typed error instead of an IndexError, and 4D images get the same mask on every volume
    (in ``core``). Without a brain mask, the plane is the template brain's, so it needs no
    whole head in view (a small field of view keeps the partial-view registration's pose).
    """

    name = "quickshear"

    def __init__(self, buffer_mm: float = 10.0, *, ears: bool = False) -> None:
        # A plane under the brain has no notion of ears; accepted so every method takes it.
        del ears
        self.buffer_mm = buffer_mm

    def is_available(self) -> bool:
        """Return whether quickshear (and, for mask estimation, SimpleITK) is importable."""
        return _importable("quickshear")

    def face_mask(
        self, volume: NDArray[np.float32], grid: Grid, *, brain: BoolArray | None
    ) -> FaceMask:
        """Cut below quickshear's plane in the registered frame.

        The brain is the given mask, else the registered template's.

        Raises
        ------
        NoSafeMethodError
            If no registration is possible and no brain mask was given.
        """
        reg, note = self._register(volume, grid, given=brain is not None)
        if reg is None:
            assert brain is not None  # _register raises without a brain mask
            face = shear_mask(brain, grid, buffer_mm=self.buffer_mm)
            return FaceMask(face, brain, grid, self.name, None, note)
        if not _in_view(_face_and_zone(reg, grid), volume):
            face, note = np.zeros(grid.shape, dtype=bool), NO_FACE_NOTE
        elif brain is None:
            face = template_shear_mask(grid, reg.transform, buffer_mm=self.buffer_mm)
        else:
            face = shear_mask(brain, grid, buffer_mm=self.buffer_mm, frame=reg.transform)
        return FaceMask(
            face=face,
            brain=reg.brain if brain is None else brain,
            grid=posed(grid, reg.transform),
            method=self.name,
            face_region=reg.face,
            finding=note,
        )

    @staticmethod
    def _register(
        volume: NDArray[np.float32], grid: Grid, *, given: bool
    ) -> tuple[_Registered | None, str | None]:
        """The template pose; None (with the reason) when a given brain mask must do alone."""
        from deidkit.deface.registration import RegistrationError

        if given and not _importable("SimpleITK"):
            return None, "no registration available; plane placed in the image's world axes"
        try:
            return register_robust(volume, grid)
        except RegistrationError as exc:
            if not given:
                raise NoSafeMethodError(
                    f"{exc}: the face cannot be placed on this field of view and no brain "
                    "mask was given (--brain-mask); file refused, nothing written"
                ) from exc
            return None, f"{exc}; plane of the given brain mask in the image's world axes"


def _face_and_zone(reg: _Registered, grid: Grid) -> BoolArray:
    from deidkit.deface.facezone import warped_face_zone

    return np.asarray(reg.face | warped_face_zone(grid, reg.transform))


def _frame_axis(grid: Grid, frame: FloatArray, row: int) -> NDArray[np.float32]:
    """One coordinate of ``frame @ world`` for every voxel, by broadcasting (no meshgrid)."""
    a = (frame @ grid.affine)[row].astype(np.float32)
    i, j, k = (np.arange(n, dtype=np.float32) for n in grid.shape)
    coords = a[0] * i[:, None, None] + a[1] * j[None, :, None] + a[2] * k[None, None, :] + a[3]
    return np.asarray(coords, dtype=np.float32)


@dataclass(frozen=True)
class ShearPlane:
    """quickshear's plane in a frame's sagittal (A, S) mm: S = s0 + slope * (-A - p0) - offset."""

    p0: float
    s0: float
    slope: float
    offset: float

    def below(self, grid: Grid, frame: FloatArray | None = None) -> BoolArray:
        """Voxels of ``grid`` under the plane (``frame``: grid world -> plane frame mm)."""
        frame = np.eye(4) if frame is None else np.asarray(frame, dtype=np.float64)
        a, s = _frame_axis(grid, frame, 1), _frame_axis(grid, frame, 2)
        return np.asarray(s < self.s0 + self.slope * (-a - self.p0) - self.offset)


def shear_plane(points: FloatArray, *, buffer_mm: float = 10.0) -> ShearPlane:
    """quickshear's plane under brain ``points`` (N x 3 mm; axis 1 anterior, 2 superior).

    The brain's lowest points are projected onto the sagittal (A, S) plane on a 1 mm raster,
    quickshear's own ``convex_hull`` finds the lower hull from the front, and the hull edge
    chosen by :func:`_best_edge`, lowered by ``buffer_mm`` (a true distance), is the plane.

    Raises
    ------
    BrainMaskError
        If there are too few points to define a plane.
    """
    from deidkit.deface._deps import quickshear

    if points.shape[0] < 50:
        raise BrainMaskError("brain mask too small to place a shear plane")
    p = np.floor(-points[:, 1]).astype(np.int64)  # posterior-increasing, as quickshear wants
    s = np.floor(points[:, 2]).astype(np.int64)
    p0, s0 = p.min(), s.min()
    raster = np.zeros((p.max() - p0 + 1, s.max() - s0 + 1), dtype=np.uint8)
    lowest = np.full(raster.shape[0], np.iinfo(np.int64).max)
    np.minimum.at(lowest, p - p0, s - s0)
    rows = np.nonzero(lowest < raster.shape[1])[0]
    raster[rows, lowest[rows]] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # np.cross on 2D vectors
        hull = quickshear().convex_hull(raster)
    if hull.ndim != 2 or hull.shape[1] < 2:
        raise BrainMaskError("brain mask too small to place a shear plane")
    p_start, s_start, slope, offset = _best_edge(hull, orbit_mm=ORBIT_DEPTH_MM, buffer_mm=buffer_mm)
    return ShearPlane(float(p_start + p0), float(s_start + s0), slope, offset)


def shear_mask(
    brain: BoolArray, grid: Grid, *, buffer_mm: float = 10.0, frame: FloatArray | None = None
) -> BoolArray:
    """Return quickshear's face mask of ``brain``: everything below its plane, in mm.

    ``frame`` maps the grid's world mm to the frame the plane is placed in (the registered
    template's, so the head's pose does not tilt it); the image's world axes when None.

    Raises
    ------
    BrainMaskError
        If the brain mask is too small to define a plane.
    """
    if int(brain.sum()) < 50:
        raise BrainMaskError("brain mask too small to place a shear plane")
    to_frame = (np.eye(4) if frame is None else np.asarray(frame)) @ grid.affine
    points = np.argwhere(brain).astype(np.float64) @ to_frame[:3, :3].T + to_frame[:3, 3]
    # The frame may scale (a child's head onto the template): the buffer stays in grid mm.
    buffer = buffer_mm * _frame_scale(frame)
    return shear_plane(points, buffer_mm=buffer).below(grid, frame)


def _frame_scale(frame: FloatArray | None) -> float:
    if frame is None:
        return 1.0
    return float(abs(np.linalg.det(np.asarray(frame)[:3, :3])) ** (1.0 / 3.0))


@functools.lru_cache(maxsize=4)
def _template_plane(buffer_mm: float) -> ShearPlane:
    from deidkit.deface.templates import load_template

    tpl = load_template()
    to_head = np.linalg.inv(tpl.head_to_brain) @ tpl.brain_grid.affine
    points = np.argwhere(tpl.brain).astype(np.float64) @ to_head[:3, :3].T + to_head[:3, 3]
    return shear_plane(points, buffer_mm=buffer_mm)


def template_shear_mask(grid: Grid, transform: FloatArray, *, buffer_mm: float = 10.0) -> BoolArray:
    """quickshear's plane under the template brain, on ``grid`` (``transform``: subject
    world -> template world); needs no brain in the field of view."""
    buffer = round(buffer_mm * _frame_scale(transform), 1)
    return _template_plane(buffer).below(grid, transform)


#: Distance (mm) behind the brain's frontal pole at which the orbits are judged (_best_edge).
ORBIT_DEPTH_MM = 15.0
#: Only hull edges starting within this distance (mm) of the frontal pole are candidates.
FRONT_EDGES_MM = 60.0


def _best_edge(
    hull: NDArray[np.int64], *, orbit_mm: float, buffer_mm: float
) -> tuple[float, float, float, float]:
    """Pick the supporting line of the brain's lower hull that cuts highest under the orbits.

    quickshear takes the first hull edge, which on a raster is often a 1-2 mm step at the
    frontal pole: a steep, noisy plane that can leave the orbits and nose. Every hull edge
    is a supporting line (all brain lies above it), so any of them is safe; among the edges
    near the front, take the one that is highest ``orbit_mm`` behind the frontal pole (where
    the orbits sit under the frontal lobe) after the buffer is applied.

    The buffer is a true distance: quickshear lowers the line by the buffer vertically,
    which is only buffer*cos(angle) from the brain on a steep plane, so lower it by
    buffer/cos (+1 mm for the raster).

    Returns
    -------
    (p, s, slope, offset)
        A point on the chosen edge (raster mm), its slope dS/dP and the vertical offset.
    """
    p_front = float(hull[0][0])
    p_face = p_front + orbit_mm
    best: tuple[float, float, float, float] | None = None
    best_height = -np.inf
    for e in range(hull.shape[1] - 1):
        p_a, s_a = float(hull[0][e]), float(hull[1][e])
        if p_a - p_front > FRONT_EDGES_MM:
            break
        dp, ds = float(hull[0][e + 1]) - p_a, float(hull[1][e + 1]) - s_a
        if dp <= 0:
            continue
        slope = ds / dp
        offset = buffer_mm * float(np.hypot(1.0, slope)) + 1.0
        height = s_a + slope * (p_face - p_a) - offset
        if height > best_height:
            best_height, best = height, (p_a, s_a, slope, offset)
    if best is None:
        raise BrainMaskError("brain mask too small to place a shear plane")
    return best


_REGISTRY: dict[str, str] = {
    "mask": "deidkit.deface.methods:TemplateMaskMethod",
    "quickshear": "deidkit.deface.methods:QuickshearMethod",
    "reface": "deidkit.deface.methods:RefaceMethod",
}


def method_names() -> tuple[str, ...]:
    """Names of the registered methods (plus ``auto``)."""
    return ("auto", *_REGISTRY)


def get_method(name: str, *, ears: bool = False) -> DefaceMethod:
    """Return the method registered as ``name`` (``auto``: mask, else quickshear).

    ``ears``: the face-zone methods also remove the ears.

    Raises
    ------
    MethodUnavailableError
        If the name is unknown or its dependencies are missing.
    """
    candidates = ["mask", "quickshear"] if name == "auto" else [name]
    for candidate in candidates:
        if candidate not in _REGISTRY:
            raise MethodUnavailableError(f"unknown defacing method {candidate!r}")
        module_name, attr = _REGISTRY[candidate].split(":")
        method: DefaceMethod = getattr(importlib.import_module(module_name), attr)(ears=ears)
        if method.is_available():
            return method
    raise MethodUnavailableError(
        f"defacing method {name!r} needs the 'deface' extra: {install_hint('deface')}"
    )
