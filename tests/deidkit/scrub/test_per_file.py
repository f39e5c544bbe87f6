"""The per-file stage: outcomes for every input kind, pickling to workers, safe writes."""

from __future__ import annotations

import functools
import logging
import pickle
from pathlib import Path

import pydicom
import pytest

import deidkit.scrub.per_file as scrubfile
from deidkit.core.keys import ProjectKey
from deidkit.demo.sample import SampleCorpus
from deidkit.rules.profile import load_profile
from deidkit.scrub.per_file import ScrubSettings, WorkerConfig, init_worker, process_file, run_chunk


def _config(key: ProjectKey, out: Path, **kw: bool) -> WorkerConfig:
    settings = ScrubSettings(profile=load_profile("research"), key=key)
    return WorkerConfig(settings=settings, output=out, dry_run=kw.get("dry_run", False),
                        want_linkage=True, want_cohort=True)  # fmt: skip


def test_config_survives_pickling(project_key: ProjectKey, tmp_path: Path) -> None:
    config = _config(project_key, tmp_path)
    clone = pickle.loads(pickle.dumps(config))
    assert clone.settings.profile == config.settings.profile
    assert clone.settings.fingerprint() == config.settings.fingerprint()
    assert clone.settings.key.secret == project_key.secret


def test_outcome_per_file_kind(
    sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    config = _config(project_key, tmp_path / "out")
    for sample in sample_corpus.files:
        outcome = process_file(sample_corpus.root / sample.path, sample.path, config)
        if sample.expected == "release":
            assert outcome.status == "written", (sample.kind, outcome.reason, outcome.detail)
            ds = pydicom.dcmread(tmp_path / "out" / str(outcome.output))
            assert outcome.ids == (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID)
            assert outcome.cohort is not None and outcome.cohort["modality"] == ds.Modality
            assert any(kind == "PatientID" for kind, _o, _p in outcome.linkage)
        elif sample.expected == "dicomdir":
            assert (outcome.status, outcome.reason) == ("skipped", "dicomdir")
        else:
            assert (outcome.status, outcome.reason) == ("held_back", sample.expected)
    again = process_file(sample_corpus.root / sample_corpus.released[0], "x", config)
    assert again.status == "unchanged"


def test_write_failure_is_held_back_without_temp_files(
    sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path
) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where OUTPUT's folders must go")
    config = _config(project_key, blocker)
    rel = sample_corpus.released[0]
    outcome = process_file(sample_corpus.root / rel, rel, config)
    assert (outcome.status, outcome.reason) == ("held_back", "write_error")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("dry_run", [True])
def test_dry_run_writes_nothing(
    sample_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, dry_run: bool
) -> None:
    config = _config(project_key, tmp_path / "out", dry_run=dry_run)
    rel = sample_corpus.released[0]
    outcome = process_file(sample_corpus.root / rel, rel, config)
    assert outcome.status == "dry_run" and outcome.output, outcome
    assert not (tmp_path / "out").exists()


# --- regressions found on pydicom's own test files (QA on corpora never seen) ------------


def _pydicom_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name)
    assert isinstance(found, str), name  # shipped with pydicom, never downloaded
    return Path(found)


def test_explicit_syntax_with_implicit_encoding_is_released(
    project_key: ProjectKey, tmp_path: Path
) -> None:
    # SC_rgb_jpeg.dcm declares JPEG Baseline (explicit VR) but its data set is implicit
    # VR: pydicom reads it with no VRs, and writing it used to fail (encode_error).
    src = _pydicom_file("SC_rgb_jpeg.dcm")
    config = _config(project_key, tmp_path / "out")
    settings = ScrubSettings(profile=config.settings.profile, key=project_key, allow_burned_in=True)
    config = WorkerConfig(settings=settings, output=tmp_path / "out", dry_run=False,
                          want_linkage=False, want_cohort=False)  # fmt: skip
    outcome = process_file(src, "sc.dcm", config)
    assert outcome.status == "written", (outcome.reason, outcome.detail)
    out = pydicom.dcmread(tmp_path / "out" / str(outcome.output), force=False)
    with pytest.warns(UserWarning, match="implicit VR"):
        original = pydicom.dcmread(src)
    assert out.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert out.PixelData == original.PixelData
    assert all(elem.VR not in (None, "UN") for elem in out.iterall())


def test_missing_study_and_series_uids_are_held_back_as_missing_uids(
    project_key: ProjectKey, tmp_path: Path
) -> None:
    # JPEGLSNearLossless_08.dcm has SOP UIDs but no Study/Series Instance UID.
    outcome = process_file(
        _pydicom_file("JPEGLSNearLossless_08.dcm"), "j.dcm", _config(project_key, tmp_path)
    )
    assert (outcome.status, outcome.reason) == ("held_back", "missing_uids")
    assert not list(tmp_path.rglob("*.dcm"))


def test_chunk_shares_identical_actions(
    sample_corpus: SampleCorpus,
    project_key: ProjectKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    # Outcomes with equal actions carry one tuple, so a chunk's result pickles them once;
    # nothing else about the outcomes changes.
    series = sorted(sample_corpus.released)[:4]
    tasks = [(str(sample_corpus.root / rel), rel) for rel in series]
    monkeypatch.setattr(scrubfile, "_CONFIG", None)
    logger = logging.getLogger("pydicom")
    monkeypatch.setattr(logger, "disabled", logger.disabled)  # init_worker silences it
    request.addfinalizer(functools.partial(logger.setLevel, logger.level))  # clears caches
    init_worker(_config(project_key, tmp_path / "chunk", dry_run=True))
    outcomes = run_chunk(tasks)
    alone = [process_file(Path(p), rel, _config(project_key, tmp_path / "one", dry_run=True))
             for p, rel in tasks]  # fmt: skip
    assert outcomes == alone
    groups: dict[object, list[object]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.actions, []).append(outcome.actions)
    assert any(len(same) > 1 for same in groups.values())  # the test needs a shared list
    for same in groups.values():
        assert all(actions is same[0] for actions in same)
    assert len(pickle.dumps(outcomes)) < len(pickle.dumps(alone))
