"""Deface 3D head scans in world mm, never touch the brain, and prove it.

Public API
----------
deface_image(img, ...)            deface a nibabel NIfTI image in memory
deface_raw(raw, grid, ...)        the same on a stored voxel array and its grid
run_batch(INPUT, OUTPUT, options) the ``deidkit deface`` command as a function
run_url_batch(INPUT, OUTPUT, ...) the same where INPUT or OUTPUT is an fsspec URL
scrub_nifti_header(img)           empty NIfTI free-text header fields and extensions
scrub_sidecar(dict, profile=...)  a BIDS JSON sidecar under a profile's E.1-1 codes

Heavy optional dependencies (SimpleITK, OpenCV, quickshear) are imported lazily, so
importing this package is cheap; see :func:`deidkit.deface.methods.get_method`.
"""

from __future__ import annotations

from typing import Any

from deidkit.deface.batch import DefaceOptions, DefaceReport, FileResult, run_batch
from deidkit.deface.bids import scrub_sidecar
from deidkit.deface.core import BRAIN_MARGIN_MM, DefaceOutcome, deface_raw
from deidkit.deface.errors import (
    BrainMaskError,
    BrainOverlapError,
    DefaceError,
    FaceStillDetectedError,
    MethodUnavailableError,
    NoSafeMethodError,
    UnsupportedImageError,
)
from deidkit.deface.geometry import Grid, grid_of
from deidkit.deface.methods import FaceMask, get_method, method_names
from deidkit.deface.nifti_io import NIFTI_TEXT_FIELDS, raw_data, scrub_nifti_header, slope_inter
from deidkit.deface.remote import run_url_batch

__all__ = [
    "BRAIN_MARGIN_MM",
    "NIFTI_TEXT_FIELDS",
    "BrainMaskError",
    "BrainOverlapError",
    "DefaceError",
    "DefaceOptions",
    "DefaceOutcome",
    "DefaceReport",
    "FaceMask",
    "FaceStillDetectedError",
    "FileResult",
    "Grid",
    "MethodUnavailableError",
    "NoSafeMethodError",
    "UnsupportedImageError",
    "deface_image",
    "deface_raw",
    "get_method",
    "method_names",
    "run_batch",
    "run_url_batch",
    "scrub_nifti_header",
    "scrub_sidecar",
]


def deface_image(
    img: Any,
    *,
    method: str = "auto",
    brain_mask: Any | None = None,
    blur: bool = False,
    margin_mm: float = BRAIN_MARGIN_MM,
    ears: bool = False,
) -> tuple[Any, DefaceOutcome]:
    """Deface a nibabel NIfTI image in memory.

    Parameters
    ----------
    img
        ``nibabel.Nifti1Image`` / ``Nifti2Image`` (3D or 4D).
    method
        ``auto``, ``mask``, ``quickshear`` or ``reface``.
    brain_mask
        Optional NIfTI brain mask on the same grid.
    blur
        Blur the face instead of zeroing it.
    margin_mm
        Dilation of the brain mask that must stay unchanged.
    ears
        ``mask``/``reface``: also remove the ears.

    Returns
    -------
    (image, outcome)
        A new image with the input's grid, affine, dtype and scaling and a scrubbed header,
        and the evidence (:class:`DefaceOutcome`).

    Raises
    ------
    BrainOverlapError
        If defacing would change a voxel inside the dilated brain (``NoSafeMethodError``:
        no method can remove the face without touching it, with the reason).
    BrainMaskError
        If ``brain_mask`` is on another grid.
    """
    import numpy as np

    from deidkit.deface.core import check_brain_mask

    grid = grid_of(img.shape, img.affine)
    brain = None
    if brain_mask is not None:
        data = np.nan_to_num(np.asarray(brain_mask.dataobj, dtype=np.float32))
        brain = check_brain_mask(data > 0.5, grid, grid_of(brain_mask.shape, brain_mask.affine))
    raw = raw_data(img)
    scaling = slope_inter(img)
    outcome = deface_raw(
        raw,
        grid,
        scaling=scaling,
        method=method,
        brain=brain,
        blur=blur,
        margin_mm=margin_mm,
        ears=ears,
    )
    clean = scrub_nifti_header(img)
    header: Any = clean.header.copy()  # type: ignore[no-untyped-call]
    slope, inter = scaling
    new = img.__class__(outcome.raw, img.affine, header)
    new.header.set_slope_inter(slope, inter)
    return new, outcome
