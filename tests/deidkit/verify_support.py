"""Builders shared by the verify tests: a tiny original set and its clean release.

The release is written with pydicom directly, in the shape ``deidkit scrub`` produces
(pseudonyms from :mod:`deidkit.core.pseudonym`, ``<P...>/<2.25...>/<2.25...>/<2.25...>.dcm``,
provenance attributes), so the verifier is tested without depending on the scrubber.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import patient_pseudonym, pseudonymous_uid, study_id_pseudonym

ROOT = "1.2.826.0.1.3680043.777"
PATIENT_NAME = "Doe^Johnathan"
PATIENT_ID = "MRN4471923"
STUDY_DATE = "20190304"
BIRTH_DATE = "19610412"
INSTITUTION = "Saint Elsewhere Hospital"
KEY = ProjectKey(secret=bytes(range(32)), source="test")
N_FILES = 3


@dataclass(frozen=True)
class Pair:
    """An original folder and its clean release (plus the key that made it)."""

    original: Path
    release: Path
    key: ProjectKey
    release_files: tuple[Path, ...]
    original_uids: tuple[str, ...]


def _pixels(ds: Dataset) -> None:
    ds.Rows, ds.Columns = 4, 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(16, dtype=np.uint16) * 7).tobytes()


def _write(ds: Dataset, path: Path, sop_uid: str, impl_uid: str) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = impl_uid
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def original_dataset(index: int, patient_name: str = PATIENT_NAME) -> Dataset:
    """One original CT instance full of PHI (instance 2 references instance 0)."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = f"{ROOT}.3.{index + 1}"
    ds.StudyInstanceUID = f"{ROOT}.1.1"
    ds.SeriesInstanceUID = f"{ROOT}.2.1"
    ds.FrameOfReferenceUID = f"{ROOT}.4.1"
    ds.PatientName = patient_name
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = "M"
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC99812"
    ds.StudyID = "STU77"
    ds.InstitutionName = INSTITUTION
    ds.ReferringPhysicianName = "House^Gregory"
    ds.StudyDescription = "CT HEAD"
    ds.ImageComments = "routine"
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = "1.0"
    ds.InstanceNumber = index + 1
    if index == 2:
        ref = Dataset()
        ref.ReferencedSOPClassUID = CTImageStorage
        ref.ReferencedSOPInstanceUID = f"{ROOT}.3.1"
        ds.ReferencedImageSequence = Sequence([ref])
    ds.add_new(0x00290010, "LO", "ACME 1.0")
    ds.add_new(0x00291010, "LO", "internal note")
    _pixels(ds)
    return ds


def release_dataset(orig: Dataset, key: ProjectKey) -> Dataset:
    """What a conformant Basic Profile scrub of ``orig`` looks like."""
    ds = Dataset()
    ds.SOPClassUID = orig.SOPClassUID
    for keyword in (
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "FrameOfReferenceUID",
    ):
        setattr(ds, keyword, pseudonymous_uid(key, getattr(orig, keyword)))
    pseudonym = patient_pseudonym(key, orig.PatientID)
    ds.PatientName = pseudonym
    ds.PatientID = pseudonym
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.AccessionNumber = ""
    ds.StudyID = study_id_pseudonym(key, orig.StudyInstanceUID)
    ds.ReferringPhysicianName = ""
    for keyword in ("Modality", "Manufacturer", "PixelSpacing", "SliceThickness", "InstanceNumber"):
        setattr(ds, keyword, getattr(orig, keyword))
    if "ReferencedImageSequence" in orig:
        ref = Dataset()
        ref.ReferencedSOPClassUID = CTImageStorage
        ref.ReferencedSOPInstanceUID = pseudonymous_uid(
            key, orig.ReferencedImageSequence[0].ReferencedSOPInstanceUID
        )
        ds.ReferencedImageSequence = Sequence([ref])
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "deidkit basic profile"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    _pixels(ds)
    return ds


def release_path(release: Path, ds: Dataset) -> Path:
    """``<P...>/<study>/<series>/<sop>.dcm`` as the scrubber lays it out."""
    return (
        release
        / ds.PatientID
        / ds.StudyInstanceUID
        / ds.SeriesInstanceUID
        / f"{ds.SOPInstanceUID}.dcm"
    )


def build_pair(root: Path, key: ProjectKey = KEY, *, patient_name: str = PATIENT_NAME) -> Pair:
    """Write ``root/original`` (PHI) and ``root/release`` (clean) with N_FILES instances."""
    original, release = root / "original", root / "release"
    files, uids = [], []
    for index in range(N_FILES):
        orig = original_dataset(index, patient_name)
        _write(
            orig,
            original / "Doe_Johnathan" / f"CT{index + 1}.dcm",
            orig.SOPInstanceUID,
            f"{ROOT}.9",
        )
        uids.append(orig.SOPInstanceUID)
        rel = release_dataset(orig, key)
        path = release_path(release, rel)
        _write(rel, path, rel.SOPInstanceUID, pseudonymous_uid(key, "impl"))
        files.append(path)
    return Pair(original, release, key, tuple(files), tuple(uids))
