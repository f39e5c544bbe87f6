"""``--executor local|dask`` and ``--scheduler`` on scrub, verify and deface."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from scrub_helpers import read_tree
from typer.testing import CliRunner

import deidkit.commands._progress as progress_module
import deidkit.verify.release as verify_module
from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_USAGE
from deidkit.demo.sample import SampleCorpus

runner = CliRunner()


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a running two-worker cluster (threads of this process)."""
    pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")
    from deidkit.core.dask_executor import DaskCluster

    with DaskCluster.connect(workers=2, processes=False, dashboard_address=":0") as cluster:
        yield str(cluster.client.scheduler.address)


def _scrub(corpus: SampleCorpus, out: Path, key_file: Path, *extra: str) -> tuple[int, str, str]:
    args = ["scrub", str(corpus.root), str(out), "--key-file", str(key_file), *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


def _no_input_named(corpus: SampleCorpus, text: str) -> None:
    assert str(corpus.root) not in text
    assert "CANARY" not in text


@pytest.mark.parametrize("command", ["scrub", "verify", "deface"])
def test_scheduler_without_dask_is_a_usage_error(command: str, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    args = [command, str(src), *([str(tmp_path / "out")] if command != "verify" else [])]
    result = runner.invoke(app, [*args, "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "--scheduler needs --executor dask" in result.stderr


def test_dask_not_installed_is_a_usage_error_naming_the_extra(
    small_corpus: SampleCorpus, key_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code, _out, err = _scrub(small_corpus, tmp_path / "out", key_file, "--executor", "dask")
    assert code == EXIT_USAGE
    assert "pip install 'deidkit-auditkit[dask]'" in err.replace("\n", "")
    assert not (tmp_path / "out").exists()


def test_scrub_on_a_scheduler_gives_the_local_release(
    small_corpus: SampleCorpus,
    key_file: Path,
    tmp_path: Path,
    scheduler: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_module, "EVERY_FILES", 5)
    code, _out, _err = _scrub(small_corpus, tmp_path / "local", key_file, "--workers", "1")
    assert code == EXIT_HELD_BACK  # the corpus' broken files
    code, out, err = _scrub(small_corpus, tmp_path / "dask", key_file, "--executor", "dask",
                            "--scheduler", scheduler)  # fmt: skip
    assert code == EXIT_HELD_BACK, err
    assert "connected to the Dask scheduler: 2 worker threads" in err
    # Progress comes from the cluster too: CliRunner's stderr is no terminal, so plain lines.
    assert "scrub: 10/20 files, " in err
    _no_input_named(small_corpus, out + err)
    assert read_tree(tmp_path / "dask") == read_tree(tmp_path / "local")


def test_scrub_starts_a_local_cluster_and_names_no_input(
    small_corpus: SampleCorpus, key_file: Path, tmp_path: Path
) -> None:
    pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")
    code, out, err = _scrub(small_corpus, tmp_path / "out", key_file, "--executor", "dask",
                            "--workers", "2", "--json")  # fmt: skip
    assert code == EXIT_HELD_BACK, err
    assert "started a local Dask cluster: 2 worker threads;" in err
    assert json.loads(out)["counts"]["released"] > 0  # stdout stays JSON only
    _no_input_named(small_corpus, out + err)


def test_verify_on_a_scheduler_finds_what_the_local_run_finds(
    small_corpus: SampleCorpus,
    key_file: Path,
    tmp_path: Path,
    scheduler: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = tmp_path / "release"
    assert _scrub(small_corpus, release, key_file, "--workers", "1")[0] == EXIT_HELD_BACK
    # A planted identifier, so that there is something to find.
    victim = sorted(release.rglob("*.dcm"))[0]
    data = bytearray(victim.read_bytes())
    canary = small_corpus.patient_ids[0].encode()
    data[0 : len(canary)] = canary
    victim.write_bytes(bytes(data))
    monkeypatch.setattr(verify_module, "SERIAL_LIMIT", 0)  # every stage on the workers
    common = ["verify", str(release), "--original", str(small_corpus.root), "--key-file",
              str(key_file), "--json"]  # fmt: skip
    local = runner.invoke(app, [*common, "--workers", "2"])
    spread = runner.invoke(app, [*common, "--executor", "dask", "--scheduler", scheduler])
    assert spread.exit_code == local.exit_code == 3, spread.stderr
    found, expected = json.loads(spread.stdout), json.loads(local.stdout)
    found.pop("created"), expected.pop("created")  # when each ran
    assert found == expected
    assert "raw-bytes" in spread.stdout
