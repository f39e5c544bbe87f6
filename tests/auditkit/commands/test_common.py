"""Exit 70 for internal errors in the auditkit CLI: one line, no traceback, no data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import auditkit.report.html
from auditkit.cli import app

runner = CliRunner()
SECRET = "CANARY-LABEL-VALUE"  # stands for data quoted in an exception message


def _boom(*_args: object, **_kwargs: object) -> str:
    raise RuntimeError(f"bad value {SECRET}")


def _report_args(tmp_path: Path) -> list[str]:
    results = tmp_path / "RESULTS.json"
    results.write_text("{}")
    return ["report", str(results), "--out", str(tmp_path / "report.html")]


def test_an_uncaught_exception_is_one_line_and_exit_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auditkit.report.html, "report_from_files", _boom)
    result = runner.invoke(
        app, _report_args(tmp_path), env={"AUDITKIT_DEBUG": "", "DEIDKIT_DEBUG": ""}
    )
    assert result.exit_code == 70
    assert result.stderr.splitlines() == ["internal error (this is a bug): RuntimeError"]
    assert SECRET not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("env_var", ["AUDITKIT_DEBUG", "DEIDKIT_DEBUG"])
def test_the_traceback_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_var: str
) -> None:
    monkeypatch.setattr(auditkit.report.html, "report_from_files", _boom)
    result = runner.invoke(app, _report_args(tmp_path), env={env_var: "1"})
    assert result.exit_code == 70
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1] == "internal error (this is a bug): RuntimeError"
    result = runner.invoke(app, [*_report_args(tmp_path), "--verbose"])
    assert result.exit_code == 70 and "Traceback" in result.stderr


def test_ctrl_c_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(auditkit.report.html, "report_from_files", interrupted)
    result = runner.invoke(app, _report_args(tmp_path))
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "Traceback" not in result.output


def test_usage_errors_keep_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path / "missing.json")])  # no --out
    assert result.exit_code == 2 and "internal error" not in result.output


_MAIN = """
import sys
import auditkit.report.html as html
from auditkit.commands import report
html.report_from_files = lambda *a, **k: ""
html.write_report = lambda *a, **k: None
class Broken:
    def print(self, *args, **kwargs):
        raise ValueError("CANARY-LABEL-VALUE")
report.stderr_console = Broken()  # used after the command's cli_errors() block
from auditkit.cli import main
sys.argv = ["auditkit", *sys.argv[1:]]
main()
"""


def test_the_console_script_exits_70(tmp_path: Path) -> None:
    env = {**os.environ, "AUDITKIT_DEBUG": "", "DEIDKIT_DEBUG": ""}
    done = subprocess.run(
        [sys.executable, "-c", _MAIN, *_report_args(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 70, done.stderr
    assert done.stderr.splitlines() == ["internal error (this is a bug): ValueError"]
    assert SECRET not in done.stdout
