"""Exit codes of the deidkit CLI under faults: internal errors (70), checks before writing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands import scrub as scrub_command
from deidkit.core.errors import WorkerLostError
from deidkit.core.keys import KEY_ENV_VAR, ProjectKey
from deidkit.demo.sample import SampleCorpus
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore
from deidkit.scrub import pipeline

runner = CliRunner()
SECRET = "CANARY^PATIENT^NAME"  # stands for patient data quoted in an exception message
ENV = {KEY_ENV_VAR: "ab" * 32, "DEIDKIT_DEBUG": ""}


def _boom(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError(f"could not parse {SECRET}")


def _scrub_args(corpus: SampleCorpus, out: Path, *extra: str) -> list[str]:
    return ["scrub", str(corpus.root), str(out), "--workers", "1", *extra]


def test_an_uncaught_exception_is_one_line_and_exit_70(
    small_corpus: SampleCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scrub_command, "scrub_tree", _boom)
    result = runner.invoke(app, _scrub_args(small_corpus, tmp_path / "out"), env=ENV)
    assert result.exit_code == 70
    assert result.stderr.splitlines() == ["internal error (this is a bug): RuntimeError"]
    assert SECRET not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("flag", "env"), [("--verbose", {}), (None, {"DEIDKIT_DEBUG": "1"})], ids=["verbose", "env"]
)
def test_the_traceback_only_when_asked(
    small_corpus: SampleCorpus,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flag: str | None,
    env: dict[str, str],
) -> None:
    monkeypatch.setattr(scrub_command, "scrub_tree", _boom)
    args = _scrub_args(small_corpus, tmp_path / "out", *([flag] if flag else []))
    result = runner.invoke(app, args, env={**ENV, **env})
    assert result.exit_code == 70
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1] == "internal error (this is a bug): RuntimeError"


def test_workers_lost_again_and_again_exit_70(
    small_corpus: SampleCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(*_args: object, **_kwargs: object) -> None:
        raise WorkerLostError("a worker process was lost 3 time(s) while running the same work")

    monkeypatch.setattr(scrub_command, "scrub_tree", lost)
    result = runner.invoke(app, _scrub_args(small_corpus, tmp_path / "out"), env=ENV)
    assert result.exit_code == 70
    assert "worker process was lost" in result.stderr and len(result.stderr.splitlines()) == 1


def test_ctrl_c_exits_130_and_says_how_to_resume(
    small_corpus: SampleCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(scrub_command, "scrub_tree", interrupted)
    result = runner.invoke(app, _scrub_args(small_corpus, tmp_path / "out"), env=ENV)
    assert result.exit_code == 130
    assert result.stderr.splitlines() == ["interrupted: run the same command again to resume"]


def test_typer_exits_and_usage_errors_keep_their_codes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scrub", str(tmp_path / "nowhere"), str(tmp_path / "o")], env=ENV)
    assert result.exit_code == 2 and "internal error" not in result.output
    result = runner.invoke(app, ["deface", str(tmp_path), str(tmp_path / "o"), "--method", "x"])
    assert result.exit_code == 2 and "internal error" not in result.output


_MAIN = """
import sys
from deidkit.commands import scrub
def boom(*args, **kwargs):
    raise ValueError("CANARY^PATIENT^NAME")
scrub.{target} = boom
from deidkit.cli import main
sys.argv = ["deidkit", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("target", ["scrub_tree", "_print_summary"])
def test_the_console_script_exits_70(
    small_corpus: SampleCorpus, tmp_path: Path, target: str
) -> None:
    # _print_summary runs outside the command's cli_errors(): main() still catches it.
    env = {**os.environ, **ENV}
    done = subprocess.run(
        [sys.executable, "-c", _MAIN.format(target=target),
         *_scrub_args(small_corpus, tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 70
    assert done.stderr.splitlines()[-1] == "internal error (this is a bug): ValueError"
    assert SECRET not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_empty_input_exits_1_nothing_to_do(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    result = runner.invoke(app, ["scrub", str(tmp_path / "export"), str(tmp_path / "out")],
                           env=ENV)  # fmt: skip
    assert result.exit_code == 1
    assert "nothing to do" in result.stderr
    assert not (tmp_path / "out").exists()


def test_linkage_of_another_key_exits_1_before_writing(
    small_corpus: SampleCorpus, tmp_path: Path
) -> None:
    linkage = tmp_path / "release.linkage"
    other = ProjectKey(secret=b"\x07" * 32, source="other")
    LinkageStore(linkage, key=other).append([LinkageEntry("PatientID", "x", "P1")])
    out = tmp_path / "out"
    result = runner.invoke(app, _scrub_args(small_corpus, out, "--linkage", str(linkage)), env=ENV)
    assert result.exit_code == 1
    assert "key does not open it" in result.stderr
    assert not out.exists() and not (tmp_path / "out.run-report.json").exists()


def test_no_room_for_the_release_exits_1_before_writing(
    small_corpus: SampleCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "_free_bytes", lambda _folder: 0)
    out = tmp_path / "out"
    result = runner.invoke(app, _scrub_args(small_corpus, out), env=ENV)
    assert result.exit_code == 1
    assert "free" in result.stderr and "needs about" in result.stderr
    assert not out.exists()
