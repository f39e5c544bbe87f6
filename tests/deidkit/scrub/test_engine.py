"""scrub_dataset: canaries, validity, references, dates, provenance, determinism."""

from __future__ import annotations

import copy
import re

import pydicom
import pytest
from dicom_builders import (
    CANARIES,
    CT,
    ROOT,
    SEG,
    SR,
    canary_dataset,
    reread,
    to_bytes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.sequence import Sequence

from deidkit.core.errors import ScrubError
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import date_offset_days, patient_pseudonym
from deidkit.rules.profile import Profile, load_profile
from deidkit.scrub.engine import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    ScrubResult,
    scrub_dataset,
)

KEY = ProjectKey(secret=bytes(range(32)), source="test")
OTHER_KEY = ProjectKey(secret=bytes(range(1, 33)), source="test")
UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def _scrub(
    ds: pydicom.Dataset, profile: str | Profile = "basic", key: ProjectKey = KEY
) -> ScrubResult:
    prof = load_profile(profile) if isinstance(profile, str) else profile
    return scrub_dataset(ds, profile=prof, key=key)


def _assert_valid_uids(ds: pydicom.Dataset) -> None:
    for elem in ds.iterall():
        if elem.VR == "UI" and elem.value:
            values = (
                elem.value
                if isinstance(elem.value, list | pydicom.multival.MultiValue)
                else [elem.value]
            )
            for value in values:
                assert len(value) <= 64 and UID_RE.match(value), elem.tag


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_no_canary_survives(profile: str) -> None:
    ds = canary_dataset()
    _scrub(ds, profile)
    data = to_bytes(ds)
    for canary in CANARIES:
        if profile == "research" and canary == "CANARYTEXT":
            continue  # research's Clean Descriptors keeps words that identify no one
        assert canary.encode() not in data, canary
    assert data[:128] == b"\x00" * 128
    back = reread(data)
    _assert_valid_uids(back)
    assert back.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert back.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert "SourceApplicationEntityTitle" not in back.file_meta
    assert back.file_meta.MediaStorageSOPInstanceUID == back.SOPInstanceUID
    assert back.PixelData == b"\x01\x00\x02\x00\x03\x00\x04\x00"


def test_safe_private_kept_only_under_the_option() -> None:
    basic = canary_dataset()
    _scrub(basic, "basic")
    assert not any(elem.tag.is_private for elem in basic.iterall())
    research = canary_dataset()
    result = _scrub(research, "research")
    assert research[0x00192023].value == 1.5  # relocated block 0x20 still matches the list
    assert research[0x00192023].VR == "DS"
    assert research[0x00190020].value == "GEMS_ACQU_01"
    assert 0x00192001 not in research
    assert 0x00290010 not in research and 0x00291003 not in research
    reasons = {a.reason for a in result.actions if a.keyword == "Private"}
    assert any(r.startswith("not on the safe list") for r in reasons)


def test_private_un_gets_the_safe_list_vr() -> None:
    ds = canary_dataset()
    # a safe Philips element that pydicom's private dictionary does not know: read as UN
    ds.add_new(0x20010010, "LO", "Philips Imaging DD 001")
    ds.add_new(0x20011049, "UN", b"7 ")
    back = reread(to_bytes(ds))
    assert back[0x20011049].VR == "UN"
    _scrub(back, "research")
    assert back[0x20011049].VR == "IS"
    again = reread(to_bytes(back))
    assert again[0x20011049].VR == "IS" and again[0x20011049].value == 7


def test_instance_declared_safe_private_block() -> None:
    ds = canary_dataset()
    declaration = pydicom.Dataset()
    declaration.PrivateGroupReference = 0x0029
    declaration.PrivateCreatorReference = "ACME CANARY PACS"
    declaration.BlockIdentifyingInformationStatus = "SAFE"
    ds.PrivateDataElementCharacteristicsSequence = Sequence([declaration])
    ds[0x00291001].value = "harmless"
    _scrub(ds, "research")
    assert ds[0x00291001].value == "harmless"
    assert ds[0x00291002].value != "20190415"  # a kept private date is still shifted
    assert 0x00291010 not in ds[0x00291003].value[0]  # a private PN is removed, even if safe


def test_date_offset_linkage_is_keyed_on_the_original_patient_id() -> None:
    ds = canary_dataset(patient_id="CANARYPID")
    result = _scrub(ds, "research")
    profile = load_profile("research")
    days = date_offset_days(KEY, "CANARYPID", shift_range=profile.date_shift_range)
    pairs = [pair for pair in result.linkage if pair.kind == "DateOffset"]
    assert [(p.original, p.pseudonym) for p in pairs] == [("CANARYPID", str(days))]
    assert result.date_offset_days == days
    assert all(pair.kind != "DateOffset" for pair in _scrub(canary_dataset(), "basic").linkage)


def test_identifiers_and_linkage() -> None:
    ds = canary_dataset()
    result = _scrub(ds, "basic")
    pseudonym = patient_pseudonym(KEY, "CANARYPID")
    assert result.patient_pseudonym == pseudonym
    assert ds.PatientID == pseudonym
    assert ds.PatientName == pseudonym
    assert ds.OtherPatientIDsSequence if "OtherPatientIDsSequence" in ds else True
    kinds = {pair.kind for pair in result.linkage}
    assert {
        "PatientID",
        "PatientName",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "StudyID",
    } <= kinds
    assert result.sop_instance_uid == ds.SOPInstanceUID != ROOT + "1"
    assert result.study_uid == ds.StudyInstanceUID
    assert ds.StudyID.startswith("S") and len(ds.StudyID) <= 16
    for record in result.actions:
        for canary in CANARIES:
            assert canary not in f"{record.path}{record.keyword}{record.reason}"
    assert all(canary not in w for w in result.warnings for canary in CANARIES)


def test_patient_name_empty_profile(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "p.yaml"  # type: ignore[operator]
    path.write_text("extends: basic\npatient_name: empty\n")
    ds = canary_dataset()
    _scrub(ds, load_profile(path))
    assert ds.PatientName in ("", None)


def test_empty_patient_id_fallback_is_deterministic() -> None:
    first, second = canary_dataset(patient_id=""), canary_dataset(patient_id="")
    a, b = _scrub(first), _scrub(second)
    assert a.patient_pseudonym == b.patient_pseudonym
    assert first.PatientID == a.patient_pseudonym
    assert any("PatientName+PatientBirthDate" in w for w in a.warnings)


def test_modified_dates_keep_intervals() -> None:
    one, two = canary_dataset(sop="1"), canary_dataset(sop="2")
    two.StudyDate = "20190501"
    r1, r2 = _scrub(one, "research"), _scrub(two, "research")
    offset = date_offset_days(KEY, "CANARYPID", shift_range=(-3650, -365))
    assert r1.date_offset_days == r2.date_offset_days == offset
    import datetime as dt

    d1 = dt.datetime.strptime(one.StudyDate, "%Y%m%d")
    d2 = dt.datetime.strptime(two.StudyDate, "%Y%m%d")
    assert (d2 - d1).days == 16
    assert (d1 - dt.datetime(2019, 4, 15)).days == offset
    assert one.LongitudinalTemporalInformationModified == "MODIFIED"
    assert one.PatientAge == "048Y"  # kept under retain_patient_characteristics, still true
    assert one.StudyTime == "101010"


def test_basic_removes_dates_and_sets_provenance() -> None:
    ds = canary_dataset()
    _scrub(ds, "basic")
    assert ds.StudyDate in ("", None)
    assert "PatientBirthDate" not in ds or ds.PatientBirthDate in ("", None)
    assert ds.PatientIdentityRemoved == "YES"
    assert "2025b" in ds.DeidentificationMethod and "basic" in ds.DeidentificationMethod
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    codes = [(i.CodeValue, i.CodingSchemeDesignator) for i in ds.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM")]


def test_research_codes_are_exact() -> None:
    ds = canary_dataset()
    _scrub(ds, "research")
    codes = {i.CodeValue for i in ds.DeidentificationMethodCodeSequence}
    assert codes == {
        "113100", "113111", "113107", "113108", "113109", "113105", "113104", "113103"
    }


def _target_and_references(kind: str) -> tuple[pydicom.Dataset, pydicom.Dataset]:
    target = canary_dataset(sop="9")
    ref = canary_dataset(sop="77")
    ref.SOPClassUID = SEG if kind == "seg" else SR
    ref.SeriesInstanceUID = ROOT + "201"
    ref_item = pydicom.Dataset()
    ref_item.ReferencedSOPClassUID = CT
    ref_item.ReferencedSOPInstanceUID = target.SOPInstanceUID
    series = pydicom.Dataset()
    series.SeriesInstanceUID = target.SeriesInstanceUID
    if kind == "seg":
        series.ReferencedInstanceSequence = Sequence([ref_item])
        ref.ReferencedSeriesSequence = Sequence([series])
    else:
        series.ReferencedSOPSequence = Sequence([ref_item])
        study = pydicom.Dataset()
        study.StudyInstanceUID = target.StudyInstanceUID
        study.ReferencedSeriesSequence = Sequence([series])
        ref.CurrentRequestedProcedureEvidenceSequence = Sequence([study])
        content = pydicom.Dataset()
        content.ValueType = "IMAGE"
        image = pydicom.Dataset()
        image.ReferencedSOPClassUID = CT
        image.ReferencedSOPInstanceUID = target.SOPInstanceUID
        content.ReferencedSOPSequence = Sequence([image])
        text = pydicom.Dataset()
        text.ValueType = "TEXT"
        text.TextValue = "CANARYTEXT findings for CANARYNAME"
        ref.ContentSequence = Sequence([content, text])
    return target, ref


@pytest.mark.parametrize("kind", ["seg", "sr"])
def test_references_map_to_their_targets(kind: str) -> None:
    target, ref = _target_and_references(kind)
    _scrub(target)
    _scrub(ref)
    assert ref.FrameOfReferenceUID == target.FrameOfReferenceUID
    refs = [e.value for e in ref.iterall() if e.keyword == "ReferencedSOPInstanceUID"]
    assert target.SOPInstanceUID in refs
    assert ROOT + "9" not in refs
    if kind == "sr":
        evidence = ref.CurrentRequestedProcedureEvidenceSequence[0]
        assert evidence.StudyInstanceUID == target.StudyInstanceUID
        assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == target.SeriesInstanceUID
        assert b"CANARYTEXT" not in to_bytes(ref)  # free text in structured content replaced
        assert ref.SOPClassUID == SR  # registered UIDs are kept


def test_burned_in_risk() -> None:
    ds = canary_dataset()
    assert _scrub(ds).burned_in_risk is None
    ds = canary_dataset()
    ds.BurnedInAnnotation = "YES"
    assert _scrub(ds).burned_in_risk == "BurnedInAnnotation is YES"
    ds = canary_dataset()
    ds.Modality = "US"
    assert "US" in (_scrub(ds).burned_in_risk or "")
    ds = canary_dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    assert "Secondary Capture" in (_scrub(ds).burned_in_risk or "")


def test_overlays_and_curves_removed() -> None:
    ds = canary_dataset()
    ds.add_new(0x60000010, "US", 2)
    ds.add_new(0x60003000, "OW", b"\xff\xff")
    ds.add_new(0x60004000, "LT", "CANARYTEXT overlay")
    ds.add_new(0x50000005, "US", 1)
    result = _scrub(ds)
    assert not any(0x5000 <= (elem.tag >> 16) <= 0x60FF for elem in ds)
    assert any("overlay group removed" in a.reason for a in result.actions)


def test_missing_sop_uid_is_a_typed_error() -> None:
    ds = canary_dataset()
    del ds.SOPInstanceUID
    with pytest.raises(ScrubError):
        _scrub(ds)
    assert ds.PatientName == "CANARYNAME^JOHN"  # untouched


def test_undefined_length_sequences_are_cleaned() -> None:
    ds = canary_dataset()
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
    back = reread(to_bytes(ds))
    _scrub(back, "basic")
    data = to_bytes(back)
    for canary in CANARIES:
        assert canary.encode() not in data


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small.dcm", "rtstruct.dcm", "MR_small_RLE.dcm"]
)
@pytest.mark.parametrize("profile", ["basic", "research"])
def test_pydicom_test_files_round_trip(name: str, profile: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    original = pydicom.dcmread(path, force=True)
    syntax = original.file_meta.get("TransferSyntaxUID", pydicom.uid.ImplicitVRLittleEndian)
    pixels = original.get("PixelData")
    ds = pydicom.dcmread(path, force=True)
    patient_name = str(original.get("PatientName", ""))
    _scrub(ds, profile)
    back = reread(to_bytes(ds))
    assert back.file_meta.TransferSyntaxUID == syntax
    assert back.get("PixelData") == pixels
    _assert_valid_uids(back)
    if patient_name:
        assert patient_name.encode() not in to_bytes(ds)
    for elem in back.iterall():
        assert elem.VR != "UN" or not elem.tag.is_private


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patient=st.text(alphabet="ABCDEFGHIJ0123456789", min_size=1, max_size=12),
    secret=st.binary(min_size=32, max_size=32),
)
def test_determinism_property(patient: str, secret: bytes) -> None:
    key = ProjectKey(secret=secret, source="test")
    outputs = []
    for _ in range(2):
        ds = canary_dataset(patient_id=patient)
        _scrub(ds, "research", key)
        outputs.append(to_bytes(ds))
    assert outputs[0] == outputs[1]
    other_key = OTHER_KEY if secret != OTHER_KEY.secret else KEY
    ds = canary_dataset(patient_id=patient)
    _scrub(ds, "research", other_key)
    again = reread(outputs[0])
    assert ds.SOPInstanceUID != again.SOPInstanceUID
    assert ds.StudyInstanceUID != again.StudyInstanceUID
    assert ds.PatientID != again.PatientID


def test_recipe_overrides_apply_end_to_end(tmp_path: pytest.TempPathFactory) -> None:
    recipe = tmp_path / "team.dicom"  # type: ignore[operator]
    recipe.write_text(
        "FORMAT dicom\n\n%header\n\n"
        "REPLACE InstitutionName RESEARCH SITE\n"
        "ADD ClinicalTrialProtocolID TRIAL-7\n"
        "JITTER StudyDate -10\n"
        "KEEP Modality\n"
        "REMOVE contains:Physician\n",
        encoding="utf-8",
    )
    ds = canary_dataset()
    result = _scrub(ds, load_profile("basic", recipe=recipe))
    assert ds.InstitutionName == "RESEARCH SITE"
    assert ds.ClinicalTrialProtocolID == "TRIAL-7"
    assert ds.StudyDate == "20190405"
    assert "ReferringPhysicianName" not in ds
    assert any("override" in a.reason for a in result.actions)


def test_misplaced_meta_and_command_groups_removed() -> None:
    ds = canary_dataset()
    ds.add_new(0x00020016, "AE", "CANARYMETA")
    ds.add_new(0x00000002, "UI", ROOT + "5")
    ds.add_new(0x00080000, "UL", 1234)
    _scrub(ds)
    assert all((elem.tag >> 16) not in (0x0000, 0x0002) for elem in ds)
    assert 0x00080000 not in ds


@pytest.mark.parametrize("name", ["nested_priv_SQ.dcm", "priv_SQ.dcm"])
def test_private_sequences_from_pydicom_files(name: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    ds = pydicom.dcmread(path, force=True)
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = ROOT + "55"
    _scrub(ds, "basic")
    back = reread(to_bytes(ds))
    assert not any(elem.tag.is_private for elem in back.iterall())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    canary=st.text(alphabet="QXZJKW", min_size=10, max_size=16),
    where=st.sampled_from(["name", "institution", "private", "deep", "comment", "operator"]),
    profile=st.sampled_from(["basic", "research"]),
)
def test_random_canary_never_survives(canary: str, where: str, profile: str) -> None:
    ds = canary_dataset()
    if where == "name":
        ds.PatientName = canary
    elif where == "institution":
        ds.InstitutionName = canary
    elif where == "private":
        ds.add_new(0x00291004, "LT", canary)
    elif where == "deep":
        ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedInstanceSequence[
            0
        ].PatientName = canary
    elif where == "comment":
        # free text keeps what identifies no one (research): the canary is a staff name here
        ds.OperatorsName = canary
        ds.ImageComments = f"{canary} said so"
    else:
        ds.OperatorsName = canary
    _scrub(ds, profile)
    assert canary.encode() not in to_bytes(ds)


def _decoded(data: bytes) -> pydicom.Dataset:
    ds = reread(data)
    for _elem in ds.iterall():  # decode every raw element, at every depth, through pydicom
        pass
    return ds


@pytest.mark.parametrize("profile", ["basic", "research"])
@pytest.mark.parametrize("source", ["canary", "canary-implicit", "CT_small.dcm", "MR_small.dcm"])
def test_raw_fast_path_writes_what_decoded_elements_write(source: str, profile: str) -> None:
    # the engine edits still-raw elements without decoding them; the output must be the
    # same bytes as when pydicom has decoded every element first (the general path)
    if source.startswith("canary"):
        ds = canary_dataset()
        if source.endswith("implicit"):
            ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
        data = to_bytes(ds)
    else:
        data = to_bytes(pydicom.dcmread(get_testdata_file(source)))
    raw, decoded = reread(data), _decoded(data)
    raw_result, decoded_result = _scrub(raw, profile), _scrub(decoded, profile)
    assert to_bytes(raw) == to_bytes(decoded)
    assert raw_result == decoded_result


def test_references_are_kept_with_keyed_uids_inside_functional_groups() -> None:
    # Enhanced CT: Referenced Image Sequence (X/Z/U*) in the functional-group macros is kept,
    # its instance UIDs keyed like their targets', instead of emptied by its Type (Z)
    ds = canary_dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ref = pydicom.Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = ROOT + "9"
    content = pydicom.Dataset()
    content.FrameAcquisitionDateTime = "20190415101010"
    per_frame = pydicom.Dataset()
    per_frame.FrameContentSequence = Sequence([content])
    per_frame.ReferencedImageSequence = Sequence([ref])
    shared = pydicom.Dataset()
    shared.ReferencedImageSequence = Sequence([ref])
    ds.PerFrameFunctionalGroupsSequence = Sequence([per_frame])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    result = _scrub(ds, "basic")
    records = {r.path: r for r in result.actions}
    for path in ("(5200,9230)[0].(0008,1140)", "(5200,9229)[0].(0008,1140)"):
        assert records[path].action == "U"
        assert "references kept" in records[path].reason
    out = reread(to_bytes(ds))
    for group in (out.PerFrameFunctionalGroupsSequence, out.SharedFunctionalGroupsSequence):
        item = group[0].ReferencedImageSequence[0]
        assert item.ReferencedSOPClassUID == CT  # a class, kept
        assert item.ReferencedSOPInstanceUID.startswith("2.25.")
        assert item.ReferencedSOPInstanceUID != ROOT + "9"
    frame = out.PerFrameFunctionalGroupsSequence[0].FrameContentSequence[0]
    assert frame.FrameAcquisitionDateTime != "20190415101010"  # D: a dummy, not the date


def test_a_derived_image_still_points_at_its_source_in_the_release() -> None:
    source = canary_dataset(sop="11")
    derived = canary_dataset(sop="12")
    for name in ("SourceImageSequence", "ReferencedImageSequence"):
        ref = pydicom.Dataset()  # one item each: a shared item would be scrubbed twice
        ref.ReferencedSOPClassUID = source.SOPClassUID
        ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
        setattr(derived, name, Sequence([ref]))
    _scrub(source, "basic")
    _scrub(derived, "basic")
    for name in ("SourceImageSequence", "ReferencedImageSequence"):
        item = getattr(derived, name)[0]
        assert item.ReferencedSOPInstanceUID == source.SOPInstanceUID  # resolves
        assert item.ReferencedSOPClassUID == source.SOPClassUID


def test_new_file_meta_copies_are_independent() -> None:
    ds = canary_dataset()
    _scrub(ds, "basic")
    meta = ds.file_meta
    syntax = meta.TransferSyntaxUID  # decodes one element: it must be deep-copied
    copied = copy.deepcopy(meta)
    copied.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    copied.ImplementationVersionName = "OTHER"
    assert meta.TransferSyntaxUID == syntax
    assert meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert copied.MediaStorageSOPInstanceUID == meta.MediaStorageSOPInstanceUID
    assert to_bytes(ds) == to_bytes(copy.deepcopy(ds))
