"""Identifying metadata around images: NIfTI header text.

One set of rules for every stage that writes NIfTI files (``deface`` and
``pseudonymise --bids``), so that a release never depends on which command wrote it.

- NIfTI: the free-text header fields (:data:`NIFTI_TEXT_FIELDS`) are emptied and header
  extensions (which can hold a whole DICOM header) are dropped; geometry, data type, scaling
  and voxels are kept. :func:`image_bytes` serialises the scrubbed header and the raw voxel
  array itself, so nothing of the input file outside the header and the voxels (bytes before
  ``vox_offset``, a gzip member's original file name) reaches the output.

BIDS JSON sidecars are scrubbed by the profile's Table E.1-1 codes, which live a layer up
(:mod:`deidkit.rules.sidecars`).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "NIFTI_TEXT_FIELDS",
    "image_bytes",
    "is_nifti_path",
    "nifti_bytes",
    "raw_data",
    "scrub_nifti_header",
    "slope_inter",
]

#: Free-text NIfTI header fields that may carry names, dates or site information (the unused
#: ANALYZE leftovers ``db_name``/``data_type`` and NIfTI-2's ``unused_str`` included: nothing
#: reads them, anything can be written there).
NIFTI_TEXT_FIELDS: tuple[str, ...] = (
    "descrip",
    "aux_file",
    "intent_name",
    "db_name",
    "data_type",
    "unused_str",
)


def is_nifti_path(path: Path) -> bool:
    """Return whether ``path`` names a single-file NIfTI (``.nii`` or ``.nii.gz``)."""
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def raw_data(img: Any) -> NDArray[Any]:
    """Return the stored (unscaled) voxel array of a nibabel image in the on-disk dtype."""
    import numpy as np  # here, not at the top: importing core loads no array library

    proxy = img.dataobj
    if hasattr(proxy, "get_unscaled"):
        return np.asarray(proxy.get_unscaled())
    return np.asarray(proxy)


def slope_inter(img: Any) -> tuple[float, float]:
    """Return the effective scaling of a nibabel image (1, 0 when the header has none).

    nibabel moves a loaded file's scaling from ``img.header`` onto ``img.dataobj``.
    """
    import numpy as np

    proxy: Any = img.dataobj
    header: Any = img.header
    if hasattr(proxy, "slope"):
        slope, inter = proxy.slope, proxy.inter
    else:
        slope, inter = header.get_slope_inter()
    s = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    i = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    return s, i


def _blank_text(header: Any) -> Any:
    for field in NIFTI_TEXT_FIELDS:
        if field in header:
            header[field] = b""
    header.extensions.clear()
    header["vox_offset"] = header.single_vox_offset
    return header


def scrub_nifti_header(img: Any) -> Any:
    """Return a copy of a nibabel NIfTI image whose header text and extensions are emptied.

    The fields of :data:`NIFTI_TEXT_FIELDS` are blanked and header extensions are dropped.
    Geometry, dtype and scaling are unchanged; the voxel data is shared, not copied.
    """
    header = _blank_text(img.header.copy())
    return img.__class__(img.dataobj, img.affine, header)


def nifti_bytes(header: Any, raw: NDArray[Any], *, scaling: tuple[float, float], gz: bool) -> bytes:
    """Serialise ``header`` (scrubbed here), ``scaling`` and raw voxels ``raw`` to file bytes.

    ``.nii.gz`` bytes use gzip ``mtime=0`` and no file name, so the same input gives the same
    bytes and no input name travels inside the member header.

    Raises
    ------
    ValueError
        If ``raw`` does not have the header's shape.
    """
    import numpy as np

    hdr = _blank_text(header.copy())
    slope, inter = scaling
    if (slope, inter) == (1.0, 0.0):
        hdr.set_slope_inter(np.nan, np.nan)
    else:
        hdr.set_slope_inter(slope, inter)
    if tuple(raw.shape) != tuple(hdr.get_data_shape()):
        raise ValueError("voxel array does not match the header shape")
    buffer = io.BytesIO()
    hdr.write_to(buffer)
    hdr.data_to_fileobj(raw, buffer, rescale=False)
    data = buffer.getvalue()
    return gzip.compress(data, compresslevel=1, mtime=0) if gz else data


def image_bytes(img: Any, *, raw: NDArray[Any] | None = None, gz: bool) -> bytes:
    """Serialise a nibabel image (optionally with replacement raw voxels), header scrubbed."""
    data = raw_data(img) if raw is None else raw
    return nifti_bytes(img.header, data, scaling=slope_inter(img), gz=gz)
