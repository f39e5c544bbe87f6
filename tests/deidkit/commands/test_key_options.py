"""A key pasted where a key file's path belongs is never echoed, by any command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import EXIT_USAGE
from deidkit.core.keys import generate_key_file

HEX_KEY = "3f" * 8 + "a1" * 8 + "5c" * 8 + "e7" * 8  # 64 hex characters, like a key file's

runner = CliRunner()


def _commands(tmp: Path, key_file: Path) -> list[tuple[str, list[str]]]:
    linkage = str(tmp / "release.linkage")
    return [
        ("--key-file", ["scrub", str(tmp / "export"), str(tmp / "release")]),
        ("--key-file", ["verify", str(tmp / "export")]),
        ("--key-file", ["pseudonymise", str(tmp / "a.csv"), str(tmp / "b.csv")]),
        ("--key-file", ["reidentify", "PABC", "--linkage", linkage]),
        ("--key-file", ["linkage", "check", "--linkage", linkage]),
        ("--key-file", ["linkage", "export", "--linkage", linkage, "--out", str(tmp / "m")]),
        (
            "--linkage-key-file",
            ["linkage", "check", "--linkage", linkage, "--key-file", str(key_file)],
        ),
        (
            "--linkage-key-file",
            ["reidentify", "PABC", "--linkage", linkage, "--key-file", str(key_file)],
        ),
    ]


def test_every_key_option_names_itself_and_never_echoes_the_value(tmp_path: Path) -> None:
    key_file = tmp_path / "project.key"
    generate_key_file(key_file)
    (tmp_path / "export").mkdir()
    (tmp_path / "a.csv").write_text("mrn\nA1\n", encoding="utf-8")
    for option, args in _commands(tmp_path, key_file):
        result = runner.invoke(app, [*args, option, HEX_KEY], env={"DEIDKIT_KEY": ""})
        seen = result.stdout + result.stderr
        assert result.exit_code == EXIT_USAGE, (args, seen)
        assert HEX_KEY not in seen and HEX_KEY[:16] not in seen, args
        assert f"{option}: not a readable file" in " ".join(seen.split()), args


@pytest.mark.parametrize(
    "value",
    [
        HEX_KEY,
        HEX_KEY * 5,  # longer than a file name may be
        "key:" + HEX_KEY + "/",  # a folder-looking path
    ],
    ids=["hex", "too-long-for-a-name", "folder"],
)
def test_scrub_process_never_echoes_a_pasted_key(tmp_path: Path, value: str) -> None:
    (tmp_path / "export").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DEIDKIT_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "deidkit", "scrub", "export", "release", "--key-file", value],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_USAGE, done.stderr
    assert HEX_KEY[:16] not in done.stdout + done.stderr
    assert done.stderr.strip() == "error: --key-file: not a readable file"
    assert not (tmp_path / "release").exists()
