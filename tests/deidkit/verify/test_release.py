"""deidkit verify on a hand-built release: clean stays clean, every planted PHI kind is found."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from typer.testing import CliRunner
from verify_support import (
    INSTITUTION,
    PATIENT_ID,
    PATIENT_NAME,
    STUDY_DATE,
    Pair,
    build_pair,
)

from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_OK, EXIT_PHI_FOUND, EXIT_USAGE
from deidkit.core.pseudonym import date_offset_days
from deidkit.rules.profile import load_profile
from deidkit.verify.release import verify_release

runner = CliRunner()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """A clean pair, built once; tests copy it before planting anything."""
    return build_pair(tmp_path_factory.mktemp("pristine"))


@pytest.fixture
def pair(pristine: Pair, tmp_path: Path) -> Pair:
    shutil.copytree(pristine.original, tmp_path / "original")
    shutil.copytree(pristine.release, tmp_path / "release")
    files = tuple(
        tmp_path / "release" / p.relative_to(pristine.release) for p in pristine.release_files
    )
    return Pair(
        tmp_path / "original", tmp_path / "release", pristine.key, files, pristine.original_uids
    )


def _edit(path: Path, change: Callable[[Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _run(pair: Pair, *extra: str, out: Path | None = None) -> tuple[int, dict[str, object]]:
    out = out or pair.release.parent / "verify.json"
    args = ["verify", str(pair.release), "--json-out", str(out), "--workers", "1", "--force"]
    result = runner.invoke(app, [*args, *extra])
    data = json.loads(out.read_text()) if out.exists() else {}
    return result.exit_code, data


def _checks(data: dict[str, object]) -> set[str]:
    findings = data["findings"]
    assert isinstance(findings, list)
    return {f["check"] for f in findings if f["severity"] != "info"}


def test_clean_release_passes_without_and_with_originals(pair: Pair) -> None:
    code, data = _run(pair)
    assert code == EXIT_OK, data["findings"]
    # A hand-built release has no run report: the one warning says completeness went unchecked.
    assert data["verdict"] == "clean" and _checks(data) == {"run-report"}
    assert data["completeness"] == "not-checked"
    code, data = _run(pair, "--original", str(pair.original))
    assert code == EXIT_OK, data["findings"]
    assert data["originals_checked"] == 3


def _nested_name(ds: Dataset) -> None:
    inner = Dataset()
    inner.PersonName = PATIENT_NAME
    item = Dataset()
    item.ContentSequence = Sequence([inner])
    ds.ReferencedImageSequence[0].ContentSequence = Sequence([inner])


def _private_date(ds: Dataset) -> None:
    # A creator + element on the safe list, under a profile that keeps safe private elements.
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00191023, "DA", STUDY_DATE)
    ds.DeidentificationMethodCodeSequence[0].CodeValue = "113100"
    extra = Dataset()
    extra.CodeValue, extra.CodingSchemeDesignator, extra.CodeMeaning = (
        "113111",
        "DCM",
        "Retain Safe Private",
    )
    ds.DeidentificationMethodCodeSequence.append(extra)


PLANTS: dict[str, tuple[Callable[[Dataset], None], str, str]] = {
    # name -> (plant, expected check without originals, expected check with originals)
    "name in nested sequence": (_nested_name, "person-name", "original-value"),
    "surviving original UID": (
        lambda ds: setattr(ds, "SeriesInstanceUID", "1.2.826.0.1.3680043.777.2.1"),
        "uid",
        "original-uid",
    ),
    "patient name in StudyDescription": (
        lambda ds: setattr(ds, "StudyDescription", f"CT head for {PATIENT_NAME}"),
        "free-text",
        "original-value",
    ),
    "phone in ImageComments": (
        lambda ds: setattr(ds, "ImageComments", "call back on 555-867-5309"),
        "free-text",
        "free-text",
    ),
    "unsafe private element": (
        lambda ds: (ds.add_new(0x00290010, "LO", "ACME 1.0"), ds.add_new(0x00291010, "LO", "note")),
        "private-element",
        "private-element",
    ),
    "institution in a code meaning": (
        lambda ds: setattr(ds.DeidentificationMethodCodeSequence[0], "CodeMeaning", INSTITUTION),
        "",
        "original-value",
    ),
}


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_planted_phi_is_found(pair: Pair, kind: str) -> None:
    plant, check, check_with_originals = PLANTS[kind]
    _edit(pair.release_files[2], plant)
    code, data = _run(pair)
    if check:
        assert code == EXIT_PHI_FOUND
        assert check in _checks(data)
        hit = next(f for f in data["findings"] if f["check"] == check)  # type: ignore[union-attr]
        assert hit["file"] == pair.release_files[2].relative_to(pair.release).as_posix()
    code, data = _run(pair, "--original", str(pair.original))
    assert code == EXIT_PHI_FOUND
    assert check_with_originals in _checks(data)
    text = json.dumps(data)
    # Findings name places, never values.
    for value in (
        PATIENT_NAME,
        PATIENT_ID,
        INSTITUTION,
        "555-867-5309",
        "1.2.826.0.1.3680043.777.2.1",
    ):
        assert value not in text and value.replace("^", " ") not in text


def test_original_attribute_is_named(pair: Pair) -> None:
    _edit(pair.release_files[0], lambda ds: setattr(ds, "ImageComments", f"id {PATIENT_ID}"))
    _, data = _run(pair, "--original", str(pair.original))
    matched = {f.get("matched_attribute") for f in data["findings"]}  # type: ignore[union-attr]
    assert "PatientID" in matched


def test_date_in_safe_private_tag(pair: Pair, tmp_path: Path) -> None:
    profile = tmp_path / "safe.yaml"
    profile.write_text("name: safe\nextends: basic\noptions: [retain_safe_private]\n")
    _edit(pair.release_files[1], _private_date)
    code, data = _run(pair, "--profile", str(profile))
    assert code == EXIT_PHI_FOUND
    dates = [f for f in data["findings"] if f["check"] == "date"]  # type: ignore[union-attr]
    assert [f["tag_path"] for f in dates] == ["(0019,1023)"]
    assert "private-element" not in _checks(data)  # the element itself is on the safe list


def test_phi_folder_name(pair: Pair) -> None:
    folder = pair.release / "Doe^John 1961-04-12"
    folder.mkdir()
    shutil.move(str(pair.release_files[0]), folder / "x.dcm")
    code, data = _run(pair)
    assert code == EXIT_PHI_FOUND
    hits = [f for f in data["findings"] if f["check"] == "file-name"]  # type: ignore[union-attr]
    assert {f["pattern"] for f in hits} >= {"person-name", "date"}
    # The flagged folder name is PHI itself: reports show a placeholder.
    assert {f["file"] for f in hits} == {"[redacted-1]/x.dcm"}
    assert "Doe" not in json.dumps(data) and "1961" not in json.dumps(data)


def test_nifti_descrip_with_a_name(pair: Pair) -> None:
    image = nib.Nifti1Image(np.zeros((2, 2, 2), dtype=np.int16), np.eye(4))
    image.header["descrip"] = b"Dr. Gregory House scan"
    nib.save(image, pair.release / "anat.nii.gz")
    code, data = _run(pair)
    assert code == EXIT_PHI_FOUND
    hit = next(f for f in data["findings"] if f["check"] == "nifti-header")  # type: ignore[union-attr]
    assert hit["tag_path"] == "nifti:descrip" and hit["pattern"] == "person-name"


def test_json_sidecar_and_raw_preamble(pair: Pair) -> None:
    (pair.release / "scan.json").write_text(json.dumps({"Operator": "jane.roe@hospital.org"}))
    data = bytearray(pair.release_files[0].read_bytes())
    data[10:40] = b"contact: jane.roe@hospital.org"  # preamble bytes: no element owns them
    pair.release_files[0].write_bytes(bytes(data))
    code, result = _run(pair)
    assert code == EXIT_PHI_FOUND
    assert {"json-sidecar", "raw-bytes"} <= _checks(result)


def test_missing_provenance_and_burned_in(pair: Pair) -> None:
    def change(ds: Dataset) -> None:
        del ds.PatientIdentityRemoved
        ds.BurnedInAnnotation = "YES"

    _edit(pair.release_files[0], change)
    code, data = _run(pair)
    assert code == EXIT_PHI_FOUND
    assert {"provenance", "burned-in"} <= _checks(data)


def test_missing_file_and_broken_reference(pair: Pair) -> None:
    pair.release_files[0].unlink()  # instance 3 references it
    code, data = _run(pair, "--original", str(pair.original), "--key-file", _key_file(pair))
    assert code == EXIT_PHI_FOUND
    assert {"missing-file", "relationships"} <= _checks(data)
    code, data = _run(pair, "--original", str(pair.original))
    assert "missing-file" in _checks(data)


def _key_file(pair: Pair) -> str:
    path = pair.release.parent / "project.key"
    if not path.exists():
        path.write_text(pair.key.secret.hex() + "\n")
        path.chmod(0o600)
    return str(path)


def test_unreadable_file_exits_1(pair: Pair) -> None:
    (pair.release / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00")
    code, data = _run(pair)
    assert code == EXIT_HELD_BACK
    assert data["verdict"] == "incomplete" and data["unreadable"] == 1


def test_fail_on_warn(pair: Pair) -> None:
    # A given-name + family-name pair is only a warning (heuristic).
    (pair.release / "notes.txt").write_text("reviewed by John Carter\n")
    code, _ = _run(pair)
    assert code == EXIT_OK
    code, data = _run(pair, "--fail-on", "warn")
    assert code == EXIT_PHI_FOUND and data["verdict"] == "phi-found"


def test_usage_errors(pair: Pair) -> None:
    inside = pair.release / "report.json"
    result = runner.invoke(app, ["verify", str(pair.release), "--json-out", str(inside)])
    assert result.exit_code == EXIT_USAGE and not inside.exists()
    result = runner.invoke(app, ["verify", str(pair.release), "--fail-on", "sometimes"])
    assert result.exit_code == EXIT_USAGE
    result = runner.invoke(app, ["verify", str(pair.release / "nope")])
    assert result.exit_code == EXIT_USAGE


def test_release_is_not_modified(pair: Pair) -> None:
    before = {p: p.read_bytes() for p in pair.release.rglob("*") if p.is_file()}
    _run(pair, "--original", str(pair.original), "--html", str(pair.release.parent / "r.html"))
    after = {p: p.read_bytes() for p in pair.release.rglob("*") if p.is_file()}
    assert before == after


def test_library_result_is_deterministic(pair: Pair) -> None:
    first = verify_release(pair.release, original=pair.original, workers=1).to_json()
    second = verify_release(pair.release, original=pair.original, workers=1).to_json()
    first.pop("created"), second.pop("created")
    assert first == second


def test_shifted_dates_are_told_from_leaked_dates(pair: Pair, tmp_path: Path) -> None:
    profile = tmp_path / "dates.yaml"
    profile.write_text("name: dates\nextends: basic\noptions: [retain_long_modified_dates]\n")
    offset = date_offset_days(
        pair.key, PATIENT_ID, shift_range=load_profile(profile).date_shift_range
    )
    shifted = (date(2019, 3, 4) + timedelta(days=offset)).strftime("%Y%m%d")
    for path in pair.release_files:
        _edit(path, lambda ds: setattr(ds, "StudyDate", shifted))
    # By chance the same patient's originals hold the shifted day elsewhere: no leak.
    _edit(
        pair.original / "Doe_Johnathan" / "CT2.dcm", lambda ds: setattr(ds, "ContentDate", shifted)
    )
    args = ("--profile", str(profile), "--original", str(pair.original))
    code, data = _run(pair, *args, "--key-file", _key_file(pair))
    assert code == EXIT_OK, data["findings"]
    _edit(pair.release_files[0], lambda ds: setattr(ds, "StudyDate", STUDY_DATE))
    code, data = _run(pair, *args, "--key-file", _key_file(pair))
    assert code == EXIT_PHI_FOUND
    leaks = [f for f in data["findings"] if f["check"] == "original-value"]  # type: ignore[union-attr]
    assert [(f["keyword"], f["matched_attribute"]) for f in leaks] == [("StudyDate", "StudyDate")]
    # Without the key a date match cannot be told from a collision: a warning only.
    code, data = _run(pair, *args)
    assert code == EXIT_OK
    assert {f["severity"] for f in data["findings"] if f["check"] == "original-value"} == {"warn"}  # type: ignore[union-attr]


_NAME_PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=10).map(str.title)
_PLACES = {
    "ImageComments": lambda ds, text: setattr(ds, "ImageComments", f"note: {text}."),
    "nested": lambda ds, text: ds.ReferencedImageSequence[0].add_new(0x00081030, "LO", text),
    "private": lambda ds, text: (
        ds.add_new(0x00190010, "LO", "GEMS_ACQU_01"),
        ds.add_new(0x00191023, "LO", text.upper()),
    ),
}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=_NAME_PART, given_name=_NAME_PART, place=st.sampled_from(sorted(_PLACES)))
def test_any_planted_original_name_is_found(family: str, given_name: str, place: str) -> None:
    # Canary property: whatever the name and wherever it hides, verify finds it by value and
    # never writes it out.
    with tempfile.TemporaryDirectory() as tmp:
        pair = build_pair(Path(tmp), patient_name=f"{family}^{given_name}")
        _edit(pair.release_files[2], lambda ds: _PLACES[place](ds, f"{given_name} {family}"))
        result = verify_release(pair.release, original=pair.original, workers=1)
        assert result.exit_code() == EXIT_PHI_FOUND
        hits = [f for f in result.findings if f.check == "original-value"]
        assert {f.matched_attribute for f in hits} == {"PatientName"}
        text = json.dumps(result.to_json()).casefold()
        assert f"{given_name} {family}".casefold() not in text
        assert f"{family}^{given_name}".casefold() not in text


_UMLAUT_NAME = "Müller^Jürgen"


def _latin1_comment(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageComments = "seen MÜLLER"


def _utf8_bytes_undeclared(ds: Dataset) -> None:
    # UTF-8 bytes in a file that declares no character set: the decoded text misses them.
    ds.add_new(0x00204000, "LT", "Jürgen".encode())


def _latin1_preamble(ds: Dataset) -> None:
    ds.preamble = ("müller".encode("latin-1") + b" ").ljust(128, b"\x00")


@pytest.mark.parametrize(
    ("plant", "check"),
    [
        (_latin1_comment, "original-value"),
        (_utf8_bytes_undeclared, "original-value"),
        (_latin1_preamble, "raw-bytes"),
    ],
)
def test_non_ascii_name_is_found_in_any_common_encoding(
    tmp_path: Path, plant: Callable[[Dataset], None], check: str
) -> None:
    pair = build_pair(tmp_path)
    for path in sorted(pair.original.rglob("*.dcm")):  # originals in UTF-8 (ISO_IR 192)
        ds = pydicom.dcmread(path)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientName = _UMLAUT_NAME
        ds.save_as(path)
    clean = verify_release(pair.release, original=pair.original, workers=1)
    assert clean.exit_code() == EXIT_OK, clean.findings
    _edit(pair.release_files[1], plant)
    result = verify_release(pair.release, original=pair.original, workers=1)
    assert result.exit_code() == EXIT_PHI_FOUND
    hits = [f for f in result.findings if f.check == check]
    assert {f.matched_attribute for f in hits} == {"PatientName"}
    text = json.dumps(result.to_json(), ensure_ascii=False).casefold()
    assert "müller" not in text and "jürgen" not in text
