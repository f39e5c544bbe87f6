"""Tests of BIDS renaming on a tiny generated tree (nibabel NIfTI + JSON sidecars)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from sidecar_samples import PLANTED_SIDECAR

from deidkit.core.errors import OutputPathError, TableInputError, UsageError
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import date_offset_days, patient_pseudonym
from deidkit.pseudonymise.bids import pseudonymise_bids, subject_labels
from deidkit.pseudonymise.linkage import LinkageStore
from deidkit.pseudonymise.tables import (
    TableSpec,
    parse_id_column,
    pseudonymise_table,
    shift_date_text,
)
from deidkit.rules.profile import load_profile
from deidkit.rules.sidecars import scrub_bids_json

KEY = ProjectKey(secret=bytes(range(32)), source="test")
LABELS = ("01", "CANARY7")


def _nifti(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    nib.save(image, path)


def _bids(root: Path) -> Path:
    (root).mkdir()
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "tiny", "BIDSVersion": "1.9.0"}), encoding="utf-8"
    )
    (root / "participants.tsv").write_text(
        "participant_id\tage\tsex\nsub-01\t34\tF\nsub-CANARY7\t61\tM\n", encoding="utf-8"
    )
    for label in LABELS:
        anat = root / f"sub-{label}" / "ses-1" / "anat"
        _nifti(anat / f"sub-{label}_ses-1_T1w.nii.gz")
        (anat / f"sub-{label}_ses-1_T1w.json").write_text(
            json.dumps({"RepetitionTime": 2.3, "Note": f"sub-{label} ok"}), encoding="utf-8"
        )
        fmap = root / f"sub-{label}" / "ses-1" / "fmap"
        _nifti(fmap / f"sub-{label}_ses-1_epi.nii.gz")
        (fmap / f"sub-{label}_ses-1_epi.json").write_text(
            json.dumps(
                {"IntendedFor": f"bids::sub-{label}/ses-1/anat/sub-{label}_ses-1_T1w.nii.gz"}
            ),
            encoding="utf-8",
        )
        (root / f"sub-{label}" / "ses-1" / f"sub-{label}_ses-1_scans.tsv").write_text(
            "filename\tacq_time\n"
            f"anat/sub-{label}_ses-1_T1w.nii.gz\t2019-05-04T10:11:12\n"
            f"fmap/sub-{label}_ses-1_epi.nii.gz\tn/a\n",
            encoding="utf-8",
        )
    return root


def _all_text(root: Path) -> str:
    parts = []
    for path in sorted(root.rglob("*")):
        parts.append(str(path.relative_to(root)))
        if path.is_file():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_tree_is_renamed_consistently(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    before = _all_text(source)
    out = tmp_path / "release"
    store = LinkageStore(tmp_path / "l.dkl", key=KEY)
    result = pseudonymise_bids(source, out, key=KEY, linkage=store)
    assert _all_text(source) == before  # input untouched
    assert result.subjects == 2 and result.files == 12
    assert result.to_json() == {
        "subjects": 2,
        "files": 12,
        "renamed": result.renamed,
        "rewritten": result.rewritten,
        "linkage_entries": result.linkage_entries,
        "nifti_scrubbed": 4,
        "sidecars_scrubbed": 2,  # the T1w sidecars' free-text "Note" (not a known-safe key)
        "copied_unchanged": 0,
        "metadata_as_is": False,
    }
    text = _all_text(out)
    for label in LABELS:
        assert f"sub-{label}" not in text
        new = patient_pseudonym(KEY, label)
        assert new.isalnum()
        anat = out / f"sub-{new}" / "ses-1" / "anat"
        # Images are rewritten with a scrubbed header; voxels and geometry are unchanged.
        image = nib.load(anat / f"sub-{new}_ses-1_T1w.nii.gz")
        original = nib.load(
            source / f"sub-{label}" / "ses-1" / "anat" / f"sub-{label}_ses-1_T1w.nii.gz"
        )
        np.testing.assert_array_equal(np.asarray(image.dataobj), np.asarray(original.dataobj))
        np.testing.assert_array_equal(image.affine, original.affine)
        assert image.get_data_dtype() == original.get_data_dtype()
        sidecar = json.loads((out / f"sub-{new}/ses-1/fmap/sub-{new}_ses-1_epi.json").read_text())
        assert sidecar["IntendedFor"] == f"bids::sub-{new}/ses-1/anat/sub-{new}_ses-1_T1w.nii.gz"
        t1w = json.loads((anat / f"sub-{new}_ses-1_T1w.json").read_text())
        assert t1w == {"RepetitionTime": 2.3}
        scans = (out / f"sub-{new}/ses-1/sub-{new}_ses-1_scans.tsv").read_text().splitlines()
        shifted = dt.date(2019, 5, 4) + dt.timedelta(days=date_offset_days(KEY, label))
        assert scans[1] == f"anat/sub-{new}_ses-1_T1w.nii.gz\t{shifted.isoformat()}T10:11:12"
        assert scans[2].endswith("\tn/a")
    participants = (out / "participants.tsv").read_text().splitlines()
    assert participants[1:] == [
        f"sub-{patient_pseudonym(KEY, '01')}\t34\tF",
        f"sub-{patient_pseudonym(KEY, 'CANARY7')}\t61\tM",
    ]
    assert sorted(e.original for e in store.entries() if e.kind == "PatientID") == sorted(LABELS)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_output_rules(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    with pytest.raises(OutputPathError):
        pseudonymise_bids(source, source / "derivatives" / "x", key=KEY)
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputPathError, match="already exists"):
        pseudonymise_bids(source, tmp_path / "taken", key=KEY)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no sub-<label>"):
        pseudonymise_bids(empty, tmp_path / "o", key=KEY)


def test_bad_participants_and_unreadable_file_leave_nothing(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    (source / "participants.tsv").write_text("participant_id\nsubject one\n", encoding="utf-8")
    with pytest.raises(TableInputError, match="row 2"):
        pseudonymise_bids(source, tmp_path / "o", key=KEY)
    (source / "participants.tsv").write_text("participant_id\nsub-01\n", encoding="utf-8")
    os.symlink(tmp_path / "nowhere.bin", source / "sub-01" / "broken.bin")
    with pytest.raises(TableInputError, match="could not be copied"):
        pseudonymise_bids(source, tmp_path / "o", key=KEY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bids"]


def test_participants_table_matches_the_renamed_tree(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    pseudonymise_bids(source, tmp_path / "out", key=KEY)
    column, kind = parse_id_column("participant_id")
    spec = TableSpec(id_columns={column: kind}, keep_columns=("age", "sex"))
    pseudonymise_table(source / "participants.tsv", tmp_path / "p.tsv", key=KEY, spec=spec)
    assert (tmp_path / "p.tsv").read_text() == (tmp_path / "out" / "participants.tsv").read_text()
    (tmp_path / "bad.tsv").write_text("participant_id\n01\n")
    with pytest.raises(TableInputError, match="not sub-<label> in rows 2"):
        pseudonymise_table(
            tmp_path / "bad.tsv",
            tmp_path / "q.tsv",
            key=KEY,
            spec=TableSpec(id_columns={column: kind}),
        )


def test_labels_from_folders_and_participants(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    (source / "sub-extra").mkdir()
    assert subject_labels(source) == ["01", "CANARY7", "extra"]


# --- metadata: NIfTI headers and JSON sidecars are scrubbed, dates shifted ---------------

#: Planted (fake) PHI: none of it may reach any output byte.
PLANTED = (
    "Doe^Jane",
    "JANEDOE",
    "MRN4711",
    "SSN-99",
    "St Canary Hospital",
    "Dr Canarius",
    "2019-05-04",
    "20190504",
)


def _planted_nifti(path: Path, *, nifti2: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    image = (nib.Nifti2Image if nifti2 else nib.Nifti1Image)(data, affine)
    image.header["descrip"] = b"Doe^Jane 2019-05-04"
    image.header["aux_file"] = b"JANEDOE"
    image.header["intent_name"] = b"MRN4711"
    if not nifti2:
        image.header["db_name"] = b"St Canary Hospital"
        image.header["data_type"] = b"SSN-99"
    image.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"Patient Doe^Jane 20190504"))
    image.header.extensions.append(nib.nifti1.Nifti1Extension(4, b"<AFNI>JANEDOE MRN4711</AFNI>"))
    nib.save(image, path)


def _planted_tree(root: Path) -> Path:
    root.mkdir()
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "planted", "BIDSVersion": "1.9.0"}), encoding="utf-8"
    )
    subject = root / "sub-CANARY7"
    _planted_nifti(subject / "anat" / "sub-CANARY7_T1w.nii.gz")
    _planted_nifti(subject / "func" / "sub-CANARY7_task-rest_bold.nii", nifti2=True)
    (subject / "anat" / "sub-CANARY7_T1w.json").write_text(
        json.dumps(
            {
                "EchoTime": 0.003,
                "PatientName": "Doe^Jane",
                "InstitutionName": "St Canary Hospital",
                "AcquisitionDateTime": "2019-05-04T10:11:12.500000",
                "StudyDate": "20190504",
                "Procedure": [{"ReferringPhysicianName": "Dr Canarius", "ContentDate": "20190504"}],
            }
        ),
        encoding="utf-8",
    )
    (subject / "func" / "sub-CANARY7_task-rest_bold.json").write_text(
        json.dumps({"TaskName": "rest", "StationName": "SSN-99", "DeviceSerialNumber": "MRN4711"}),
        encoding="utf-8",
    )
    return root


def _output_bytes(root: Path) -> dict[str, bytes]:
    """Every output file's bytes, decompressed when gzip (a gzip member hides its text)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found[path.relative_to(root).as_posix()] = (
                gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
            )
    return found


def _planted_in(root: Path) -> set[str]:
    hits: set[str] = set()
    for name, data in _output_bytes(root).items():
        folded = (name + "\n").encode() + data
        hits.update(p for p in PLANTED if p.casefold().encode() in folded.lower())
    return hits


def test_planted_phi_reaches_no_output_byte(tmp_path: Path) -> None:
    source = _planted_tree(tmp_path / "bids")
    assert _planted_in(source) == set(PLANTED)  # the check sees every plant where it is
    out = tmp_path / "release"
    result = pseudonymise_bids(source, out, key=KEY, profile=load_profile("research"))
    # Retain Device Identity keeps the bold run's station and serial (planted there), as
    # scrub under research keeps them in the DICOM headers; nothing else survives.
    assert _planted_in(out) == {"SSN-99", "MRN4711"}
    assert (result.nifti_scrubbed, result.sidecars_scrubbed) == (2, 1)  # the bold's: as it was
    assert result.copied_unchanged == 0 and result.metadata_as_is is False
    new = patient_pseudonym(KEY, "CANARY7")
    days = date_offset_days(KEY, "CANARY7")
    shifted = dt.date(2019, 5, 4) + dt.timedelta(days=days)
    sidecar = json.loads((out / f"sub-{new}/anat/sub-{new}_T1w.json").read_text())
    assert sidecar == {
        "EchoTime": 0.003,
        "AcquisitionDateTime": f"{shifted.isoformat()}T10:11:12.500000",
        "StudyDate": shifted.strftime("%Y%m%d"),
        "Procedure": [{"ContentDate": shifted.strftime("%Y%m%d")}],
    }
    for name, before in (
        ("anat/sub-CANARY7_T1w.nii.gz", "anat/sub-{}_T1w.nii.gz"),
        ("func/sub-CANARY7_task-rest_bold.nii", "func/sub-{}_task-rest_bold.nii"),
    ):
        original = nib.load(source / "sub-CANARY7" / name)
        image = nib.load(out / f"sub-{new}" / before.format(new))
        assert type(image) is type(original)
        np.testing.assert_array_equal(np.asarray(image.dataobj), np.asarray(original.dataobj))
        np.testing.assert_array_equal(image.affine, original.affine)
        assert len(image.header.extensions) == 0


def test_basic_profile_removes_the_dates_research_shifts(tmp_path: Path) -> None:
    # The default profile is basic: its codes for these dates (X/Z/D, Z, Z/D) all remove.
    source = _planted_tree(tmp_path / "bids")
    result = pseudonymise_bids(source, tmp_path / "release", key=KEY)
    assert _planted_in(tmp_path / "release") == set()
    assert (result.nifti_scrubbed, result.sidecars_scrubbed) == (2, 2)
    new = patient_pseudonym(KEY, "CANARY7")
    sidecar = json.loads((tmp_path / f"release/sub-{new}/anat/sub-{new}_T1w.json").read_text())
    assert sidecar == {"EchoTime": 0.003, "Procedure": [{}]}


def test_sidecars_get_the_rules_module_s_result(tmp_path: Path) -> None:
    """pseudonymise --bids and deface share one rule: the JSON written is scrub_bids_json's."""
    source = _planted_tree(tmp_path / "bids")
    sidecar = source / "sub-CANARY7" / "anat" / "sub-CANARY7_T1w.json"
    sidecar.write_text(json.dumps(PLANTED_SIDECAR), encoding="utf-8")
    days = date_offset_days(KEY, "CANARY7")
    new = patient_pseudonym(KEY, "CANARY7")
    for name in ("basic", "research"):
        profile = load_profile(name)
        out = tmp_path / name
        pseudonymise_bids(source, out, key=KEY, profile=profile)
        written = json.loads((out / f"sub-{new}/anat/sub-{new}_T1w.json").read_text())
        expected = scrub_bids_json(
            "sub-x_T1w.json",
            PLANTED_SIDECAR,
            profile=profile,
            shift_date=lambda text: shift_date_text(text, days),
        ).data
        assert written == expected
    research = json.loads((tmp_path / f"research/sub-{new}/anat/sub-{new}_T1w.json").read_text())
    basic = json.loads((tmp_path / f"basic/sub-{new}/anat/sub-{new}_T1w.json").read_text())
    # The profiles differ where E.1-1's options do: dates, device, patient characteristics.
    assert "AcquisitionDateTime" in research and "AcquisitionDateTime" not in basic
    assert research["DeviceSerialNumber"] == "SN4711" and "DeviceSerialNumber" not in basic
    assert research["PatientSex"] == "F" and "PatientSex" not in basic


def test_verify_finds_the_planted_phi_only_when_copied_as_is(tmp_path: Path) -> None:
    from deidkit.verify import verify_release

    source = _planted_tree(tmp_path / "bids")
    scrubbed, as_is = tmp_path / "scrubbed", tmp_path / "as-is"
    pseudonymise_bids(source, scrubbed, key=KEY)
    kept = pseudonymise_bids(source, as_is, key=KEY, copy_metadata_as_is=True)
    assert kept.metadata_as_is and kept.nifti_scrubbed == kept.sidecars_scrubbed == 0
    assert _planted_in(as_is) == set(PLANTED)  # what the default run keeps out
    # Dates are shifted (a Modified Dates release), so verify judges by that profile.
    assert verify_release(scrubbed, profile="research", workers=1).exit_code() == 0
    assert verify_release(as_is, profile="research", workers=1).exit_code() == 3


@pytest.mark.parametrize(
    ("where", "content", "match"),
    [
        (
            "sub-CANARY7/anat/sub-CANARY7_T1w.json",
            {"AcquisitionDateTime": "unknown"},
            "AcquisitionDateTime is not a date",
        ),
        ("sub-CANARY7/anat/sub-CANARY7_T1w.json", {"StudyDate": 20190504}, "StudyDate"),
        ("task-rest_bold.json", {"AcquisitionDate": "2019-05-04"}, "outside every subject"),
        ("sub-CANARY7/anat/sub-CANARY7_T1w.json", "{not json", "not valid JSON"),
    ],
)
def test_metadata_that_cannot_be_scrubbed_stops_the_run(
    tmp_path: Path, where: str, content: object, match: str
) -> None:
    source = _planted_tree(tmp_path / "bids")
    text = content if isinstance(content, str) else json.dumps(content)
    (source / where).write_text(text, encoding="utf-8")
    research = load_profile("research")  # the profile that keeps (shifts) these dates
    with pytest.raises(TableInputError, match=match) as caught:
        pseudonymise_bids(source, tmp_path / "out", key=KEY, profile=research)
    assert "CANARY7" not in str(caught.value)  # the renamed file is named, not the label
    assert "--copy-metadata-as-is" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bids"]
    result = pseudonymise_bids(
        source, tmp_path / "out", key=KEY, profile=research, copy_metadata_as_is=True
    )
    assert result.metadata_as_is


def test_unreadable_nifti_and_analyze_headers_stop_the_run(tmp_path: Path) -> None:
    source = _planted_tree(tmp_path / "bids")
    broken = source / "sub-CANARY7" / "anat" / "sub-CANARY7_T2w.nii.gz"
    broken.write_bytes(b"not a nifti")
    with pytest.raises(TableInputError, match="not a readable NIfTI image"):
        pseudonymise_bids(source, tmp_path / "out", key=KEY)
    broken.unlink()
    (source / "sub-CANARY7" / "anat" / "old.hdr").write_bytes(b"\x00" * 348)
    with pytest.raises(TableInputError, match="ANALYZE"):
        pseudonymise_bids(source, tmp_path / "out", key=KEY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bids"]


def test_cli_flag_copies_metadata_as_is_with_a_warning(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from deidkit.cli import app
    from deidkit.core.keys import generate_key_file

    key = tmp_path / "keys" / "project.key"
    generate_key_file(key)
    source = _planted_tree(tmp_path / "bids")
    runner = CliRunner()
    base = ["pseudonymise", str(source), "--bids", "--key-file", str(key), "--json"]
    scrubbed = runner.invoke(app, [*base[:2], str(tmp_path / "a"), *base[2:]])
    assert scrubbed.exit_code == 0, scrubbed.output
    assert json.loads(scrubbed.stdout)["metadata_as_is"] is False
    assert "copied as they are" not in scrubbed.stderr
    as_is = runner.invoke(app, [*base[:2], str(tmp_path / "b"), *base[2:], "--copy-metadata-as-is"])
    assert as_is.exit_code == 0, as_is.output
    assert json.loads(as_is.stdout)["metadata_as_is"] is True
    assert "copied as they are" in as_is.stderr
    assert _planted_in(tmp_path / "a") == set() and _planted_in(tmp_path / "b") == set(PLANTED)
    sidecar = source / "sub-CANARY7" / "anat" / "sub-CANARY7_T1w.json"
    sidecar.write_text(json.dumps({"StudyDate": "last spring"}), encoding="utf-8")
    basic = runner.invoke(app, [*base[:2], str(tmp_path / "d"), *base[2:]])
    assert basic.exit_code == 0, basic.output  # basic removes StudyDate (Z): nothing to shift
    research = ["--profile", "research"]
    refused = runner.invoke(app, [*base[:2], str(tmp_path / "c"), *base[2:], *research])
    assert refused.exit_code == 1  # a tree that cannot be pseudonymised, as unreadable ones
    assert "StudyDate" in refused.stderr and "--copy-metadata-as-is" in refused.stderr
    assert "CANARY7" not in refused.stderr and not (tmp_path / "c").exists()
