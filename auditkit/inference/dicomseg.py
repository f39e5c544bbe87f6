"""Predicted masks as DICOM Segmentation objects referencing the source series (``--dicom-seg``).

The mask is brought back onto the source DICOM grid (nearest neighbour, when the model ran on
a resampled grid), split into one frame per source image in the series' slice order and written
with highdicom as a binary SEG whose Referenced Series Sequence names the source instances.

A SEG belongs to its patient and study: DICOM makes it carry the source's Patient and Study
attributes, so it is as identifying as the input and goes in the same sensitive output place as
the predictions. Its file name is the row number (``case-00001.dcm``), never an input name; its
UIDs derive from the source series UID and the model hash (the same run gives the same UIDs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from auditkit.imaging import Volume

SEGMENT_LABEL: Final = "model foreground"
SERIES_NUMBER: Final = 9019
MANUFACTURER: Final = "deidkit-auditkit"
#: Type 2 Patient/Study attributes a SEG copies from its source; absent ones go in empty.
PATIENT_STUDY_TYPE2: Final = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


def _with_type2(datasets: tuple[Any, ...]) -> list[Any]:
    """The source headers, with absent Type 2 Patient/Study attributes present and empty.

    Scrubbed or hand-made series often lack them; the SEG then records them empty, as the
    standard allows, instead of failing. The source headers themselves are never changed.
    """
    from pydicom.dataset import Dataset

    headers = []
    for ds in datasets:
        missing = [k for k in PATIENT_STUDY_TYPE2 if k not in ds]
        if missing:
            # A new element dict: copy.copy and Dataset(ds) share the source header's.
            clone = Dataset()
            clone.update(ds)
            if "file_meta" in vars(ds):
                clone.file_meta = ds.file_meta
            ds = clone
            for keyword in missing:
                setattr(ds, keyword, "")
        headers.append(ds)
    return headers


def on_source_grid(mask: np.ndarray, affine: np.ndarray, volume: Volume) -> np.ndarray:
    """``mask`` (voxels of ``affine``) resampled onto ``volume``'s own voxel grid."""
    if mask.shape == volume.data.shape and np.allclose(affine, volume.affine, atol=1e-4):
        return mask.astype(bool)
    import torch
    from monai.data.meta_tensor import MetaTensor
    from monai.transforms.spatial.array import ResampleToMatch

    grid = mask if mask.ndim == 3 else mask[..., None]
    source = MetaTensor(
        torch.from_numpy(grid.astype(np.float32))[None],
        affine=torch.from_numpy(np.asarray(affine, dtype=np.float64)),
    )
    target = MetaTensor(
        torch.zeros((1, *volume.data.shape)),
        affine=torch.from_numpy(np.asarray(volume.affine, dtype=np.float64)),
    )
    resampled = ResampleToMatch(mode="nearest", padding_mode="zeros")(source, img_dst=target)
    return np.asarray(torch.as_tensor(resampled)[0].numpy() > 0.5)


def source_frames(mask: np.ndarray, frame_order: Sequence[int] = ()) -> np.ndarray:
    """Voxels ``[column, row, slice]`` -> frames ``[slice, row, column]`` as DICOM stores them.

    ``frame_order`` (an enhanced multi-frame source, :attr:`Volume.frame_order`): the source
    frame of each slice, so the SEG's frames follow the source's frame numbers.
    """
    frames = np.ascontiguousarray(np.transpose(mask, (2, 1, 0))).astype(np.uint8)
    if not frame_order:
        return frames
    ordered = np.empty_like(frames)
    ordered[list(frame_order)] = frames
    return ordered


def _uid(*parts: str) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["auditkit predict --dicom-seg", *parts]))


def build_seg(mask: np.ndarray, affine: np.ndarray, volume: Volume, *, model_sha256: str) -> Any:
    """A highdicom ``Segmentation`` of ``mask`` referencing ``volume.datasets``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from auditkit.fingerprint import package_versions

    frames = source_frames(on_source_grid(mask, affine, volume), volume.frame_order)
    series_uid = str(getattr(volume.datasets[0], "SeriesInstanceUID", ""))
    version = package_versions(("deidkit-auditkit",)).get("deidkit-auditkit") or "unknown"
    algorithm = hd.AlgorithmIdentificationSequence(
        name="auditkit predict",
        version=str(version),
        family=codes.cid7162.ArtificialIntelligence,
    )
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
        tracking_uid=_uid(series_uid, model_sha256, "tracking"),
        tracking_id=SEGMENT_LABEL,
    )
    return hd.seg.Segmentation(
        source_images=_with_type2(volume.datasets),
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=_uid(series_uid, model_sha256, "series"),
        series_number=SERIES_NUMBER,
        sop_instance_uid=_uid(series_uid, model_sha256, "instance"),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="auditkit predict",
        software_versions=str(version),
        device_serial_number="none",
        omit_empty_frames=False,  # every source image keeps its frame, empty or not
    )


def write_dicom_seg(
    path: Path, mask: np.ndarray, affine: np.ndarray, volume: Volume, *, model_sha256: str
) -> None:
    """Write the SEG of ``mask`` to ``path`` atomically."""
    import io

    from deidkit.core.io import atomic_write_bytes

    seg = build_seg(mask, affine, volume, model_sha256=model_sha256)
    buffer = io.BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(path, buffer.getvalue())


def remove_own_segs(folder: Path) -> list[Path]:
    """Delete the SEGs an earlier ``--dicom-seg`` run wrote in ``folder``, if it holds only those.

    Ours are ``case-NNNNN.dcm`` SEG objects whose Manufacturer is :data:`MANUFACTURER`. When
    anything else is there (another file, a foreign DICOM), nothing is deleted and the output
    check refuses the folder as before. Returns the files deleted.
    """
    import re

    import pydicom

    if not folder.is_dir():
        return []
    files = sorted(folder.iterdir())
    pattern = re.compile(r"^case-\d{5}\.dcm$")
    for path in files:
        if not (path.is_file() and pattern.match(path.name)):
            return []
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # not DICOM, or unreadable: not ours to delete
            return []
        if ds.get("Modality") != "SEG" or ds.get("Manufacturer") != MANUFACTURER:
            return []
    for path in files:
        path.unlink()
    return files
