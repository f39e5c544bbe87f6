"""``deidkit scrub`` and ``deidkit verify`` with INPUT / OUTPUT / RELEASE as fsspec URLs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from memory_fs import memory_tree, upload
from scrub_helpers import read_tree
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_OK, EXIT_USAGE
from deidkit.demo.sample import SampleCorpus

fsspec = pytest.importorskip("fsspec", reason="needs the 'cloud' extra (fsspec)")

runner = CliRunner()
_SIDECARS = (".run-report.json", ".actions.jsonl")


def _scrub(source: str, out: str, key_file: Path, *extra: str) -> Any:
    return runner.invoke(app, ["scrub", source, out, "--key-file", str(key_file), *extra])


def _verify(release: str, original: str, key_file: Path, *extra: str) -> Any:
    args = ["verify", release, "--original", original, "--key-file", str(key_file), "--json"]
    return runner.invoke(app, [*args, *extra])


def _verdict(result: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(result.stdout)
    found.pop("created")  # when it ran
    return found


def test_memory_round_trip_scrub_then_verify(
    small_corpus: SampleCorpus, key_file: Path, tmp_path: Path, memory: tuple[Any, str]
) -> None:
    fs, root = memory
    local = tmp_path / "release"
    plain = _scrub(str(small_corpus.root), str(local), key_file, "--workers", "1")
    assert plain.exit_code == EXIT_HELD_BACK  # the corpus' broken files
    upload(small_corpus.root, fs, f"{root}/in")

    scrubbed = _scrub(f"memory://{root}/in", f"memory://{root}/release", key_file)

    assert scrubbed.exit_code == EXIT_HELD_BACK, scrubbed.output
    assert memory_tree(fs, f"{root}/release") == read_tree(local)
    assert f"run report: memory://{root}/release.run-report.json" in scrubbed.stdout
    assert "CANARY" not in scrubbed.output
    for suffix in _SIDECARS:
        assert fs.exists(f"{root}/release{suffix}")
    checked = _verify(f"memory://{root}/release", f"memory://{root}/in", key_file)
    expected = _verify(str(local), str(small_corpus.root), key_file)
    assert checked.exit_code == expected.exit_code == EXIT_OK, checked.output
    assert _verdict(checked) == _verdict(expected)
    assert _verdict(checked)["completeness"] == "checked"
    assert root not in checked.stdout + checked.stderr
    mixed = _verify(str(local), f"memory://{root}/in", key_file)  # a local release, URL originals
    assert mixed.exit_code == EXIT_OK and _verdict(mixed) == _verdict(expected)


def test_file_url_round_trip(small_corpus: SampleCorpus, key_file: Path, tmp_path: Path) -> None:
    plain = _scrub(str(small_corpus.root), str(tmp_path / "plain"), key_file, "--workers", "1")
    url = _scrub(f"file://{small_corpus.root}", f"file://{tmp_path}/url", key_file)
    assert url.exit_code == plain.exit_code == EXIT_HELD_BACK, url.output
    assert read_tree(tmp_path / "url") == read_tree(tmp_path / "plain")
    checked = _verify(f"file://{tmp_path}/url", f"file://{small_corpus.root}", key_file)
    assert checked.exit_code == EXIT_OK, checked.output
    assert _verdict(checked)["completeness"] == "checked"


def test_memory_on_a_dask_cluster_of_threads(
    small_corpus: SampleCorpus, key_file: Path, tmp_path: Path, memory: tuple[Any, str]
) -> None:
    pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")
    fs, root = memory
    upload(small_corpus.root, fs, f"{root}/in")
    local = _scrub(str(small_corpus.root), str(tmp_path / "local"), key_file, "--workers", "1")
    spread = _scrub(f"memory://{root}/in", f"memory://{root}/out", key_file,
                    "--executor", "dask", "--workers", "2")  # fmt: skip
    assert spread.exit_code == local.exit_code == EXIT_HELD_BACK, spread.output
    assert "started a local Dask cluster: 2 worker threads" in spread.stderr
    assert memory_tree(fs, f"{root}/out") == read_tree(tmp_path / "local")


@pytest.mark.parametrize("command", ["scrub", "verify"])
def test_unknown_protocol_is_a_usage_error_naming_only_the_scheme(
    command: str, tmp_path: Path
) -> None:
    url = "nosuchfs://bucket-PATIENTNAME/export"
    args = [command, url, *([str(tmp_path / "out")] if command == "scrub" else [])]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "nosuchfs://" in result.stderr and "'cloud'" in result.stderr
    assert "PATIENTNAME" not in result.output
    assert not (tmp_path / "out").exists()


def test_missing_backend_names_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs -> ImportError
    result = runner.invoke(app, ["scrub", "s3://bucket-PATIENTNAME/x", str(tmp_path / "out")])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "pip install s3fs" in result.stderr.replace("\n", " ")
    assert "PATIENTNAME" not in result.output


def test_missing_fsspec_names_the_cloud_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)
    result = runner.invoke(app, ["verify", "memory://PATIENTNAME/release"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "pip install 'deidkit-auditkit[cloud]'" in result.stderr.replace("\n", "")
    assert "PATIENTNAME" not in result.output
