"""Code C on free text (issue 14): only the PHI spans go, in descriptors, SR trees, graphics."""

from __future__ import annotations

import pydicom
import pytest
from dicom_builders import ROOT, SR, canary_dataset, reread, to_bytes
from pydicom.sequence import Sequence

from deidkit.core.keys import ProjectKey
from deidkit.rules.phi_lexicon import name_lists
from deidkit.rules.profile import load_profile
from deidkit.scrub.engine import ScrubResult, scrub_dataset

KEY = ProjectKey(secret=bytes(range(32)), source="test")
RESEARCH = load_profile("research")
needs_names = pytest.mark.skipif(
    not name_lists().first, reason="philter-lite (the [names] extra) is not installed"
)


def _scrub(ds: pydicom.Dataset, profile: str = "research") -> tuple[pydicom.Dataset, ScrubResult]:
    result = scrub_dataset(ds, profile=load_profile(profile), key=KEY)
    return reread(to_bytes(ds)), result


def _patient(ds: pydicom.Dataset) -> pydicom.Dataset:
    ds.PatientName = "QUIBBLEFORTH^ZEPHYRINE"
    ds.PatientBirthDate = "19710203"
    ds.StudyDate = "20190304"
    ds.AccessionNumber = "ACC98X21"
    return ds


def _code(value: str, meaning: str, scheme: str = "DCM") -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _content(value_type: str, meaning: str, **values: object) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = value_type
    item.ConceptNameCodeSequence = Sequence([_code("121106", meaning)])
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _sr() -> pydicom.Dataset:
    ds = _patient(canary_dataset())
    ds.SOPClassUID = SR
    ds.Modality = "SR"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = Sequence(
        [
            _content("TEXT", "Comment", TextValue="Seen with her husband Bartholomew Quibbleforth"),
            _content("TEXT", "Comment", TextValue="No acute findings; ACC98X21 on 03/04/2019"),
            _content("PNAME", "Person Observer Name", PersonName="QUIBBLEFORTH^Z"),
            _content("DATE", "Study Date", Date="20190304"),
            _content("UIDREF", "Study Instance UID", UID=ROOT + "100"),
            _content(
                "CODE", "Finding",
                ConceptCodeSequence=Sequence([_code("99LOCAL", "Quibbleforth lesion", "99X")]),
            ),
            _content(
                "CODE", "Finding",
                ConceptCodeSequence=Sequence([_code("F-01710", "Mass", "SRT")]),
            ),
        ]
    )
    return ds


def test_descriptors_without_phi_stay_verbatim() -> None:
    ds = _patient(canary_dataset())
    ds.SeriesDescription = "ep2d_diff_mddw_20_p2"
    ds.ProtocolName = "AAHead_Scout_32ch-head-coil"
    ds.StudyDescription = "Thorax 1.0 B70f"
    out, result = _scrub(ds)
    assert out.SeriesDescription == "ep2d_diff_mddw_20_p2"
    assert out.ProtocolName == "AAHead_Scout_32ch-head-coil"
    assert out.StudyDescription == "Thorax 1.0 B70f"
    reasons = [a.reason for a in result.actions if a.keyword == "SeriesDescription"]
    assert reasons and reasons[0].endswith("no PHI span found, kept as written")


def test_descriptor_loses_the_patients_own_values_only() -> None:
    ds = _patient(canary_dataset())
    ds.SeriesDescription = "T2_quibbleforth_ax 04.03.2019"
    out, result = _scrub(ds)
    assert out.SeriesDescription == "T2__ax"
    (record,) = [a for a in result.actions if a.keyword == "SeriesDescription"]
    assert record.action == "C"
    assert record.reason.endswith("PHI spans removed: name 1, date 1")


def test_basic_profile_still_removes_descriptors() -> None:
    ds = _patient(canary_dataset())
    ds.SeriesDescription = "ep2d_diff_mddw_20_p2"
    out, _ = _scrub(ds, "basic")
    assert "SeriesDescription" not in out


@needs_names
def test_structured_content_keeps_the_tree_and_cleans_its_items() -> None:
    out, result = _scrub(_sr())
    items = out.ContentSequence
    assert [i.ValueType for i in items] == ["TEXT", "TEXT", "PNAME", "DATE", "UIDREF", "CODE",
                                            "CODE"]
    assert items[0].TextValue == "Seen with her husband"
    assert items[1].TextValue == "No acute findings;  on"
    assert "QUIBBLEFORTH" not in str(items[2].PersonName) and str(items[2].PersonName)
    assert items[3].Date != "20190304" and len(items[3].Date) == 8  # shifted
    assert items[4].UID != ROOT + "100" and items[4].UID == out.StudyInstanceUID
    assert items[5].ConceptCodeSequence[0].CodeMeaning == "lesion"
    assert items[5].ConceptCodeSequence[0].CodeValue == "99LOCAL"
    assert items[6].ConceptCodeSequence[0].CodeMeaning == "Mass"
    assert items[0].ConceptNameCodeSequence[0].CodeMeaning == "Comment"
    logged = " ".join(f"{a.path} {a.keyword} {a.reason}" for a in result.actions)
    assert "PHI spans removed: name 2" in logged
    for value in ("Quibbleforth", "QUIBBLEFORTH", "Bartholomew", "ACC98X21", "2019"):
        assert value not in logged


def test_graphic_annotation_text_is_cleaned() -> None:
    ds = _patient(canary_dataset())
    text = pydicom.Dataset()
    text.UnformattedTextValue = "L kidney, Zephyrine 2019-03-04"
    text.AnchorPointAnnotationUnits = "PIXEL"
    annotation = pydicom.Dataset()
    annotation.GraphicLayer = "LAYER1"
    annotation.TextObjectSequence = Sequence([text])
    ds.GraphicAnnotationSequence = Sequence([annotation])
    out, _ = _scrub(ds)
    kept = out.GraphicAnnotationSequence[0].TextObjectSequence[0].UnformattedTextValue
    assert kept == "L kidney,"


def test_type1_text_that_is_all_phi_gets_a_dummy() -> None:
    ds = _patient(canary_dataset())
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.5"  # RT Plan: RT Plan Label is Type 1
    ds.Modality = "RTPLAN"
    ds.RTPlanLabel = "Quibbleforth"
    out, result = _scrub(ds)
    assert str(out.RTPlanLabel).strip() and "uibble" not in str(out.RTPlanLabel)
    (record,) = [a for a in result.actions if a.keyword == "RTPlanLabel"]
    assert record.action == "D" and "Type 1" in record.reason
