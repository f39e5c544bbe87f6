"""Identifying metadata around images: NIfTI header text and BIDS JSON sidecars.

One set of rules for every stage that writes NIfTI files or sidecars (``deface`` and
``pseudonymise --bids``), so that a release never depends on which command wrote it.

- NIfTI: the free-text header fields (:data:`NIFTI_TEXT_FIELDS`) are emptied and header
  extensions (which can hold a whole DICOM header) are dropped; geometry, data type, scaling
  and voxels are kept. :func:`image_bytes` serialises the scrubbed header and the raw voxel
  array itself, so nothing of the input file outside the header and the voxels (bytes before
  ``vox_offset``, a gzip member's original file name) reaches the output.
- Sidecars: keys that identify a person, a device or a site are removed at any depth, and so
  is every ``Patient*`` key; date keys (``...Date`` / ``...DateTime``) are removed, or
  shifted by a caller's keyed date offset.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "IDENTIFYING_SIDECAR_KEYS",
    "NIFTI_TEXT_FIELDS",
    "DateShift",
    "image_bytes",
    "is_date_key",
    "is_nifti_path",
    "nifti_bytes",
    "raw_data",
    "scrub_nifti_header",
    "scrub_sidecar",
    "sidecar_dates",
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

#: Sidecar keys that identify a person, a date, a device or a site; removed at any depth.
IDENTIFYING_SIDECAR_KEYS: frozenset[str] = frozenset(
    {
        "AcquisitionDateTime",
        "AcquisitionDate",
        "StudyDate",
        "SeriesDate",
        "ContentDate",
        "InstanceCreationDate",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientAge",
        "PatientSex",
        "PatientWeight",
        "PatientSize",
        "OtherPatientIDs",
        "OtherPatientNames",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "RequestingPhysician",
        "OperatorsName",
        "PhysiciansOfRecord",
        "NameOfPhysiciansReadingStudy",
        "ResponsiblePerson",
        "ImageComments",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "DeviceSerialNumber",
        "AccessionNumber",
        "StudyID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "FrameOfReferenceUID",
    }
)

#: Shifts one date text by the subject's offset; None when the text is not a date.
DateShift = Callable[[str], str | None]

_DATE_KEY = re.compile(r"(Date|DateTime)$")


def is_nifti_path(path: Path) -> bool:
    """Return whether ``path`` names a single-file NIfTI (``.nii`` or ``.nii.gz``)."""
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def raw_data(img: Any) -> NDArray[Any]:
    """Return the stored (unscaled) voxel array of a nibabel image in the on-disk dtype."""
    import numpy as np  # here, not at the top: sidecar scrubbing needs no array library

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


def is_date_key(key: str) -> bool:
    """Whether a sidecar key names a date (``...Date``/``...DateTime``, not ``Patient*``)."""
    return bool(_DATE_KEY.search(key)) and not key.startswith("Patient")


def _identifying(key: str) -> bool:
    return key in IDENTIFYING_SIDECAR_KEYS or key.startswith("Patient")


def sidecar_dates(sidecar: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """``(key path, value)`` of every date key :func:`scrub_sidecar` would shift.

    Key paths are dotted (``Nested.StudyDate``); list items add ``[i]``. Keys inside a removed
    (identifying) object are not visited: they are removed with it.
    """
    if isinstance(sidecar, dict):
        for key, value in sidecar.items():
            path = f"{where}.{key}" if where else str(key)
            if is_date_key(key):
                yield path, value
            elif not _identifying(key):
                yield from sidecar_dates(value, path)
    elif isinstance(sidecar, list):
        for index, value in enumerate(sidecar):
            yield from sidecar_dates(value, f"{where}[{index}]")


def scrub_sidecar(sidecar: Any, *, shift_date: DateShift | None = None) -> Any:
    """Return a copy of a BIDS JSON sidecar without identifying keys.

    Removed at any depth: keys in :data:`IDENTIFYING_SIDECAR_KEYS` and any key starting with
    ``Patient``. Date keys (:func:`is_date_key`) are removed too, or with ``shift_date`` kept
    with their value shifted (removed when the value is not a text ``shift_date`` can shift;
    callers that must not lose a date check :func:`sidecar_dates` first). Acquisition
    parameters (RepetitionTime, EchoTime, ...) are kept. The input is not modified.
    """

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            kept: dict[str, Any] = {}
            for key, item in value.items():
                if is_date_key(key):
                    shifted = _shift(item)
                    if shifted is not None:
                        kept[key] = shifted
                elif not _identifying(key):
                    kept[key] = clean(item)
            return kept
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    def _shift(value: Any) -> str | None:
        if shift_date is None or not isinstance(value, str):
            return None
        return shift_date(value)

    return clean(sidecar)
