"""BIDS (and plain folder) handling: which files to deface, sidecar scrubbing.

Defaced: NIfTIs in an ``anat/`` folder whose BIDS suffix is T1w, T2w, FLAIR or PD. In each
``anat/`` folder the first T1w's mask is carried (in world mm) to the other defaced contrasts,
as they are co-registered with it. Other NIfTIs (func, dwi, fmap, ...) keep their voxels
byte for byte and only get their header text scrubbed; JSON sidecars are scrubbed; every
other file is copied unchanged. File names and the folder structure are kept, as BIDS requires.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from deidkit.deface.nifti_io import is_nifti_path

#: BIDS suffixes of anatomical images that show a face.
DEFACE_SUFFIXES: frozenset[str] = frozenset({"T1w", "T2w", "FLAIR", "PD"})

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
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "OperatorsName",
        "PhysiciansOfRecord",
        "NameOfPhysiciansReadingStudy",
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

_DATE_KEY = re.compile(r"(Date|DateTime)$")


def scrub_sidecar(sidecar: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a BIDS JSON sidecar without identifying keys.

    Keys in :data:`IDENTIFYING_SIDECAR_KEYS`, any key ending in ``Date``/``DateTime`` and any
    key starting with ``Patient`` are dropped, in nested objects too. Acquisition parameters
    (RepetitionTime, EchoTime, ...) are kept.
    """

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: clean(v)
                for k, v in value.items()
                if k not in IDENTIFYING_SIDECAR_KEYS
                and not _DATE_KEY.search(k)
                and not k.startswith("Patient")
            }
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    result: dict[str, Any] = clean(sidecar)
    return result


def bids_suffix(path: Path) -> str:
    """The BIDS suffix of a file name (``sub-01_T1w.nii.gz`` -> ``T1w``)."""
    stem = path.name.split(".", 1)[0]
    return stem.rsplit("_", 1)[-1]


def is_bids_root(folder: Path) -> bool:
    """Return whether ``folder`` is a BIDS dataset root."""
    return (folder / "dataset_description.json").is_file()


def wants_deface(path: Path, *, bids: bool) -> bool:
    """Return whether ``path`` is an image to deface (any NIfTI outside BIDS)."""
    if not is_nifti_path(path):
        return False
    if not bids:
        return True
    return path.parent.name == "anat" and bids_suffix(path) in DEFACE_SUFFIXES


def group_anat(paths: list[Path]) -> list[tuple[Path, list[Path]]]:
    """Group images to deface: ``(primary, applyto)`` per ``anat/`` folder.

    The first T1w (sorted by name) of each folder is primary and its mask is applied to the
    folder's other contrasts; further T1w runs and folders without a T1w stand alone.
    """
    by_folder: dict[Path, list[Path]] = {}
    for path in sorted(paths):
        by_folder.setdefault(path.parent, []).append(path)
    groups: list[tuple[Path, list[Path]]] = []
    for files in by_folder.values():
        t1 = [p for p in files if bids_suffix(p) == "T1w"]
        if not t1 or files[0].parent.name != "anat":
            groups.extend((p, []) for p in files)
            continue
        primary = t1[0]
        others = [p for p in files if bids_suffix(p) != "T1w"]
        groups.append((primary, others))
        groups.extend((p, []) for p in t1[1:])
    return groups
