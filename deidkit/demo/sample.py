"""A synthetic PACS export with planted PHI, for the demo, the tests and the benchmark.

:func:`generate_sample_corpus` writes a nested tree of DICOM files (CT, MR with one RLE
instance per series, CR/DX, US flagged as carrying burned-in text, RTSTRUCT or SEG and SR
that reference other instances) plus, optionally, the broken files real exports contain (a
truncated file, a text file, an empty file, a DICOMDIR). Every value is synthetic but marked
as PHI with distinctive *canary* tokens (``CANARY...``) so a test can prove that none survive
de-identification, in file bytes or in paths. Output is a pure function of the arguments
(seeded randomness, no clock), so a corpus is byte-identical on every machine.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.utils import pack_bits
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
)

from deidkit.core.io import atomic_write_bytes
from deidkit.core.optional import import_optional

#: Root of every original UID in the corpus (a fake organisation root); none may survive.
SAMPLE_UID_ROOT: Final = "1.2.826.0.1.3680043.99"

# Released vs. not released: reason codes the batch tool must report for each broken kind.
RELEASE: Final = "release"
REASON_TRUNCATED: Final = "truncated"
REASON_NOT_DICOM: Final = "not_dicom"
REASON_EMPTY: Final = "empty"
REASON_BURNED_IN: Final = "burned_in"
SKIP_DICOMDIR: Final = "dicomdir"

CT_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.4"
CR_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.1"
DX_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.1.1"
US_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.6.1"
SR_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.88.33"
RTSTRUCT_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.481.3"
SEG_STORAGE: Final = "1.2.840.10008.5.1.4.1.1.66.4"
DICOMDIR_STORAGE: Final = "1.2.840.10008.1.3.10"

_MANUFACTURERS: Final = (
    ("GE MEDICAL SYSTEMS", "DISCOVERY MR750"),
    ("SIEMENS", "Skyra"),
    ("Philips Medical Systems", "Ingenia"),
    ("TOSHIBA", "Aquilion"),
)
_SEXES: Final = ("F", "M", "F", "M", "O")
_FIELD_STRENGTHS: Final = ("1.5", "3")
# A creator + element on the PS3.15 E.3.10 safe list, and one that is not.
_SAFE_CREATOR: Final = "GEMS_ACQU_01"
_UNKNOWN_CREATOR: Final = "ACME IMAGING 1.0"


@dataclass(frozen=True)
class SampleFile:
    """One file of the corpus: where it is, what it is, and what the scrubber must do."""

    path: str  # relative POSIX path under the corpus root (contains PHI on purpose)
    kind: str  # CT, MR, MR-RLE, CR, DX, US, SR, RTSTRUCT, SEG, CT-NOMETA, or a broken kind
    patient_id: str | None
    expected: str  # RELEASE, a held-back reason code, or SKIP_DICOMDIR


@dataclass(frozen=True)
class SampleCorpus:
    """What :func:`generate_sample_corpus` wrote: files, planted PHI and expectations."""

    root: Path
    files: tuple[SampleFile, ...]
    canaries: tuple[str, ...]  # every planted PHI token; none may appear in a release
    planted_dates: tuple[str, ...]  # original DA values (birth dates, study dates)
    patient_ids: tuple[str, ...]
    uid_root: str = SAMPLE_UID_ROOT

    @property
    def released(self) -> tuple[str, ...]:
        """Relative paths expected in the release (without ``--allow-burned-in``)."""
        return tuple(f.path for f in self.files if f.expected == RELEASE)

    @property
    def expected_held_back(self) -> dict[str, str]:
        """Relative path -> reason code, for files that must not reach the release."""
        return {
            f.path: f.expected for f in self.files if f.expected not in (RELEASE, SKIP_DICOMDIR)
        }

    @property
    def expected_skipped(self) -> dict[str, str]:
        """Relative path -> reason, for files skipped on purpose (DICOMDIR)."""
        return {f.path: f.expected for f in self.files if f.expected == SKIP_DICOMDIR}


class _Builder:
    """Holds the seeded generator and the canaries planted so far."""

    def __init__(self, seed: int, image_size: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.size = image_size
        self.canaries: list[str] = []
        self.dates: list[str] = []
        self._uid_counter = 0

    def canary(self, label: str) -> str:
        token = f"CANARY{label}Q"
        self.canaries.append(token)
        return token

    def uid(self) -> str:
        self._uid_counter += 1
        tail = int(self.rng.integers(10**8, 10**9))
        return f"{SAMPLE_UID_ROOT}.{tail}.{self._uid_counter}"

    def date(self, year_low: int, year_high: int) -> str:
        year = int(self.rng.integers(year_low, year_high))
        value = f"{year:04d}{int(self.rng.integers(1, 13)):02d}{int(self.rng.integers(1, 29)):02d}"
        self.dates.append(value)
        return value


@dataclass
class _Patient:
    index: int
    patient_id: str
    name: str
    birth_date: str
    sex: str
    manufacturer: str
    model: str
    institution: str
    institution_address: str
    ae_title: str
    folder: str


def _patient(b: _Builder, index: int, n_sites: int) -> _Patient:
    pid = b.canary(f"PID{index}")
    family, given = b.canary(f"FAM{index}"), b.canary(f"GIV{index}")
    site = index % n_sites
    manufacturer, model = _MANUFACTURERS[index % len(_MANUFACTURERS)]
    institution = f"CANARYHOSP{site}Q"
    address = f"CANARYINSTADDR{site}Q"
    if institution not in b.canaries:
        b.canaries += [institution, address]
    return _Patient(
        index=index,
        patient_id=pid,
        name=f"{family}^{given}",
        birth_date=b.date(1935, 2000),
        sex=_SEXES[index % len(_SEXES)],
        manufacturer=manufacturer,
        model=model,
        institution=f"{institution} University Hospital",
        institution_address=f"1 {address} Road",
        ae_title=b.canary(f"AE{index}"),
        folder=f"{family}_{given}_{pid}",
    )


def _person_in_nested_request(b: _Builder, p: _Patient, study_uid: str) -> Sequence:
    # RequestAttributesSequence > item > ReferencedStudySequence > item > PersonName:
    # a PN in an odd tag three levels down.
    inner = Dataset()
    inner.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    inner.ReferencedSOPInstanceUID = study_uid
    inner.add_new(0x0040A123, "PN", b.canary(f"NESTEDPN{p.index}"))
    request = Dataset()
    request.RequestedProcedureID = b.canary(f"REQPROC{p.index}")
    request.ScheduledProcedureStepID = "SPS1"
    request.RequestedProcedureDescription = f"{b.canary(f'REQDESC{p.index}')} protocol"
    request.ReferencedStudySequence = Sequence([inner])
    return Sequence([request])


def _base(
    b: _Builder,
    p: _Patient,
    *,
    sop_class: str,
    modality: str,
    study: dict[str, str],
    series_uid: str,
    series_number: int,
    instance_number: int,
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = b.uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = p.ae_title
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = p.sex
    age = int(study["date"][:4]) - int(p.birth_date[:4])
    ds.PatientAge = f"{age:03d}Y"
    ds.PatientAddress = b.canary(f"ADDR{p.index}")
    ds.PatientTelephoneNumbers = b.canary(f"TEL{p.index}")
    ds.OtherPatientIDs = b.canary(f"OTHERPID{p.index}")
    ds.StudyInstanceUID = study["uid"]
    ds.StudyDate = study["date"]
    ds.SeriesDate = study["date"]
    ds.ContentDate = study["date"]
    ds.StudyTime = "101500"
    ds.ContentTime = f"1016{instance_number % 60:02d}"
    ds.AccessionNumber = study["accession"]
    ds.StudyID = study["study_id"]
    ds.StudyDescription = study["description"]
    ds.ReferringPhysicianName = study["referring"]
    ds.PerformingPhysicianName = b.canary(f"PERF{p.index}")
    ds.OperatorsName = b.canary(f"OPER{p.index}")
    ds.InstitutionName = p.institution
    ds.InstitutionAddress = p.institution_address
    ds.Manufacturer = p.manufacturer
    ds.ManufacturerModelName = p.model
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = f"{b.canary(f'SERDESC{p.index}S{series_number}')} {modality}"
    ds.InstanceNumber = instance_number
    ds.ImageComments = f"Patient {p.name} seen by {b.canary(f'COMMENT{p.index}')}"
    ds.BodyPartExamined = "HEAD" if modality in {"CT", "MR"} else "CHEST"
    ds.RequestAttributesSequence = _person_in_nested_request(b, p, study["uid"])
    # Private block of a vendor on the safe list: one safe element, one unsafe.
    safe = ds.private_block(0x0019, _SAFE_CREATOR, create=True)
    safe.add_new(0x23, "DS", "39.375")
    safe.add_new(0xF0, "LO", b.canary(f"GEPRIV{p.index}"))
    # Private block of an unknown vendor: a PN-like text, a date, a private sequence.
    acme = ds.private_block(0x0029, _UNKNOWN_CREATOR, create=True)
    acme.add_new(0x10, "LO", f"{b.canary(f'ACMEPN{p.index}')}^DOCTOR")
    acme.add_new(0x11, "DA", b.date(2001, 2020))
    item = Dataset()
    item.add_new(0x00100010, "PN", b.canary(f"ACMESEQ{p.index}"))
    acme.add_new(0x12, "SQ", Sequence([item]))
    return ds


def _set_pixels(ds: Dataset, array: np.ndarray, *, photometric: str = "MONOCHROME2") -> None:
    ds.Rows, ds.Columns = int(array.shape[0]), int(array.shape[1])
    ds.SamplesPerPixel = 3 if array.ndim == 3 else 1
    if array.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    bits = 8 if array.dtype == np.uint8 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = (
        bits,
        bits if bits == 8 else 12,
        (7 if bits == 8 else 11),
    )
    ds.PixelRepresentation = 0
    ds.PixelData = array.tobytes()


def _image(b: _Builder, size: int, *, rgb: bool = False) -> np.ndarray:
    if rgb:
        return b.rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    return b.rng.integers(0, 4096, size=(size, size), dtype=np.uint16)


def _encode(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _sop_references(refs: list[Dataset]) -> Sequence:
    """Referenced SOP Class/Instance UID items pointing at ``refs``."""
    items = []
    for ref in refs:
        item = Dataset()
        item.ReferencedSOPClassUID = ref.SOPClassUID
        item.ReferencedSOPInstanceUID = ref.SOPInstanceUID
        items.append(item)
    return Sequence(items)


def _rtstruct(b: _Builder, refs: list[Dataset], ds: Dataset) -> None:
    series = Dataset()
    series.SeriesInstanceUID = refs[0].SeriesInstanceUID
    series.ContourImageSequence = _sop_references(refs)
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = refs[0].StudyInstanceUID
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = refs[0].FrameOfReferenceUID
    frame.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    roi = Dataset()
    roi.ROINumber = 1
    roi.ReferencedFrameOfReferenceUID = refs[0].FrameOfReferenceUID
    roi.ROIName = "GTV"
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence = Sequence([roi])
    ds.StructureSetLabel = "RT1"
    ds.StructureSetDate = ds.StudyDate
    ds.StructureSetTime = "120000"


def _seg(b: _Builder, refs: list[Dataset], ds: Dataset) -> None:
    series = Dataset()
    series.SeriesInstanceUID = refs[0].SeriesInstanceUID
    series.ReferencedInstanceSequence = _sop_references(refs)
    ds.ReferencedSeriesSequence = Sequence([series])
    ds.FrameOfReferenceUID = refs[0].FrameOfReferenceUID
    segment = Dataset()
    segment.SegmentNumber = 1
    segment.SegmentLabel = "lesion"
    segment.SegmentAlgorithmType = "MANUAL"
    ds.SegmentSequence = Sequence([segment])
    ds.SegmentationType = "BINARY"
    frames = []
    for source in _sop_references(refs):
        derivation = Dataset()
        derivation.SourceImageSequence = Sequence([source])
        frame = Dataset()
        frame.DerivationImageSequence = Sequence([derivation])
        frames.append(frame)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    size = int(refs[0].Rows)
    mask = (b.rng.random((len(refs), size, size)) > 0.7).astype(np.uint8)
    ds.NumberOfFrames = len(refs)
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 1
    ds.HighBit = 0
    ds.PixelRepresentation = 0
    ds.PixelData = pack_bits(mask)


def _sr(b: _Builder, p: _Patient, refs: list[Dataset], ds: Dataset) -> None:
    series = Dataset()
    series.SeriesInstanceUID = refs[0].SeriesInstanceUID
    series.ReferencedSOPSequence = _sop_references(refs)
    evidence = Dataset()
    evidence.StudyInstanceUID = refs[0].StudyInstanceUID
    evidence.ReferencedSeriesSequence = Sequence([series])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence([evidence])
    observer = Dataset()
    observer.VerifyingObserverName = b.canary(f"VERIFIER{p.index}")
    observer.VerifyingOrganization = b.canary(f"VERIFORG{p.index}")
    observer.VerificationDateTime = f"{ds.StudyDate}120000"
    ds.VerifyingObserverSequence = Sequence([observer])
    ds.ValueType = "CONTAINER"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    # ContentSequence three deep, the innermost holds a PNAME and a free-text TEXT item.
    person = Dataset()
    person.RelationshipType = "HAS OBS CONTEXT"
    person.ValueType = "PNAME"
    person.PersonName = b.canary(f"SRPN{p.index}")
    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.TextValue = f"Findings discussed with {b.canary(f'SRTEXT{p.index}')}."
    level2 = Dataset()
    level2.RelationshipType = "CONTAINS"
    level2.ValueType = "CONTAINER"
    level2.ContinuityOfContent = "SEPARATE"
    level2.ContentSequence = Sequence([person, text])
    level1 = Dataset()
    level1.RelationshipType = "CONTAINS"
    level1.ValueType = "CONTAINER"
    level1.ContinuityOfContent = "SEPARATE"
    level1.ContentSequence = Sequence([level2])
    ds.ContentSequence = Sequence([level1])


def _study(b: _Builder, p: _Patient, number: int) -> dict[str, str]:
    date = b.date(2005, 2024)
    return {
        "uid": b.uid(),
        "date": date,
        "accession": b.canary(f"ACC{p.index}{number}"),
        "study_id": b.canary(f"SID{p.index}{number}"),
        "description": f"{b.canary(f'STUDESC{p.index}{number}')} exam",
        "referring": b.canary(f"REFDOC{p.index}{number}"),
        "folder": f"{date}_{p.patient_id}_study{number}",
    }


def _patient_files(
    b: _Builder, p: _Patient, *, instances: int, us_jpeg: bool
) -> list[tuple[SampleFile, bytes]]:
    out: list[tuple[SampleFile, bytes]] = []

    def add(ds: Dataset, folder: str, kind: str, expected: str = RELEASE) -> None:
        name = f"{p.folder}/{folder}/{kind}_{ds.InstanceNumber:03d}_{p.patient_id}.dcm"
        out.append((SampleFile(name, kind, p.patient_id, expected), _encode(ds)))

    size = b.size
    study1 = _study(b, p, 1)
    ct_series, frame_uid = b.uid(), b.uid()
    cts = []
    for n in range(1, instances + 1):
        ds = _base(b, p, sop_class=CT_STORAGE, modality="CT", study=study1,
                   series_uid=ct_series, series_number=1, instance_number=n)  # fmt: skip
        ds.FrameOfReferenceUID = frame_uid
        ds.ImagePositionPatient = [0, 0, float(n)]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = "1.0"
        ds.KVP = "120"
        _set_pixels(ds, _image(b, size))
        cts.append(ds)
        add(ds, f"{study1['folder']}/CT_{p.patient_id}", "CT")
    derived = _base(
        b, p, sop_class=RTSTRUCT_STORAGE if p.index % 2 == 0 else SEG_STORAGE,
        modality="RTSTRUCT" if p.index % 2 == 0 else "SEG", study=study1,
        series_uid=b.uid(), series_number=2, instance_number=1,
    )  # fmt: skip
    (_rtstruct if p.index % 2 == 0 else _seg)(b, cts, derived)
    add(derived, f"{study1['folder']}/{derived.Modality}", str(derived.Modality))
    sr = _base(b, p, sop_class=SR_STORAGE, modality="SR", study=study1,
               series_uid=b.uid(), series_number=3, instance_number=1)  # fmt: skip
    _sr(b, p, cts, sr)
    add(sr, f"{study1['folder']}/report", "SR")

    study2 = _study(b, p, 2)
    mr_series, mr_frame = b.uid(), b.uid()
    for n in range(1, instances + 1):
        ds = _base(b, p, sop_class=MR_STORAGE, modality="MR", study=study2,
                   series_uid=mr_series, series_number=1, instance_number=n)  # fmt: skip
        ds.FrameOfReferenceUID = mr_frame
        ds.MagneticFieldStrength = _FIELD_STRENGTHS[p.index % len(_FIELD_STRENGTHS)]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = "3.0"
        _set_pixels(ds, _image(b, size))
        kind = "MR"
        if n == 1:  # one RLE-compressed instance per series
            ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
            kind = "MR-RLE"
        add(ds, f"{study2['folder']}/MR_{p.patient_id}", kind)
    xr_class, xr_mod = (CR_STORAGE, "CR") if p.index % 2 == 0 else (DX_STORAGE, "DX")
    xr = _base(b, p, sop_class=xr_class, modality=xr_mod, study=study2,
               series_uid=b.uid(), series_number=2, instance_number=1)  # fmt: skip
    xr.PixelSpacing = [0.2, 0.2]
    _set_pixels(xr, _image(b, size))
    add(xr, f"{study2['folder']}/{xr_mod}", xr_mod)
    if p.index % 2 == 0:
        us = _base(b, p, sop_class=US_STORAGE, modality="US", study=study2,
                   series_uid=b.uid(), series_number=3, instance_number=1)  # fmt: skip
        us.BurnedInAnnotation = "YES"
        rgb = _image(b, size, rgb=True)
        _set_pixels(us, rgb, photometric="RGB")
        if us_jpeg:
            cv2 = import_optional("cv2", feature="JPEG ultrasound samples", extra="deface")
            ok, encoded = cv2.imencode(".jpg", rgb, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
            if not ok:  # pragma: no cover - opencv always encodes a uint8 RGB array
                raise RuntimeError("JPEG encoding failed")
            us.PixelData = encapsulate([encoded.tobytes()])
            us.PhotometricInterpretation = "YBR_FULL_422"
            us.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        add(us, f"{study2['folder']}/US", "US", REASON_BURNED_IN)
    return out


def _broken_files(
    b: _Builder, p: _Patient, valid: bytes, ct: Dataset
) -> list[tuple[SampleFile, bytes]]:
    base = f"{p.folder}/misc"
    files: list[tuple[SampleFile, bytes]] = []
    # Cut inside the header: the last element's value runs past the end of the file.
    files.append((SampleFile(f"{base}/cut_{p.patient_id}.dcm", "truncated", p.patient_id,
                             REASON_TRUNCATED), valid[:700]))  # fmt: skip
    files.append((SampleFile(f"{base}/notes_{p.patient_id}.txt", "text", p.patient_id,
                             REASON_NOT_DICOM),
                  f"Call {p.name} about the scan.\n".encode() * 4))  # fmt: skip
    files.append((SampleFile(f"{base}/empty_{p.patient_id}.dcm", "empty", p.patient_id,
                             REASON_EMPTY), b""))  # fmt: skip
    # A raw dataset: no preamble, no file meta, implicit VR. Still valid DICOM, released.
    raw = Dataset()
    raw.update(ct)
    raw.SOPInstanceUID = b.uid()
    raw.InstanceNumber = 99
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, raw, implicit_vr=True, little_endian=True)
    files.append((SampleFile(f"{base}/raw_{p.patient_id}", "CT-NOMETA", p.patient_id, RELEASE),
                  buffer.getvalue()))  # fmt: skip
    dicomdir = Dataset()
    dicomdir.file_meta = FileMetaDataset()
    dicomdir.file_meta.MediaStorageSOPClassUID = UID(DICOMDIR_STORAGE)
    dicomdir.file_meta.MediaStorageSOPInstanceUID = UID(b.uid())
    dicomdir.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dicomdir.FileSetID = b.canary("FILESET")[:16]
    dicomdir.FileSetConsistencyFlag = 0
    dicomdir.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    dicomdir.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    dicomdir.DirectoryRecordSequence = Sequence()
    files.append((SampleFile("DICOMDIR", "dicomdir", None, SKIP_DICOMDIR), _encode(dicomdir)))
    return files


def generate_sample_corpus(
    out_dir: Path,
    *,
    n_patients: int = 4,
    seed: int = 0,
    broken: bool = True,
    instances_per_series: int = 3,
    image_size: int = 32,
    us_jpeg: bool = False,
) -> SampleCorpus:
    """Write a synthetic PACS export with planted PHI under ``out_dir``.

    Parameters
    ----------
    out_dir
        Root of the export; created if missing. Existing files of the same name are
        overwritten (the content is deterministic, so a re-run rewrites the same bytes).
    n_patients
        Number of patients; each has a CT study (CT series, RTSTRUCT or SEG, SR) and an MR
        study (MR series with one RLE instance, CR or DX, US on every other patient).
    seed
        Seed of every random choice (UIDs, dates, pixels).
    broken
        Also write broken files: truncated, text, empty, a raw dataset without preamble or
        file meta (valid, to be released) and a DICOMDIR.
    instances_per_series
        Slices in each CT and MR series.
    image_size
        Rows and columns of each image.
    us_jpeg
        Encode ultrasound frames as JPEG Baseline (needs opencv, the ``deface`` extra).

    Returns
    -------
    SampleCorpus
        The files written, with the planted canaries and the expected outcome per file.
    """
    if n_patients < 1 or instances_per_series < 1 or image_size < 2:
        raise ValueError("n_patients, instances_per_series >= 1 and image_size >= 2 required")
    out_dir = Path(out_dir)
    b = _Builder(seed, image_size)
    n_sites = max(1, min(3, (n_patients + 1) // 2))
    written: list[SampleFile] = []
    patient_ids: list[str] = []
    for index in range(n_patients):
        p = _patient(b, index, n_sites)
        patient_ids.append(p.patient_id)
        files = _patient_files(b, p, instances=instances_per_series, us_jpeg=us_jpeg)
        if broken and index == 0:
            first_ct = pydicom.dcmread(io.BytesIO(files[0][1]))
            files += _broken_files(b, p, files[0][1], first_ct)
        for sample, data in files:
            atomic_write_bytes(out_dir / sample.path, data)
            written.append(sample)
    return SampleCorpus(
        root=out_dir,
        files=tuple(sorted(written, key=lambda f: f.path)),
        canaries=tuple(dict.fromkeys(b.canaries)),
        planted_dates=tuple(dict.fromkeys(b.dates)),
        patient_ids=tuple(patient_ids),
    )
