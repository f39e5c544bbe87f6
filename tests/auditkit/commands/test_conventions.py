"""CLI conventions of auditkit (issue 17): markup-safe messages and ``--json`` / ``--json-out``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from auditkit.cli import app
from auditkit.commands._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, cli_errors
from auditkit.errors import AuditkitError

RESULTS = Path(__file__).parents[1] / "data" / "example_results.json"
STRICT = "strict-predeployment"  # a shipped policy, by name

runner = CliRunner()


def _flat(text: str) -> str:
    # Rich wraps stderr at the console width, also inside a long path (no space to break
    # at): compare messages with all whitespace removed.
    return "".join(text.split())


def _invoke(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


# ---------------------------------------------------------------- markup


def test_brackets_in_a_results_path_are_printed_as_typed(tmp_path: Path) -> None:
    for name in ("a[bold]b.json", "c[red on blue]d.json"):
        result = _invoke("gate", tmp_path / name, "--policy", STRICT)
        assert result.exit_code == EXIT_USAGE, result.output
        assert _flat(f"results '{name}' not found") in _flat(result.stderr)
        assert "MarkupError" not in result.output


def test_brackets_in_output_paths_are_printed_as_typed(tmp_path: Path) -> None:
    out = tmp_path / "audit[bold]report[/b].html"
    result = _invoke("report", RESULTS, "--out", out)
    assert result.exit_code == EXIT_OK, result.output
    assert _flat(f"report written: {out}") in _flat(result.stderr)
    junit, markdown = tmp_path / "g[red].xml", tmp_path / "g[/x].md"
    gated = _invoke("gate", RESULTS, "--policy", STRICT, "--junit", junit, "--markdown", markdown)
    assert gated.exit_code == EXIT_FAIL, gated.output
    assert _flat(f"JUnit XML: {junit}") in _flat(gated.stderr)
    assert _flat(f"Markdown summary: {markdown}") in _flat(gated.stderr)


def test_group_names_from_the_table_are_printed_as_typed(
    binary_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = binary_frame.copy()
    frame["manufacturer"] = frame["manufacturer"].replace({"GE": "[bold]GE", "AGFA": "AG[/x]FA"})
    table = tmp_path / "preds.csv"
    frame.to_csv(table, index=False)
    result = _invoke("evaluate", table, "--group", "manufacturer", "--bootstrap", "0",
                     "--out", tmp_path / "r.json")  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    assert "[bold]GE" in result.stdout and "AG[/x]FA" in result.stdout


def test_an_install_hint_keeps_its_extra(capsys: pytest.CaptureFixture[str]) -> None:
    hint = "pip install 'deidkit-auditkit[eval]'"
    with pytest.raises(Exception) as stopped, cli_errors():
        raise AuditkitError(f"auditkit evaluate needs pandas: {hint}")
    assert getattr(stopped.value, "exit_code", None) == EXIT_FAIL
    assert _flat(hint) in _flat(capsys.readouterr().err)


# ---------------------------------------------------------------- --json / --json-out


def test_gate_json_and_json_out_give_the_same_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ("gate", RESULTS, "--policy", STRICT)
    flag, dash = _invoke(*args, "--json"), _invoke(*args, "--json-out", "-")
    assert flag.exit_code == dash.exit_code == EXIT_FAIL
    assert json.loads(flag.stdout) == json.loads(dash.stdout)
    assert not (tmp_path / "-").exists()
    out = tmp_path / "gate.json"
    to_file = _invoke(*args, "--json-out", out)
    assert to_file.exit_code == EXIT_FAIL
    assert json.loads(out.read_text()) == json.loads(flag.stdout)
    assert to_file.stdout == _invoke(*args).stdout  # the text summary stays on stdout
    again = _invoke(*args, "--json-out", out)
    assert again.exit_code == EXIT_USAGE
    assert _flat("--json-out already exists; use --force to replace it") in _flat(again.stderr)
    assert _invoke(*args, "--json-out", out, "--force").exit_code == EXIT_FAIL
    inside = _invoke(*args, "--json-out", RESULTS)
    assert inside.exit_code == EXIT_USAGE and _flat("--json-out") in _flat(inside.stderr)


def test_evaluate_json_out_is_results_json(binary_csv: Path, tmp_path: Path) -> None:
    out, copy = tmp_path / "RESULTS.json", tmp_path / "copy.json"
    args = ("evaluate", binary_csv, "--group", "sex", "--bootstrap", "0")
    result = _invoke(*args, "--out", out, "--json-out", copy)
    assert result.exit_code == EXIT_OK, result.output
    assert copy.read_bytes() == out.read_bytes()
    assert f"wrote {out}" in result.stdout
    clash = _invoke(*args, "--out", tmp_path / "same.json", "--json-out", tmp_path / "same.json")
    assert clash.exit_code == EXIT_USAGE


def test_report_json(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = _invoke("report", RESULTS, "--out", out, "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout) == {"report": str(out)}
