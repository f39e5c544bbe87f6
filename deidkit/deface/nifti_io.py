"""NIfTI reading and byte-exact writing: keep grid, affine, dtype and scaling; scrub text.

nibabel's own ``to_filename`` recomputes ``scl_slope``/``scl_inter`` for integer data, so the
writer here serialises the (scrubbed) original header and the raw, unscaled voxel array itself.
``.nii.gz`` is written with gzip ``mtime=0`` so the same input gives byte-identical output.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray

from deidkit.deface.errors import UnsupportedImageError

#: Free-text NIfTI header fields that may carry names, dates or site information.
NIFTI_TEXT_FIELDS: tuple[str, ...] = ("descrip", "aux_file", "intent_name", "db_name")

NiftiImage = nib.Nifti1Image | nib.Nifti2Image


def is_nifti_path(path: Path) -> bool:
    """Return whether ``path`` names a single-file NIfTI (``.nii`` or ``.nii.gz``)."""
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


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


def raw_data(img: NiftiImage) -> NDArray[Any]:
    """Return the stored (unscaled) voxel array in the on-disk dtype."""
    proxy = img.dataobj
    if hasattr(proxy, "get_unscaled"):
        return np.asarray(proxy.get_unscaled())
    return np.asarray(proxy)


def slope_inter(img: NiftiImage) -> tuple[float, float]:
    """Return the effective scaling (1, 0 when the header has none).

    nibabel moves a loaded file's scaling from ``img.header`` onto ``img.dataobj``.
    """
    proxy: Any = img.dataobj
    header: Any = img.header
    if hasattr(proxy, "slope"):
        slope, inter = proxy.slope, proxy.inter
    else:
        slope, inter = header.get_slope_inter()
    s = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    i = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    return s, i


def scrub_nifti_header(img: NiftiImage) -> NiftiImage:
    """Return a copy of ``img`` whose header text fields and extensions are emptied.

    ``descrip``, ``aux_file``, ``intent_name`` and ``db_name`` are blanked and header
    extensions (which can hold whole DICOM headers) are dropped. Geometry, dtype and scaling
    are unchanged; the voxel data is shared, not copied.
    """
    header: Any = img.header.copy()  # type: ignore[no-untyped-call]
    for field in NIFTI_TEXT_FIELDS:
        if field in header:
            header[field] = b""
    header.extensions.clear()
    header["vox_offset"] = header.single_vox_offset
    return img.__class__(img.dataobj, img.affine, header)


def nifti_bytes(header: Any, raw: NDArray[Any], *, scaling: tuple[float, float], gz: bool) -> bytes:
    """Serialise ``header`` (scrubbed), ``scaling`` and raw voxels ``raw`` to file bytes."""
    hdr = header.copy()
    slope, inter = scaling
    if (slope, inter) == (1.0, 0.0):
        hdr.set_slope_inter(np.nan, np.nan)
    else:
        hdr.set_slope_inter(slope, inter)
    for field in NIFTI_TEXT_FIELDS:
        if field in hdr:
            hdr[field] = b""
    hdr.extensions.clear()
    hdr["vox_offset"] = hdr.single_vox_offset
    if tuple(raw.shape) != tuple(hdr.get_data_shape()):
        raise UnsupportedImageError("voxel array does not match the header shape")
    buffer = io.BytesIO()
    hdr.write_to(buffer)
    hdr.data_to_fileobj(raw, buffer, rescale=False)
    data = buffer.getvalue()
    return gzip.compress(data, compresslevel=1, mtime=0) if gz else data


def image_bytes(img: NiftiImage, *, raw: NDArray[Any] | None = None, gz: bool) -> bytes:
    """Serialise ``img`` (optionally with replacement raw voxels) with a scrubbed header."""
    data = raw_data(img) if raw is None else raw
    return nifti_bytes(img.header, data, scaling=slope_inter(img), gz=gz)
