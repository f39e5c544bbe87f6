"""The walk's _apply: standard UIDs kept (and logged as kept), Type 1 never emptied,
Type 2C of an animal patient kept present."""

from __future__ import annotations

import pydicom
from dicom_builders import ROOT, canary_dataset, reread, to_bytes
from pydicom.sequence import Sequence

from deidkit.core.keys import ProjectKey
from deidkit.rules.profile import load_profile
from deidkit.scrub.engine import ScrubResult, scrub_dataset

KEY = ProjectKey(secret=bytes(range(32)), source="test")
LABEL_MAP_SEG = "1.2.840.10008.5.1.4.1.1.66.7"  # newer than pydicom 3.0's dictionary
FUTURE_CLASS = "1.2.840.10008.5.1.4.1.1.999.1"  # a SOP class no dictionary has yet
SNOMED = "2.16.840.1.113883.6.96"
LOINC = "2.16.840.1.113883.6.1"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
RT_STRUCT = "1.2.840.10008.5.1.4.1.1.481.3"


def _scrub(ds: pydicom.Dataset, profile: str = "basic") -> tuple[pydicom.Dataset, ScrubResult]:
    # through bytes: the raw fast path handles still-encoded elements
    fresh = reread(to_bytes(ds))
    result = scrub_dataset(fresh, profile=load_profile(profile), key=KEY)
    return reread(to_bytes(fresh)), result


def _records(result: ScrubResult, keyword: str) -> list[tuple[str, str]]:
    return [(r.action, r.reason) for r in result.actions if r.keyword == keyword]


def _with_class(sop_class: str) -> pydicom.Dataset:
    ds = canary_dataset()
    ds.SOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    return ds


def _coded(ds: pydicom.Dataset) -> pydicom.Dataset:
    schemes = []
    for designator, uid in (("SCT", SNOMED), ("LN", LOINC), ("99LOCAL", ROOT + "77")):
        item = pydicom.Dataset()
        item.CodingSchemeDesignator = designator
        item.CodingSchemeUID = uid
        schemes.append(item)
    ds.CodingSchemeIdentificationSequence = Sequence(schemes)
    code = pydicom.Dataset()
    code.CodeValue = "12345"
    code.CodingSchemeDesignator = "SCT"
    code.CodeMeaning = "Liver"
    code.MappingResource = "DCMR"
    code.MappingResourceUID = "1.2.840.10008.8.1.1"
    code.ContextUID = "1.2.840.10008.6.1.1"
    ds.AnatomicRegionSequence = Sequence([code])
    return ds


def test_sop_class_newer_than_pydicom_is_kept_in_dataset_and_meta() -> None:
    for sop_class in (LABEL_MAP_SEG, FUTURE_CLASS):
        out, result = _scrub(_with_class(sop_class))
        assert out.SOPClassUID == sop_class
        assert out.file_meta.MediaStorageSOPClassUID == sop_class
        assert result.sop_class_uid == sop_class
        # instance UIDs are still remapped
        assert out.SOPInstanceUID.startswith("2.25.")
        assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
        assert not out.StudyInstanceUID.startswith(ROOT)


def test_coding_scheme_and_mapping_resource_uids_are_kept() -> None:
    out, _ = _scrub(_coded(canary_dataset()))
    schemes = [i.CodingSchemeUID for i in out.CodingSchemeIdentificationSequence]
    # a coding scheme UID names the scheme, not an instance: a local one is kept too
    assert schemes == [SNOMED, LOINC, ROOT + "77"]
    code = out.AnatomicRegionSequence[0]
    assert code.MappingResourceUID == "1.2.840.10008.8.1.1"
    assert code.ContextUID == "1.2.840.10008.6.1.1"


def test_referenced_class_kept_and_referenced_instance_remapped() -> None:
    out, _ = _scrub(canary_dataset())
    deepest = out.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    deepest = deepest.ReferencedInstanceSequence[0]
    assert deepest.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert deepest.ReferencedSOPInstanceUID.startswith("2.25.")


def test_action_log_says_kept_where_no_uid_changed() -> None:
    _, result = _scrub(_coded(_with_class(LABEL_MAP_SEG)))
    for keyword in ("SOPClassUID", "ReferencedSOPClassUID", "CodingSchemeUID"):
        records = _records(result, keyword)
        assert records and all(r == ("K", "standard UID kept") for r in records), keyword
    assert {a for a, _ in _records(result, "SOPInstanceUID")} == {"U"}


def _rt(sop_class: str, keyword: str, value: str) -> pydicom.Dataset:
    ds = _with_class(sop_class)
    ds.Modality = "RTPLAN" if sop_class == RT_PLAN else "RTSTRUCT"
    setattr(ds, keyword, value)
    return ds


def test_type1_label_gets_a_dummy_not_empty_under_clean_descriptors() -> None:
    for sop_class, keyword in ((RT_PLAN, "RTPlanLabel"), (RT_STRUCT, "StructureSetLabel")):
        out, result = _scrub(_rt(sop_class, keyword, "JOHN DOE"), "research")
        assert keyword in out and str(out[keyword].value).strip(), keyword
        assert "JOHN" not in str(out[keyword].value)
        ((action, reason),) = _records(result, keyword)
        assert action == "D" and "Type 1: dummy instead of empty" in reason


def test_type1_label_that_cleans_to_text_keeps_the_cleaned_text() -> None:
    out, result = _scrub(_rt(RT_PLAN, "RTPlanLabel", "Prostate 78Gy Dr Quibbleforth"), "research")
    assert out.RTPlanLabel == "Prostate 78Gy"
    assert _records(result, "RTPlanLabel")[0][0] == "C"


def test_label_without_phi_is_kept_as_written() -> None:
    out, result = _scrub(_rt(RT_PLAN, "RTPlanLabel", "Prostate 78Gy"), "research")
    assert out.RTPlanLabel == "Prostate 78Gy"
    ((action, reason),) = _records(result, "RTPlanLabel")
    assert action == "C" and reason.endswith("no PHI span found, kept as written")


def test_label_outside_its_iod_is_still_emptied() -> None:
    # StructureSetLabel is not part of the CT Image IOD: no Type 1 to protect
    ds = canary_dataset()
    ds.StructureSetLabel = "JOHN DOE"
    out, _ = _scrub(ds, "research")
    assert not out.get("StructureSetLabel", "")


def test_responsible_person_of_an_animal_is_emptied_not_removed() -> None:
    ds = canary_dataset()
    ds.PatientSpeciesDescription = "Canis lupus familiaris"
    ds.ResponsiblePerson = "CANARYNAME^OWNER"
    ds.ResponsibleOrganization = "CANARYINST Kennel"
    out, result = _scrub(ds)
    for keyword in ("ResponsiblePerson", "ResponsibleOrganization"):
        assert keyword in out and not out[keyword].value, keyword
        assert _records(result, keyword)[0][0] == "Z"


def test_responsible_person_of_a_human_is_removed() -> None:
    ds = canary_dataset()
    ds.ResponsiblePerson = "CANARYNAME^PARENT"
    out, result = _scrub(ds)
    assert "ResponsiblePerson" not in out
    assert _records(result, "ResponsiblePerson")[0][0] == "X"


def test_image_attributes_without_pixel_data_are_scrubbed() -> None:
    from pydicom.data import get_charset_files

    ds = pydicom.dcmread(get_charset_files("chrJapMulti.dcm")[0])
    assert "Rows" in ds and "PixelData" not in ds
    result = scrub_dataset(ds, profile=load_profile("basic"), key=KEY)
    assert result.sop_instance_uid.startswith("2.25.")
