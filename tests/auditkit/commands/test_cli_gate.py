"""``auditkit gate`` and ``auditkit report`` on unreadable inputs: one line, exit 2, no traceback.

Exit 1 means "gate failed"; an input the gate could not read must never look like a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditkit.cli import app
from deidkit.core.resources import shipped_dir

RESULTS = Path(__file__).parents[1] / "data" / "example_results.json"
STRICT = shipped_dir("profiles") / "policies" / "strict-predeployment.yaml"
CANARY = "Canary^Alice"

runner = CliRunner()


def _flat(text: str) -> str:
    # Rich wraps stderr at the console width; compare messages on one line.
    return " ".join(text.split())


def _latin1(path: Path) -> Path:
    path.write_bytes(f"name: {CANARY}\nchecks: []\n".encode() + b"\xff\xfe\xe9\n")
    return path


def test_a_readable_failing_gate_exits_1() -> None:
    # The contrast for the tests below: 1 is the verdict "fail".
    result = runner.invoke(app, ["gate", str(RESULTS), "--policy", str(STRICT)])
    assert result.exit_code == 1, result.output


def test_non_utf8_policy_is_a_usage_error_not_a_failed_gate(tmp_path: Path) -> None:
    policy = _latin1(tmp_path / "policy.yaml")
    result = runner.invoke(app, ["gate", str(RESULTS), "--policy", str(policy)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _flat(result.stderr) == (
        "error: policy 'policy.yaml' is not valid UTF-8 text (a binary file or another encoding?)"
    )
    assert CANARY not in result.output and "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "absent.json", "error: results 'absent.json' not found"),
        (lambda d: d, "error: results '{name}' is a folder, not a file"),
        (
            lambda d: _latin1(d / "r.json"),
            "error: results 'r.json' is not valid UTF-8 text (a binary file or another encoding?)",
        ),
    ],
    ids=["missing", "folder", "not-utf8"],
)
def test_results_file_errors_name_the_problem(
    tmp_path: Path, make: Callable[[Path], Path], expected: str
) -> None:
    path = make(tmp_path)
    result = runner.invoke(app, ["gate", str(path), "--policy", str(STRICT)])
    assert result.exit_code == 2, result.output
    assert _flat(result.stderr) == expected.format(name=tmp_path.name)


def test_missing_policy_and_broken_baseline(tmp_path: Path) -> None:
    result = runner.invoke(app, ["gate", str(RESULTS), "--policy", str(tmp_path / "p.yaml")])
    assert result.exit_code == 2
    assert _flat(result.stderr) == "error: policy 'p.yaml' not found"
    old = tmp_path / "old.json"
    old.write_text('{"groups": [', encoding="utf-8")
    args = ["gate", str(RESULTS), "--policy", str(STRICT), "--baseline", str(old)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert _flat(result.stderr).startswith("error: baseline 'old.json' is not JSON (")


def test_report_reads_its_inputs_the_same_way(tmp_path: Path) -> None:
    policy = _latin1(tmp_path / "policy.yaml")
    out = tmp_path / "report.html"
    args = ["report", str(RESULTS), "--out", str(out), "--policy", str(policy)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "policy 'policy.yaml' is not valid UTF-8 text" in _flat(result.stderr)
    assert not out.exists()
    result = runner.invoke(app, ["report", str(tmp_path / "gone.json"), "--out", str(out)])
    assert result.exit_code == 2
    assert _flat(result.stderr) == "error: results 'gone.json' not found"
