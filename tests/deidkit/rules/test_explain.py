"""explain_tag says what scrub does: every concrete Table E.1-1 row, both shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from dicom_builders import CT, ROOT
from pydicom.datadict import dictionary_VR
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.core.keys import ProjectKey
from deidkit.rules.explain import explain_tag
from deidkit.rules.profile import Profile, load_profile
from deidkit.rules.standard import concrete_rows, tag_text
from deidkit.scrub.engine import scrub_dataset

KEY = ProjectKey(secret=bytes(range(32)), source="test")

# One non-empty, valid value per VR, so that every action has something to act on.
_VALUES: dict[str, object] = {
    "AE": "STATION1",
    "AS": "048Y",
    "AT": 0x00100010,
    "CS": "ABC",
    "DA": "20190415",
    "DS": "1.5",
    "DT": "20190415101010",
    "FD": 1.0,
    "FL": 1.0,
    "IS": "3",
    "OB": b"\x01\x02",
    "OD": b"\x00" * 8,
    "OF": b"\x00" * 4,
    "OL": b"\x00" * 4,
    "OV": b"\x00" * 8,
    "OW": b"\x01\x02",
    "PN": "DOE^JOHN",
    "SL": 1,
    "SS": 1,
    "SV": 1,
    "TM": "101010",
    "UI": ROOT + "77",
    "UL": 1,
    "UN": b"\x01\x02",
    "UR": "http://example.invalid/x",
    "US": 1,
    "UV": 1,
}


def _vr(tag: int) -> str:
    try:
        vr = dictionary_VR(tag)
    except KeyError:  # newer than pydicom's dictionary: the table's own VR column
        vr = concrete_rows()[tag].vr or "LO"
    return vr.split(" ")[0]  # "US or SS": either is the attribute's VR


def _holding(tag: int) -> pydicom.Dataset:
    """A CT instance with ``tag`` at the top level (group 0002: in its File Meta)."""
    ds = pydicom.Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = ROOT + "1"
    ds.StudyInstanceUID = ROOT + "100"
    ds.SeriesInstanceUID = ROOT + "200"
    ds.PatientID = "PID1"
    ds.Modality = "CT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    vr = _vr(tag)
    if tag >> 16 == 0x0002:
        ds.file_meta.add_new(tag, vr, _VALUES[vr])
    elif vr == "SQ":
        item = pydicom.Dataset()
        item.CodeMeaning = "x"
        ds.add_new(tag, vr, Sequence([item]))
    else:
        ds.add_new(tag, vr, _VALUES.get(vr, "TEXT1"))
    return ds


def _scrub_code(tag: int, profile: Profile) -> tuple[str | None, str]:
    """The code and reason scrub records for ``tag`` (group 0002: what the new meta holds)."""
    ds = _holding(tag)
    result = scrub_dataset(ds, profile=profile, key=KEY)
    if tag >> 16 == 0x0002:
        # File Meta is rebuilt, not walked: compare the value written with the original
        value = ds.file_meta.get(tag)
        if value is None:
            return "X", ""
        return ("K" if value.value == _VALUES[_vr(tag)] else "U"), ""
    found = [a for a in result.actions if a.path == tag_text(tag)]
    return (found[0].action, found[0].reason) if found else (None, "")


@pytest.mark.parametrize("name", ["basic", "research"])
def test_explain_agrees_with_scrub_on_every_table_row(name: str) -> None:
    profile = load_profile(name)
    disagree = []
    for tag in concrete_rows():
        explained = explain_tag(tag_text(tag), profile, sop_class=CT)
        code, reason = _scrub_code(tag, profile)
        if code != explained.resolved or (reason and not reason.startswith(explained.reason)):
            disagree.append((explained.tag, explained.keyword, explained.resolved, code))
    assert disagree == []


def test_keyed_identifiers_follow_the_profile(tmp_path: Path) -> None:
    custom = tmp_path / "custom.yaml"
    custom.write_text(
        "name: custom\nextends: basic\npatient_name: empty\n"
        "overrides:\n  AccessionNumber: D\n  StudyID: X\n",
        encoding="utf-8",
    )
    profile = load_profile(str(custom))
    expected = {"PatientName": "Z", "AccessionNumber": "D", "StudyID": "X", "PatientID": "D"}
    for keyword, code in expected.items():
        explained = explain_tag(keyword, profile, sop_class=CT)
        scrubbed, _ = _scrub_code(int(explained.tag[1:5] + explained.tag[6:10], 16), profile)
        assert (explained.resolved, scrubbed) == (code, code), keyword


def test_cli_explain_patient_name_says_pseudonym() -> None:
    result = CliRunner().invoke(app, ["explain", "PatientName", "--profile", "research"])
    assert result.exit_code == 0
    assert "action: D" in result.stdout and "pseudonym" in result.stdout
