"""Datasets built in code for the engine tests, with distinctive canaries planted everywhere."""

from __future__ import annotations

from io import BytesIO

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

CT = "1.2.840.10008.5.1.4.1.1.2"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"
SR = "1.2.840.10008.5.1.4.1.1.88.22"
ROOT = "1.2.826.0.1.3680043.2.1125.4242."

CANARIES = (
    "CANARYNAME",
    "CANARYPID",
    "CANARYINST",
    "CANARYTEXT",
    "CANARYPRIV",
    "CANARYDEEP",
    "CANARYMETA",
    "CANARYACC",
    "CANARYSTUDYID",
    "19710203",
    "20190415",
    ROOT,
)


def _item(**values: object) -> pydicom.Dataset:
    item = pydicom.Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def canary_dataset(*, patient_id: str = "CANARYPID", sop: str = "1") -> pydicom.Dataset:
    """A CT-like instance with canaries in nested sequences, private blocks and file meta."""
    ds = pydicom.Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = ROOT + sop
    ds.StudyInstanceUID = ROOT + "100"
    ds.SeriesInstanceUID = ROOT + "200"
    ds.FrameOfReferenceUID = ROOT + "300"
    ds.Modality = "CT"
    ds.PatientName = "CANARYNAME^JOHN"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19710203"
    ds.PatientSex = "M"
    ds.PatientAge = "048Y"
    ds.StudyDate = "20190415"
    ds.SeriesDate = "20190415"
    ds.StudyTime = "101010"
    ds.AccessionNumber = "CANARYACC"
    ds.StudyID = "CANARYSTUDYID"
    ds.InstitutionName = "CANARYINST Hospital"
    ds.InstitutionAddress = "1 CANARYINST Street"
    ds.ReferringPhysicianName = "CANARYNAME^DOC"
    ds.StudyDescription = "CT HEAD CANARYTEXT"
    ds.SeriesDescription = "AX 5mm CANARYTEXT"
    ds.ImageComments = "patient CANARYNAME said CANARYTEXT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Rows = 2
    ds.Columns = 2
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x01\x00\x02\x00\x03\x00\x04\x00"
    # three sequences deep, none of them listed in E.1-1, with PHI at the bottom
    deepest = _item(
        PatientName="CANARYDEEP^ONE",
        ContentDate="20190415",
        ReferencedSOPInstanceUID=ROOT + "9",
        ReferencedSOPClassUID=CT,
    )
    deepest.add_new(0x0040A123, "PN", "CANARYDEEP^PERSON")  # Person Name, an odd place
    middle = _item(ReferencedInstanceSequence=Sequence([deepest]))
    ds.ReferencedSeriesSequence = Sequence(
        [_item(SeriesInstanceUID=ROOT + "200", ReferencedInstanceSequence=Sequence([middle]))]
    )
    ds.OtherPatientIDsSequence = Sequence([_item(PatientID="CANARYPID-2", IssuerOfPatientID="X")])
    # vendor 1: GE, a creator on the safe list, relocated from block 0x10 to block 0x20
    ds.add_new(0x00190020, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00192023, "DS", "1.5")  # Table Speed: safe
    ds.add_new(0x00192001, "LO", "CANARYPRIV GE unsafe")  # not on the safe list
    # vendor 2: unknown creator, with a private sequence, a private date and a PN
    ds.add_new(0x00290010, "LO", "ACME CANARY PACS")
    ds.add_new(0x00291001, "LO", "CANARYPRIV acme")
    ds.add_new(0x00291002, "DA", "20190415")
    inner = pydicom.Dataset()
    inner.add_new(0x00290010, "LO", "ACME CANARY PACS")
    inner.add_new(0x00291010, "PN", "CANARYPRIV^NESTED")
    ds.add_new(0x00291003, "SQ", Sequence([inner]))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.SourceApplicationEntityTitle = "CANARYMETA"
    ds.file_meta.ImplementationVersionName = "CANARYMETA"
    ds.preamble = b"CANARYMETA" + b"\x00" * 118
    return ds


def to_bytes(ds: pydicom.Dataset) -> bytes:
    """Write a dataset as a DICOM file in memory (enforcing the file format)."""
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def reread(data: bytes) -> pydicom.Dataset:
    """Read DICOM file bytes back (from a fresh buffer, as the pipeline does)."""
    return pydicom.dcmread(BytesIO(data))
