"""The batch loop: release contents, held-back reasons, determinism, resume, side outputs."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import UID
from scrub_helpers import find_canaries, read_tree

from deidkit.core.errors import OutputPathError, UsageError
from deidkit.core.keys import ProjectKey
from deidkit.core.runreport import FileOutcome, action_log_path, run_report_path
from deidkit.demo.sample import SampleCorpus
from deidkit.pseudonymise.linkage import LinkageStore
from deidkit.rules.profile import load_profile
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, ScrubSummary, scrub_tree


def _scrub(
    corpus_root: Path,
    out: Path,
    key: ProjectKey,
    *,
    profile: str = "basic",
    workers: int = 1,
    **kw: Any,
) -> ScrubSummary:
    allow = kw.pop("allow_burned_in", False)
    on_outcome = kw.pop("on_outcome", None)
    settings = ScrubSettings(profile=load_profile(profile), key=key, allow_burned_in=allow)
    return scrub_tree(
        corpus_root,
        out,
        settings=settings,
        options=RunOptions(workers=workers, **kw),
        on_outcome=on_outcome,
    )


def _uids(ds: pydicom.Dataset) -> list[str]:
    found: list[str] = []
    for elem in ds.iterall():
        if elem.VR == "UI" and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            found.extend(str(v) for v in values)
    return found


def _check_references(out: Path) -> None:
    """Every reference in the release (SOP, series, frame of reference) points inside it."""
    released: set[str] = set()
    references: set[str] = set()
    for path in out.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        released.update([ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID])
        released.update(str(u) for u in [ds.get("FrameOfReferenceUID")] if u)
        for elem in ds.iterall():
            if elem.keyword in {"ReferencedSOPInstanceUID", "ReferencedFrameOfReferenceUID",
                                "SeriesInstanceUID", "FrameOfReferenceUID"}:  # fmt: skip
                references.add(str(elem.value))
    assert references and references <= released


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_release_is_clean_and_valid(
    sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, profile: str
) -> None:
    out = tmp_path / "release"
    summary = _scrub(sample_corpus.root, out, project_key, profile=profile)
    held = {h["source"]: h["reason"] for h in summary.report["held_back"]}
    assert held == sample_corpus.expected_held_back
    skipped = {h["source"]: h["reason"] for h in summary.report["skipped"]}
    assert skipped == sample_corpus.expected_skipped
    assert summary.counts["written"] == len(sample_corpus.released)
    assert summary.exit_code == 1
    tree = read_tree(out)
    assert len(tree) == len(sample_corpus.released)
    assert find_canaries(tree, sample_corpus.canaries) == []
    assert not any(sample_corpus.uid_root.encode() in data for data in tree.values())
    if profile == "basic":  # Basic removes or empties every date; research shifts them
        assert not any(
            d.encode() in data for d in sample_corpus.planted_dates for data in tree.values()
        )
    for rel, data in tree.items():
        assert data[128:132] == b"DICM"
        ds = pydicom.dcmread(out / rel)  # strict read: must be valid Part 10
        parts = rel.split("/")
        assert parts == [ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID,
                         f"{ds.SOPInstanceUID}.dcm"]  # fmt: skip
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        for uid in _uids(ds):
            assert UID(uid).is_valid, rel
    _check_references(out)


def test_reports_hold_no_values(
    sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    out = tmp_path / "release"
    summary = _scrub(sample_corpus.root, out, project_key)
    assert summary.run_report == run_report_path(out) and summary.run_report.exists()
    texts = summary.run_report.read_text() + action_log_path(out).read_text()
    paths = "\n".join(f.path for f in sample_corpus.files)
    value_only = [c for c in sample_corpus.canaries if c not in paths]
    assert len(value_only) > 30
    assert [c for c in value_only if c in texts] == []
    assert project_key.secret.hex() not in texts
    report = json.loads(summary.run_report.read_text())
    assert report["status"] == "complete" and report["unlinkable"] is False
    assert report["key"]["fingerprint"] == project_key.fingerprint
    assert report["table_edition"] and report["profile"]["name"] == "basic"
    assert {b["source"] for b in report["burned_in"]} == {
        p for p, r in sample_corpus.expected_held_back.items() if r == "burned_in"
    }
    lines = [json.loads(line) for line in action_log_path(out).read_text().splitlines()]
    assert [line["source"] for line in lines] == [f.path for f in sample_corpus.files]


def test_ephemeral_key_is_reported_unlinkable(small_corpus: SampleCorpus, tmp_path: Path) -> None:
    key = ProjectKey(secret=bytes(32), source="random", ephemeral=True)
    summary = _scrub(small_corpus.root, tmp_path / "out", key)
    assert summary.report["unlinkable"] is True


def test_resume_after_interruption_is_byte_identical(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    _scrub(small_corpus.root, reference, project_key)
    out = tmp_path / "interrupted"
    seen: list[FileOutcome] = []

    def crash(outcome: FileOutcome) -> None:
        seen.append(outcome)
        if len(seen) == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _scrub(small_corpus.root, out, project_key, on_outcome=crash)
    partial = read_tree(out)
    assert 0 < len(partial) < len(read_tree(reference))
    assert not action_log_path(out).exists()  # the log is only published when complete
    # A crash mid-write leaves a temp file behind: the resumed run must clear it.
    stale = next(iter(partial))
    (out / stale).parent.joinpath(".tmp-abc.part").write_bytes(b"partial")
    summary = _scrub(small_corpus.root, out, project_key)
    assert summary.report["resumed"] is True
    assert summary.counts["unchanged"] == len(partial)
    assert read_tree(out) == read_tree(reference)


def test_resume_with_workers_after_interruption(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    _scrub(small_corpus.root, reference, project_key)
    out = tmp_path / "out"
    count = 0

    def crash(_outcome: FileOutcome) -> None:
        nonlocal count
        count += 1
        if count == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _scrub(small_corpus.root, out, project_key, workers=2, chunk_size=2, on_outcome=crash)
    _scrub(small_corpus.root, out, project_key, workers=2)
    assert read_tree(out) == read_tree(reference)
    assert not [p for p in read_tree(out) if p.endswith(".part")]


def test_refuses_mixing_settings(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _scrub(small_corpus.root, out, project_key)
    other = ProjectKey(secret=b"\x01" * 32, source="other")
    with pytest.raises(OutputPathError):
        _scrub(small_corpus.root, out, other)
    with pytest.raises(OutputPathError):
        _scrub(small_corpus.root, out, project_key, profile="research")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "x").write_text("x")
    with pytest.raises(OutputPathError):
        _scrub(small_corpus.root, tmp_path / "foreign", project_key)


def test_refuses_unsafe_locations(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    with pytest.raises(OutputPathError):
        _scrub(small_corpus.root, small_corpus.root / "release", project_key)
    with pytest.raises(OutputPathError):
        _scrub(small_corpus.root, small_corpus.root, project_key)
    with pytest.raises(OutputPathError):
        _scrub(small_corpus.root, tmp_path / "o", project_key,
               linkage_path=tmp_path / "o" / "link.bin")  # fmt: skip
    with pytest.raises(UsageError):
        _scrub(tmp_path / "missing", tmp_path / "o2", project_key)
    assert not (small_corpus.root / "release").exists()


def test_dry_run_writes_nothing(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    summary = _scrub(small_corpus.root, out, project_key, dry_run=True)
    assert summary.counts["dry_run"] == len(small_corpus.released)
    assert summary.run_report is None
    assert not out.exists() and not run_report_path(out).exists()


def test_allow_burned_in_releases_flagged_files(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    summary = _scrub(small_corpus.root, tmp_path / "out", project_key, allow_burned_in=True)
    burned = [p for p, r in small_corpus.expected_held_back.items() if r == "burned_in"]
    assert burned and summary.counts["released"] == len(small_corpus.released) + len(burned)
    assert all(b["released"] for b in summary.report["burned_in"])


def test_linkage_and_cohort_manifest(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    link, manifest = tmp_path / "link.bin", tmp_path / "cohort.csv"
    out = tmp_path / "out"
    _scrub(small_corpus.root, out, project_key, linkage_path=link, cohort_manifest=manifest)
    entries = list(LinkageStore(link, key=project_key).entries())
    originals = {e.original for e in entries}
    assert set(small_corpus.patient_ids) <= originals
    rows = list(csv.DictReader(manifest.open()))
    series = {tuple(p.split("/")[:3]) for p in read_tree(out)}
    assert {(r["patient_pseudonym"], r["study_uid"], r["series_uid"]) for r in rows} == series
    assert all(r["site"] and "CANARY" not in ",".join(r.values()) for r in rows)


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**16), workers=st.sampled_from([1, 2]))
def test_same_output_whatever_workers_and_file_order(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path_factory: Any, seed: int,
    workers: int,
) -> None:  # fmt: skip
    base = tmp_path_factory.mktemp("det")
    reference = base / "reference"
    _scrub(small_corpus.root, reference, project_key)
    # Same files under shuffled names and folders: a different walk order.
    shuffled = base / "shuffled"
    names = [f.path for f in small_corpus.files if f.expected == "release"]
    order = list(range(len(names)))
    random.Random(seed).shuffle(order)
    for index, name in zip(order, names, strict=True):
        target = shuffled / f"d{index % 3}" / f"f{index:03d}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(small_corpus.root / name, target)
    out = base / "out"
    _scrub(shuffled, out, project_key, workers=workers, chunk_size=3)
    assert read_tree(out) == read_tree(reference)
    _check_references(out)
