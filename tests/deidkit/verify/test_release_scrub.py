"""A release made by ``deidkit scrub`` from the sample corpus verifies clean (no false alarms)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import deidkit.verify.release as verify_module
from deidkit.cli import app
from deidkit.commands._common import EXIT_OK, EXIT_PHI_FOUND
from deidkit.core.keys import ProjectKey, load_key
from deidkit.demo.sample import SampleCorpus
from deidkit.pseudonymise.linkage import LinkageStore
from deidkit.verify.release import verify_release

runner = CliRunner()


@pytest.fixture(scope="module", params=["basic", "research"])
def scrubbed(
    request: pytest.FixtureRequest,
    small_corpus: SampleCorpus,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, Path, str]:
    """(release, key file, linkage file, profile) from one scrub of the small corpus."""
    profile = str(request.param)
    root = tmp_path_factory.mktemp(f"scrub-{profile}")
    key_file = root / "project.key"
    assert runner.invoke(app, ["keygen", str(key_file)]).exit_code == 0
    release, linkage = root / "release", root / "link.bin"
    args = [
        "scrub",
        str(small_corpus.root),
        str(release),
        "--profile",
        profile,
        "--key-file",
        str(key_file),
        "--linkage",
        str(linkage),
        "--workers",
        "1",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output  # 1: the corpus' broken files are held back
    return release, key_file, linkage, profile


def test_scrubbed_release_verifies_clean(
    scrubbed: tuple[Path, Path, Path, str], small_corpus: SampleCorpus
) -> None:
    release, key_file, linkage, profile = scrubbed
    out = release.parent / "plain.json"
    result = runner.invoke(app, ["verify", str(release), "--json-out", str(out), "--workers", "1"])
    data = json.loads(out.read_text())
    assert result.exit_code == EXIT_OK, data["findings"]
    assert data["profile"]["name"] == profile  # read from the run report
    assert [f for f in data["findings"] if f["severity"] != "info"] == []

    out = release.parent / "full.json"
    html = release.parent / "full.html"
    args = [
        "verify",
        str(release),
        "--original",
        str(small_corpus.root),
        "--linkage",
        str(linkage),
        "--key-file",
        str(key_file),
        "--json-out",
        str(out),
        "--html",
        str(html),
        "--workers",
        "1",
    ]
    result = runner.invoke(app, args)
    data = json.loads(out.read_text())
    assert result.exit_code == EXIT_OK, data["findings"]
    assert [f for f in data["findings"] if f["severity"] != "info"] == []
    score = data["score"]
    assert score["overall"] == 1.0 and score["unpaired_originals"] == 0
    assert score["categories"]["uid_consistent"]["required"] > 0
    assert score["categories"]["patient_id_consistent"]["required"] == score["pairs"]
    if profile == "research":
        assert score["categories"]["date_shifted"]["required"] > 0
    page = html.read_text()
    assert "Clean: no residual PHI found" in page
    assert not any(canary in page or canary in out.read_text() for canary in small_corpus.canaries)


def test_midi_b_mapping_csv_gives_the_same_score(
    scrubbed: tuple[Path, Path, Path, str], small_corpus: SampleCorpus, tmp_path: Path
) -> None:
    release, key_file, linkage, _ = scrubbed
    key = load_key(key_file)
    entries = list(LinkageStore(linkage, key=key).entries())
    uid_csv, pid_csv = tmp_path / "uid_mapping.csv", tmp_path / "patid_mapping.csv"
    for path, kinds in (
        (uid_csv, {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "UID"}),
        (pid_csv, {"PatientID"}),
    ):
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id_old", "id_new"])
            writer.writerows(
                sorted({(e.original, e.pseudonym) for e in entries if e.kind in kinds})
            )
    by_csv = verify_release(release, original=small_corpus.root, linkage=tmp_path, workers=1)
    assert by_csv.score is not None and by_csv.score["overall"] == 1.0
    assert by_csv.exit_code() == EXIT_OK


@pytest.mark.parametrize("scrubbed", ["basic"], indirect=True)
def test_worker_processes_and_planted_canary(
    scrubbed: tuple[Path, Path, Path, str],
    small_corpus: SampleCorpus,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release, key_file, _, _ = scrubbed
    copy = tmp_path / "release"
    shutil.copytree(release, copy)
    shutil.copy(release.parent / "release.run-report.json", tmp_path / "release.run-report.json")
    victim = sorted(copy.rglob("*.dcm"))[0]
    data = bytearray(victim.read_bytes())
    canary = small_corpus.patient_ids[0].encode()
    data[0 : len(canary)] = canary  # the preamble: outside every element
    victim.write_bytes(bytes(data))
    monkeypatch.setattr(verify_module, "SERIAL_LIMIT", 0)  # force the process pool
    key: ProjectKey = load_key(key_file)
    result = verify_release(copy, original=small_corpus.root, key=key, workers=2)
    assert result.exit_code() == EXIT_PHI_FOUND
    raw = [f for f in result.findings if f.check == "raw-bytes"]
    assert [(f.file, f.matched_attribute) for f in raw] == [
        (victim.relative_to(copy).as_posix(), "PatientID")
    ]


@pytest.mark.parametrize("scrubbed", ["research"], indirect=True)
def test_every_planted_canary_is_found(
    scrubbed: tuple[Path, Path, Path, str], small_corpus: SampleCorpus, tmp_path: Path
) -> None:
    # The corpus' canaries cover every PHI kind it plants (names, IDs, addresses, free
    # text, private elements, SR text). Hide each one in the release and expect a finding.
    release, _, _, _ = scrubbed
    copy = tmp_path / "release"
    shutil.copytree(release, copy)
    released = {c for c in small_corpus.canaries if c != "CANARYFILESETQ"}  # DICOMDIR only
    sidecar = {f"k{i}": f"left over: {c}." for i, c in enumerate(sorted(released))}
    (copy / "sidecar.json").write_text(json.dumps(sidecar))
    result = verify_release(copy, original=small_corpus.root, workers=1)
    found = {
        f.tag_path for f in result.findings if f.check == "json-sidecar" and f.matched_attribute
    }
    assert found == {f"json:{k}" for k in sidecar}
    assert not any(c in json.dumps(result.to_json()) for c in released)
