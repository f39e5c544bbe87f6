"""Every exit code the README documents for deidkit is reachable: one table, one case per code.

The README's table (section "Conventions (both CLIs)") is read here, so a code documented but
never produced, or produced but not documented, fails this test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands import profiles as profiles_command
from deidkit.core.keys import KEY_ENV_VAR
from deidkit.demo.sample import generate_sample_corpus

README = Path(__file__).parents[3] / "README.md"
ENV = {KEY_ENV_VAR: "ab" * 32, "DEIDKIT_DEBUG": ""}


def documented_exit_codes(cli: str) -> set[int]:
    """The codes of ``cli`` in the README's exit-code table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Conventions (both CLIs)", 1)[1].split("\n## ", 1)[0]
    return {int(code) for code in re.findall(rf"^\| {cli} \| (\d+) \|", section, re.MULTILINE)}


Setup = Callable[[Path, pytest.MonkeyPatch], list[str]]


def _ok(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return ["profiles", "list"]


def _held_back(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    corpus = generate_sample_corpus(tmp / "export", n_patients=1, instances_per_series=1)
    return ["scrub", str(corpus.root), str(tmp / "release"), "--workers", "1"]


def _nothing_to_do(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    (tmp / "empty").mkdir()
    return ["scrub", str(tmp / "empty"), str(tmp / "release")]


def _unreadable(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    corpus = generate_sample_corpus(tmp / "export", n_patients=1, broken=False)
    scrubbed = CliRunner().invoke(app, ["scrub", str(corpus.root), str(tmp / "release")], env=ENV)
    assert scrubbed.exit_code in (0, 1), scrubbed.output
    (tmp / "release.actions.jsonl").write_text("not JSON\n")  # the paper trail is unreadable
    return ["verify", str(tmp / "release"), "--workers", "1"]


def _usage(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return ["scrub", str(tmp / "missing"), str(tmp / "release")]


def _unsafe_output(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    (tmp / "export").mkdir()
    (tmp / "export" / "x.dcm").write_bytes(b"x")
    return ["scrub", str(tmp / "export"), str(tmp / "export" / "release")]


def _phi_found(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # An export that was never scrubbed, checked as if it were a release.
    corpus = generate_sample_corpus(tmp / "export", n_patients=1, broken=False)
    return ["verify", str(corpus.root), "--workers", "1"]


def _internal(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    def bug() -> list[str]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(profiles_command, "list_profiles", bug)
    return ["profiles", "list"]


#: (expected exit code, what it stands for, setup returning the command line)
CASES: list[tuple[int, str, Setup]] = [
    (0, "success", _ok),
    (1, "scrub held files back", _held_back),
    (1, "scrub has nothing to do", _nothing_to_do),
    (1, "verify could not read a file", _unreadable),
    (2, "INPUT does not exist", _usage),
    (2, "OUTPUT inside INPUT", _unsafe_output),
    (3, "verify found PHI", _phi_found),
    (70, "internal error", _internal),
]


def test_the_table_covers_every_documented_code() -> None:
    assert documented_exit_codes("deidkit") == {code for code, _, _ in CASES}


@pytest.mark.parametrize(
    ("code", "setup"), [(c, s) for c, _, s in CASES], ids=[n for _, n, _ in CASES]
)
def test_exit_code_is_reachable(
    code: int, setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = CliRunner().invoke(app, setup(tmp_path, monkeypatch), env=ENV)
    assert result.exit_code == code, result.output
