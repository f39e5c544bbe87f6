"""A BIDS sidecar with planted (fake) PHI under 20+ DICOM keywords, and what each profile keeps.

Shared by the rules' own tests, deface's and ``pseudonymise --bids``'s: the three must agree.
The expectations are written out by hand from Table E.1-1 (2025b), not computed by the code
under test: basic removes every coded key; research (Retain Patient Characteristics, Device
Identity, Modified Dates, Clean Descriptors) keeps, shifts or cleans some of them.
"""

from __future__ import annotations

from typing import Any

#: A sidecar as dcm2niix would write it from a header full of planted identifiers.
PLANTED_SIDECAR: dict[str, Any] = {
    # DICOM keywords Table E.1-1 rules on (basic code / research code in the comment)
    "PatientName": "Doe^Jane",  # D (keyed) / D
    "PatientID": "MRN4711",  # D (keyed) / D
    "PatientBirthDate": "19700101",  # Z / Z
    "PatientSex": "F",  # Z / K
    "PatientAge": "049Y",  # X / K
    "PatientWeight": 61.5,  # X / K
    "InstitutionName": "St Canary Hospital",  # X/Z/D / X/Z/D
    "InstitutionAddress": "1 Canary Lane",  # X / X
    "InstitutionalDepartmentName": "Canary Radiology",  # X / X
    "StationName": "CANARYMR1",  # X/Z/D / K
    "DeviceSerialNumber": "SN4711",  # X/Z/D / K
    "ReferringPhysicianName": "Canarius^Doc",  # Z / Z
    "OperatorsName": "Canary^Op",  # X/Z/D / X/Z/D
    "AccessionNumber": "ACC4711",  # Z / Z
    "StudyInstanceUID": "1.2.826.0.1.4711",  # U / U
    "SeriesInstanceUID": "1.2.826.0.1.4712",  # U / U
    "AcquisitionDateTime": "2019-05-04T10:11:12",  # X/Z/D / C
    "StudyDate": "20190504",  # Z / C
    "SeriesDate": "20190504",  # X/D / C
    "ContentDate": "20190504",  # Z/D / C
    "AcquisitionTime": "10:11:12.500000",  # X/Z / C
    "StudyDescription": "Brain MRI for Jane Doe",  # X / C
    "SeriesDescription": "T1 MPRAGE SAG Dr Canarius",  # X / C
    "ProtocolName": "t1_mprage_canary",  # X/D / C
    "ImageComments": "Doe^Jane",  # X / C (nothing known is left)
    "ContrastBolusAgent": "Gadovist Dr Canarius",  # Z/D / C
    # DICOM keywords E.1-1 does not list: kept, as the scrub keeps them
    "Manufacturer": "Siemens",
    "SoftwareVersions": "syngo MR E11",
    "MagneticFieldStrength": 3,
    "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
    "BodyPartExamined": "BRAIN",
    "PatientPosition": "HFS",
    "EchoTime": 0.003,
    "RepetitionTime": 2.3,
    "FlipAngle": 8,
    # BIDS' and dcm2niix's own keys: numbers and known technical text kept, free text removed
    "PhaseEncodingDirection": "j-",
    "SliceTiming": [0.0, 0.5, 1.0],
    "TaskName": "rest",
    "ConversionSoftware": "dcm2niix",
    "ShimSetting": [1, -2, 3],
    "ProcedureStepDescription": "Canary head for Jane Doe",
    "Note": "call Dr Canarius",
    "Tags": ["Doe", "Jane"],
    "Nested": {"StudyDate": "20190504", "EchoTime": 0.003, "Remark": "Doe^Jane"},
}

#: What every profile keeps as it is.
_ALWAYS: dict[str, Any] = {
    key: PLANTED_SIDECAR[key]
    for key in (
        "Manufacturer",
        "SoftwareVersions",
        "MagneticFieldStrength",
        "ImageType",
        "BodyPartExamined",
        "PatientPosition",
        "EchoTime",
        "RepetitionTime",
        "FlipAngle",
        "PhaseEncodingDirection",
        "SliceTiming",
        "TaskName",
        "ConversionSoftware",
        "ShimSetting",
    )
}

#: Under basic (with or without a date offset): nothing coded survives.
EXPECTED_BASIC: dict[str, Any] = {**_ALWAYS, "Nested": {"EchoTime": 0.003}}

#: Under research without a date offset (deface has no key): dates and times removed.
EXPECTED_RESEARCH_NO_KEY: dict[str, Any] = {
    **_ALWAYS,
    "PatientSex": "F",
    "PatientAge": "049Y",
    "PatientWeight": 61.5,
    "StationName": "CANARYMR1",
    "DeviceSerialNumber": "SN4711",
    # Clean Descriptors removes the PHI spans only (the sidecar's own names and dates among
    # them: "canary" is the operator's name) and keeps every other character
    "StudyDescription": "Brain MRI for",
    "SeriesDescription": "T1 MPRAGE SAG",
    "ProtocolName": "t1_mprage_",
    "ContrastBolusAgent": "Gadovist",
    "Nested": {"EchoTime": 0.003},
}


def mark(text: str) -> str:
    """A stand-in date shift that shows which values went through it."""
    return f"shifted:{text}"


#: Under research with a date offset (``mark`` as the shift): dates shifted, times kept.
EXPECTED_RESEARCH_SHIFTED: dict[str, Any] = {
    **EXPECTED_RESEARCH_NO_KEY,
    "AcquisitionDateTime": "shifted:2019-05-04T10:11:12",
    "StudyDate": "shifted:20190504",
    "SeriesDate": "shifted:20190504",
    "ContentDate": "shifted:20190504",
    "AcquisitionTime": "10:11:12.500000",
    "Nested": {"StudyDate": "shifted:20190504", "EchoTime": 0.003},
}

#: Planted values none of which may survive any profile.
NEVER_KEPT = (
    "Doe",
    "Jane",
    "MRN4711",
    "Canary Hospital",
    "Canary Lane",
    "Canary Radiology",
    "Canarius",
    "ACC4711",
    "1.2.826.0.1",
    "19700101",
)
