"""NIfTI reading and byte-exact writing: keep grid, affine, dtype and scaling; scrub text.

nibabel's own ``to_filename`` recomputes ``scl_slope``/``scl_inter`` for integer data, so the
writer serialises the (scrubbed) original header and the raw, unscaled voxel array itself.
``.nii.gz`` is written with gzip ``mtime=0`` so the same input gives byte-identical output.
The scrubbing and the writer live in :mod:`deidkit.core.metadata`, shared with
``pseudonymise --bids``; this module adds reading and the deface stage's typed errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
from numpy.typing import NDArray

from deidkit.core import metadata
from deidkit.core.metadata import (
    NIFTI_TEXT_FIELDS,
    is_nifti_path,
    raw_data,
    scrub_nifti_header,
    slope_inter,
)
from deidkit.deface.errors import UnsupportedImageError

__all__ = [
    "NIFTI_TEXT_FIELDS",
    "NiftiImage",
    "image_bytes",
    "is_nifti_path",
    "load_nifti",
    "nifti_bytes",
    "raw_data",
    "scrub_nifti_header",
    "slope_inter",
]

NiftiImage = nib.Nifti1Image | nib.Nifti2Image


def load_nifti(path: Path) -> NiftiImage:
    """Load a single-file NIfTI-1/2 image.

    Raises
    ------
    UnsupportedImageError
        If the file is not a readable single-file NIfTI image.
    """
    if not is_nifti_path(path):
        raise UnsupportedImageError(f"{path.name}: not a .nii or .nii.gz file")
    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise UnsupportedImageError(f"{path.name}: not a readable NIfTI image") from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise UnsupportedImageError(f"{path.name}: not a single-file NIfTI image")
    return img


def nifti_bytes(header: Any, raw: NDArray[Any], *, scaling: tuple[float, float], gz: bool) -> bytes:
    """Serialise ``header`` (scrubbed), ``scaling`` and raw voxels ``raw`` to file bytes.

    Raises
    ------
    UnsupportedImageError
        If ``raw`` does not have the header's shape.
    """
    if tuple(raw.shape) != tuple(header.get_data_shape()):
        raise UnsupportedImageError("voxel array does not match the header shape")
    return metadata.nifti_bytes(header, raw, scaling=scaling, gz=gz)


def image_bytes(img: NiftiImage, *, raw: NDArray[Any] | None = None, gz: bool) -> bytes:
    """Serialise ``img`` (optionally with replacement raw voxels) with a scrubbed header."""
    data = raw_data(img) if raw is None else raw
    return nifti_bytes(img.header, data, scaling=slope_inter(img), gz=gz)
