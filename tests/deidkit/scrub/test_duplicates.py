"""One instance exported twice: the first input in walk order owns the output, always."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
from dicom_builders import canary_dataset, to_bytes
from pydicom.dataset import Dataset

from deidkit.core.keys import ProjectKey
from deidkit.rules.profile import load_profile
from deidkit.scrub.duplicates import REASON_DUPLICATE
from deidkit.scrub.per_file import REASON_CONFLICT
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, scrub_tree


def _copy(manufacturer: str) -> bytes:
    # Same SOP Instance UID, so the same output path; Manufacturer is kept by the profile,
    # so two copies that differ in it scrub to different bytes.
    ds: Dataset = canary_dataset()
    ds.Manufacturer = manufacturer
    return to_bytes(ds)


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _run(source: Path, output: Path, key: ProjectKey, workers: int = 1) -> dict[str, dict]:
    settings = ScrubSettings(profile=load_profile("basic"), key=key)
    summary = scrub_tree(source, output, settings=settings, options=RunOptions(workers=workers))
    assert summary.action_log is not None
    lines = summary.action_log.read_text().splitlines()
    return {rec["source"]: rec for rec in map(json.loads, lines)}


def _release(output: Path) -> dict[str, bytes]:
    return {str(p.relative_to(output)): p.read_bytes() for p in output.rglob("*.dcm")}


def test_identical_copy_is_skipped_as_duplicate(tmp_path: Path, project_key: ProjectKey) -> None:
    src = _tree(tmp_path / "in", {"a/1.dcm": _copy("ACME"), "b/1.dcm": _copy("ACME")})
    log = _run(src, tmp_path / "out", project_key)
    assert log["a/1.dcm"]["status"] == "written"
    assert (log["b/1.dcm"]["status"], log["b/1.dcm"]["reason"]) == ("skipped", REASON_DUPLICATE)
    assert len(_release(tmp_path / "out")) == 1


def test_differing_copy_is_held_back_and_first_wins(
    tmp_path: Path, project_key: ProjectKey
) -> None:
    src = _tree(tmp_path / "in", {"a.dcm": _copy("FIRSTCO"), "b.dcm": _copy("SECONDCO")})
    log = _run(src, tmp_path / "out", project_key)
    assert log["a.dcm"]["status"] == "written"
    assert (log["b.dcm"]["status"], log["b.dcm"]["reason"]) == ("held_back", REASON_CONFLICT)
    (data,) = _release(tmp_path / "out").values()
    assert pydicom.dcmread(tmp_path / "out" / log["a.dcm"]["output"]).Manufacturer == "FIRSTCO"
    assert b"SECONDCO" not in data


def test_later_copy_written_first_is_replaced(tmp_path: Path, project_key: ProjectKey) -> None:
    # The later copy reaches OUTPUT first (another worker, or a crashed earlier run): the
    # owner in walk order must still end up in the release, as a one-worker run writes it.
    fresh = _tree(tmp_path / "fresh", {"a.dcm": _copy("FIRSTCO"), "b.dcm": _copy("SECONDCO")})
    _run(fresh, tmp_path / "expected", project_key)
    src = _tree(tmp_path / "in", {"b.dcm": _copy("SECONDCO")})
    _run(src, tmp_path / "out", project_key)
    (src / "a.dcm").write_bytes(_copy("FIRSTCO"))
    log = _run(src, tmp_path / "out", project_key)
    assert log["a.dcm"]["status"] == "written"
    assert log["b.dcm"]["reason"] == REASON_CONFLICT
    assert _release(tmp_path / "out") == _release(tmp_path / "expected")


def test_duplicates_settle_the_same_with_two_workers(
    tmp_path: Path, project_key: ProjectKey
) -> None:
    files = {f"{i:02d}.dcm": _copy(f"CO{i}") for i in range(6)}
    src = _tree(tmp_path / "in", files)
    one = _run(src, tmp_path / "one", project_key, workers=1)
    two = _run(src, tmp_path / "two", project_key, workers=2)
    assert one == two
    assert _release(tmp_path / "one") == _release(tmp_path / "two")
