"""CLI tests: pseudonymise, reidentify, linkage export/check (CliRunner on tmp trees)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pydicom
import pytest
from typer.testing import CliRunner, Result

from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_OK, EXIT_USAGE
from deidkit.core.keys import generate_key_file, load_key_file
from deidkit.core.pseudonym import date_offset_days, patient_pseudonym, pseudonymous_uid

runner = CliRunner()


@pytest.fixture()
def keys(tmp_path: Path) -> tuple[Path, Path]:
    paths = (tmp_path / "project.key", tmp_path / "other.key")
    for path in paths:
        generate_key_file(path)
    return paths


def _csv(path: Path) -> Path:
    path.write_text(
        "mrn,visit,score,note\n00123,2020-02-01,3,CANARY free text\n0456,2021-07-09,4,\n",
        encoding="utf-8",
    )
    return path


def _invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env={"DEIDKIT_KEY": ""})


def _pseudonymise(tmp_path: Path, key: Path, *extra: str | Path) -> Result:
    return _invoke(
        "pseudonymise",
        _csv(tmp_path / "in.csv"),
        tmp_path / "out.csv",
        "--patient-column",
        "mrn",
        "--date-column",
        "visit",
        "--keep-column",
        "score",
        "--drop-column",
        "note",
        "--key-file",
        key,
        *extra,
    )


def test_pseudonymise_csv_and_reidentify(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    key, other = keys
    linkage = tmp_path / "release.dkl"
    result = _pseudonymise(tmp_path, key, "--linkage", linkage, "--json")
    assert result.exit_code == EXIT_OK, result.output
    summary = json.loads(result.stdout)
    project = load_key_file(key)
    assert summary["key_fingerprint"] == project.fingerprint and summary["rows"] == 2
    assert "CANARY" not in (tmp_path / "out.csv").read_text()
    pseudonym = patient_pseudonym(project, "00123")
    assert pseudonym in (tmp_path / "out.csv").read_text()
    assert b"00123" not in linkage.read_bytes() and b"0456" not in linkage.read_bytes()

    found = _invoke("reidentify", pseudonym, "--linkage", linkage, "--key-file", key)
    assert found.exit_code == EXIT_OK
    offset = date_offset_days(project, "00123")
    assert found.stdout.splitlines() == ["PatientID\t00123", f"DateOffset\t{offset}"]

    wrong = _invoke("reidentify", pseudonym, "--linkage", linkage, "--key-file", other)
    assert wrong.exit_code == EXIT_HELD_BACK and wrong.stdout == ""
    assert "00123" not in wrong.output and "does not open it" in wrong.output
    missing_key = _invoke("reidentify", pseudonym, "--linkage", linkage)
    assert missing_key.exit_code == EXIT_USAGE and missing_key.stdout == ""
    unknown = _invoke("reidentify", "PNOSUCHPSEUDONYM", "--linkage", linkage, "--key-file", key)
    assert unknown.exit_code == EXIT_HELD_BACK and "not found" in unknown.output


def test_reidentify_batch(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    key = keys[0]
    linkage = tmp_path / "release.dkl"
    assert _pseudonymise(tmp_path, key, "--linkage", linkage).exit_code == EXIT_OK
    batch = tmp_path / "ask.csv"
    project = load_key_file(key)
    batch.write_text(f"pid\n{patient_pseudonym(project, '0456')}\nPUNKNOWN\n")
    out = tmp_path / "answers.csv"
    result = _invoke(
        "reidentify",
        "--batch",
        batch,
        "--column",
        "pid",
        "--out",
        out,
        "--linkage",
        linkage,
        "--key-file",
        key,
    )
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout == "" and "0456" not in result.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["pseudonym", "kind", "original"]
    assert ["PatientID", "0456"] == rows[1][1:] and rows[-1] == ["PUNKNOWN", "", ""]
    assert out.stat().st_mode & 0o077 == 0  # PHI: owner-only


def test_unlisted_column_is_usage_error_and_no_output(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    result = _invoke(
        "pseudonymise",
        _csv(tmp_path / "in.csv"),
        tmp_path / "out.csv",
        "--patient-column",
        "mrn",
        "--key-file",
        keys[0],
    )
    assert result.exit_code == EXIT_USAGE
    assert "visit, score, note" in result.output and "00123" not in result.output
    assert not (tmp_path / "out.csv").exists()


def test_date_shift_range_and_profile(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    project = load_key_file(keys[0])
    result = _pseudonymise(tmp_path, keys[0], "--date-shift-range", "-20:-10", "--json")
    assert result.exit_code == EXIT_OK, result.output
    days = date_offset_days(project, "00123", shift_range=(-20, -10))
    visit = (dt.date(2020, 2, 1) + dt.timedelta(days=days)).isoformat()
    assert visit in (tmp_path / "out.csv").read_text()
    profile = tmp_path / "narrow.yaml"
    profile.write_text("name: narrow\nextends: basic\ndate_shift_days: [-20, -10]\n")
    again = _pseudonymise(tmp_path, keys[0], "--profile", profile, "--force")
    assert again.exit_code == EXIT_OK, again.output
    assert visit in (tmp_path / "out.csv").read_text()
    bad = _pseudonymise(tmp_path, keys[0], "--date-shift-range", "ten", "--force")
    assert bad.exit_code == EXIT_USAGE


def test_bad_key_files_are_refused(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    loose = tmp_path / "loose.key"
    loose.write_text(keys[0].read_text())
    loose.chmod(0o644)
    result = _pseudonymise(tmp_path, loose)
    assert result.exit_code == EXIT_USAGE and "chmod 600" in result.output
    short = tmp_path / "short.key"
    short.write_text("abcd\n")
    short.chmod(0o600)
    assert "too short" in _pseudonymise(tmp_path, short).output
    no_key = _invoke(
        "pseudonymise",
        _csv(tmp_path / "in.csv"),
        tmp_path / "out.csv",
        "--patient-column",
        "mrn",
        "--keep-unlisted",
        "--linkage",
        tmp_path / "l.dkl",
    )
    assert no_key.exit_code == EXIT_USAGE and "needs a project key" in no_key.output
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "l.dkl").exists()
    # QA: without --linkage a random key was used with a warning; the table then joined
    # nothing and the key was lost. It is refused too.
    no_key_no_linkage = _invoke(
        "pseudonymise", tmp_path / "in.csv", tmp_path / "out.csv", "--patient-column", "mrn"
    )
    assert no_key_no_linkage.exit_code == EXIT_USAGE
    assert "needs a project key" in no_key_no_linkage.output
    assert not (tmp_path / "out.csv").exists()


def _dicom(folder: Path) -> None:
    ds = pydicom.Dataset()
    ds.PatientID = "X"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / "image", enforce_file_format=True)


def test_linkage_export_layouts_and_release_refusal(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore

    key = keys[0]
    project = load_key_file(key)
    linkage = tmp_path / "release.dkl"
    store = LinkageStore(linkage, key=project)
    store.append(
        [
            LinkageEntry("PatientID", "MRN1", patient_pseudonym(project, "MRN1")),
            LinkageEntry("StudyInstanceUID", "1.2.3", pseudonymous_uid(project, "1.2.3")),
            LinkageEntry("SOPInstanceUID", "1.2.3.4", pseudonymous_uid(project, "1.2.3.4")),
            LinkageEntry("AccessionNumber", "ACC", "A1"),
        ]
    )
    out = tmp_path / "mapping"
    result = _invoke(
        "linkage",
        "export",
        "--linkage",
        linkage,
        "--key-file",
        key,
        "--format",
        "midi-b",
        "--out",
        out,
    )
    assert result.exit_code == EXIT_OK, result.output
    uid_rows = list(csv.reader((out / "uid_mapping.csv").open()))
    assert uid_rows == [
        ["id_old", "id_new"],
        ["1.2.3", pseudonymous_uid(project, "1.2.3")],
        ["1.2.3.4", pseudonymous_uid(project, "1.2.3.4")],
    ]
    pat_rows = list(csv.reader((out / "patid_mapping.csv").open()))
    assert pat_rows == [["id_old", "id_new"], ["MRN1", patient_pseudonym(project, "MRN1")]]
    assert (out / "uid_mapping.csv").stat().st_mode & 0o077 == 0
    again = _invoke("linkage", "export", "--linkage", linkage, "--key-file", key, "--out", out)
    assert again.exit_code == EXIT_USAGE and "already exist" in again.output

    for fmt, name in (("csv", "linkage.csv"), ("json", "linkage.json")):
        done = _invoke(
            "linkage",
            "export",
            "--linkage",
            linkage,
            "--key-file",
            key,
            "--format",
            fmt,
            "--out",
            tmp_path / fmt,
        )
        assert done.exit_code == EXIT_OK, done.output
        assert "ACC" in (tmp_path / fmt / name).read_text()
    document = json.loads((tmp_path / "json" / "linkage.json").read_text())
    assert len(document["entries"]) == 4

    release = tmp_path / "release"
    _dicom(release / "sub")
    refused = _invoke(
        "linkage", "export", "--linkage", linkage, "--key-file", key, "--out", release
    )
    assert refused.exit_code == EXIT_USAGE and "release tree" in refused.output
    marked = tmp_path / "marked"
    marked.mkdir()
    (marked / ".deidkit-release").touch()
    refused = _invoke(
        "linkage", "export", "--linkage", linkage, "--key-file", key, "--out", marked / "x"
    )
    assert refused.exit_code == EXIT_USAGE and not (marked / "x").exists()

    (tmp_path / "rel").mkdir()
    (tmp_path / "rel.run-report.json").write_text("{}")
    refused = _invoke(
        "linkage",
        "export",
        "--linkage",
        linkage,
        "--key-file",
        key,
        "--out",
        tmp_path / "rel" / "m",
    )
    assert refused.exit_code == EXIT_USAGE and "run report" in " ".join(refused.output.split())

    check = _invoke("linkage", "check", "--linkage", linkage, "--key-file", key, "--json")
    assert json.loads(check.stdout) == {
        "records": 1,
        "entries": 4,
        "torn_tail_bytes": 0,
        "complete": True,
        "problem": None,
        "stopped_at_record": None,
    }
    assert check.exit_code == EXIT_OK
    wrong = _invoke(
        "linkage", "export", "--linkage", linkage, "--key-file", keys[1], "--out", tmp_path / "w"
    )
    assert wrong.exit_code == EXIT_HELD_BACK and not (tmp_path / "w").exists()


def test_bids_via_cli(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    source = tmp_path / "bids"
    (source / "sub-07" / "anat").mkdir(parents=True)
    (source / "sub-07" / "anat" / "sub-07_T1w.json").write_text('{"x": "sub-07"}')
    (source / "participants.tsv").write_text("participant_id\nsub-07\n")
    no_flag = _invoke("pseudonymise", source, tmp_path / "out", "--key-file", keys[0])
    assert no_flag.exit_code == EXIT_USAGE and "--bids" in no_flag.output
    done = _invoke(
        "pseudonymise", source, tmp_path / "out", "--bids", "--key-file", keys[0], "--json"
    )
    assert done.exit_code == EXIT_OK, done.output
    new = patient_pseudonym(load_key_file(keys[0]), "07")
    assert (tmp_path / "out" / f"sub-{new}" / "anat" / f"sub-{new}_T1w.json").exists()
    assert json.loads(done.stdout)["subjects"] == 1


def test_join_with_the_sample_corpus(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    from deidkit.demo.sample import generate_sample_corpus

    corpus = generate_sample_corpus(
        tmp_path / "pacs", n_patients=2, broken=False, instances_per_series=1, image_size=4
    )
    project = load_key_file(keys[0])
    image_pseudonyms = set()
    for item in corpus.files:
        ds = pydicom.dcmread(corpus.root / item.path, stop_before_pixels=True)
        image_pseudonyms.add(patient_pseudonym(project, str(ds.PatientID)))
    table = tmp_path / "outcomes.csv"
    table.write_text("pid,label\n" + "".join(f"{p},1\n" for p in corpus.patient_ids))
    result = _invoke(
        "pseudonymise",
        table,
        tmp_path / "o.csv",
        "--patient-column",
        "pid",
        "--keep-column",
        "label",
        "--key-file",
        keys[0],
    )
    assert result.exit_code == EXIT_OK, result.output
    with (tmp_path / "o.csv").open() as handle:
        released = {row["pid"] for row in csv.DictReader(handle)}
    assert released and released <= image_pseudonyms
