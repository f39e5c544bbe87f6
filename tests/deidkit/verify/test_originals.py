"""Verify with originals on a release from ``deidkit scrub``: no false alarms on what the
standard keeps, found on pydicom's own test files (QA on corpora never seen).

Each planted situation here made ``deidkit verify --original`` fail a correct release:
files without Patient ID, a retained attribute that repeats another attribute's value,
an anatomy word that is another patient's name, numbers that looked like a phone number,
and a build date in Software Versions. Real leaks must still fail (the last test).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dicom_builders import CT, ROOT, to_bytes
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import EXIT_OK, EXIT_PHI_FOUND

runner = CliRunner()


def _instance(n: int, *, study: int, **values: object) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = f"{ROOT}7.{n}"
    ds.StudyInstanceUID = f"{ROOT}8.{study}"
    ds.SeriesInstanceUID = f"{ROOT}9.{study}"
    ds.Modality = "CT"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return to_bytes(ds)


def _scrub_and_verify(
    tmp_path: Path, files: dict[str, bytes], key_file: Path, profile: str
) -> tuple[int, list[dict[str, str]]]:
    src = tmp_path / "in"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    release = tmp_path / "release"
    args = ["scrub", str(src), str(release), "--profile", profile, "--key-file", str(key_file)]
    scrub = runner.invoke(app, [*args, "--workers", "1"])
    assert scrub.exit_code == EXIT_OK, scrub.output
    out = tmp_path / "findings.json"
    args = ["verify", str(release), "--original", str(src), "--key-file", str(key_file)]
    result = runner.invoke(app, [*args, "--json-out", str(out), "--workers", "1"])
    return result.exit_code, json.loads(out.read_text())["findings"]


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_standard_conformant_release_is_clean(tmp_path: Path, key_file: Path, profile: str) -> None:
    files = {
        # no Patient ID: one keyed on name + birth date, two keyed on their study
        "a.dcm": _instance(1, study=1, PatientName="Quimby^Ann", PatientBirthDate="19700101"),
        "b.dcm": _instance(2, study=2),
        "c.dcm": _instance(3, study=3),
        # Manufacturer (kept by every profile) repeats the Institution Name
        "d.dcm": _instance(
            4, study=4, PatientID="PID4", InstitutionName="TOSHIBA", Manufacturer="TOSHIBA_MEC"
        ),
        # another patient's name part is an anatomy word kept in a cleaned descriptor
        "e.dcm": _instance(5, study=5, PatientID="PID5", PatientName="Abdomen^Zed"),
        "f.dcm": _instance(
            6,
            study=6,
            PatientID="PID6",
            BodyPartExamined="ABDOMEN",
            ImageComments="Image with 10 of 255 128 128",
            SoftwareVersions="OS.09__[2010/06/14]_16:45",
        ),
    }
    code, findings = _scrub_and_verify(tmp_path, files, key_file, profile)
    errors = [f for f in findings if f["severity"] == "error"]
    assert errors == []
    assert code == EXIT_OK
    warned = {(f["check"], f["keyword"]) for f in findings if f["severity"] == "warn"}
    assert ("original-value", "Manufacturer") in warned


def test_own_name_in_a_retained_attribute_is_still_an_error(tmp_path: Path, key_file: Path) -> None:
    # Body Part Examined is kept by the standard, but here it holds this patient's own
    # family name: the patient's identity is never "retained content", so still an error.
    files = {
        "a.dcm": _instance(
            1,
            study=1,
            PatientID="PID1",
            PatientName="Zanzibarov^Ann",
            BodyPartExamined="ZANZIBAROV",
        ),
    }
    code, findings = _scrub_and_verify(tmp_path, files, key_file, "basic")
    hits = [f for f in findings if f["check"] == "original-value" and f["severity"] == "error"]
    assert [f["keyword"] for f in hits] == ["BodyPartExamined"]
    assert code == EXIT_PHI_FOUND


def test_long_values_and_pydicom_warnings_in_originals(
    tmp_path: Path, key_file: Path, recwarn: pytest.WarningsRecorder
) -> None:
    # A value thousands of characters long once overflowed the value search's regex
    # builder; pydicom's warnings about invalid values quote them and must never surface.
    files = {
        "a.dcm": _instance(
            1,
            study=1,
            PatientID="LONGPID" + "7" * 6000,
            PatientName="Quimby^Ann",
            FrameOfReferenceUID="1.2.840.10008.QUIMBYUID",
            SpecificCharacterSet="ISO_IR 999",  # unknown: pydicom warns, quoting it
            InstitutionName="Quimby Clinic",
        ),
        "b.dcm": _instance(2, study=2, PatientID="PID2"),
    }
    recwarn.clear()  # building the files warned about the invalid UID (in the test, not deidkit)
    code, findings = _scrub_and_verify(tmp_path, files, key_file, "basic")
    assert code == EXIT_OK
    assert [f for f in findings if f["severity"] == "error"] == []
    assert not [w for w in recwarn if "pydicom" in w.filename or "QUIMBY" in str(w.message)]
