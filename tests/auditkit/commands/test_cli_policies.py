"""Shipped policies by name (issue 17, 6): ``auditkit policies list|show`` and ``--policy NAME``.

Before, ``auditkit gate --policy strict-predeployment`` was "cannot read the file": the shipped
policies were reachable only by a path inside this repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import auditkit.gate.policy as policy_module
from auditkit.cli import app
from auditkit.gate import list_policies, load_policy
from deidkit.core.resources import shipped_dir

RESULTS = Path(__file__).parents[1] / "data" / "example_results.json"
SHIPPED = shipped_dir("profiles") / "policies"

runner = CliRunner()


def _flat(text: str) -> str:
    # Rich wraps stderr at the console width; compare messages on one line.
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As in CI: the working folder is not this repository, so no relative path reaches profiles/.
    monkeypatch.chdir(tmp_path)


def test_policies_list_names_and_descriptions() -> None:
    result = runner.invoke(app, ["policies", "list"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == sorted(p.stem for p in SHIPPED.glob("*.yaml"))
    by_name = dict(rows)
    assert by_name["strict-predeployment"].startswith("Worst-group sensitivity >= 0.80")
    assert by_name["example"] == "Illustrates every key. Adapt the limits to your clinical use."


def test_policies_list_json() -> None:
    result = runner.invoke(app, ["policies", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == list_policies()
    assert "strict-predeployment" in json.loads(result.stdout)


def test_policies_show_text() -> None:
    result = runner.invoke(app, ["policies", "show", "strict-predeployment"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "policy: strict-predeployment  (builtin:strict-predeployment)"
    assert "insufficient evidence: fail" in lines
    assert "minimum evidence: 30 cases, 10 positives, 10 negatives" in lines
    assert "checks: 3" in lines
    assert lines[-3:] == [
        "  worst-group-sensitivity: tpr >= 0.8 (group)",
        "  auroc-gap-manufacturer: auroc_difference <= 0.05 (disparity) [manufacturer]",
        "  auroc-no-regression: auroc drop <= 0.02 (change)",
    ]


def test_policies_show_json_is_the_policy_the_gate_loads() -> None:
    result = runner.invoke(app, ["policies", "show", "example", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    policy = load_policy(SHIPPED / "example.yaml")
    assert (data["name"], data["source"]) == ("example", "builtin:example")
    assert [c["id"] for c in data["checks"]] == [c.id for c in policy.checks]
    assert [c["limit"]["value"] for c in data["checks"]] == [c.limit for c in policy.checks]


def test_policies_show_a_file(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(
        "name: team\ninsufficient_evidence: warn\nchecks:\n  - {metric: tpr, min: 0.7}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["policies", "show", "team.yaml", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["name"], data["source"], data["insufficient_evidence"]) == (
        "team",
        "team.yaml",
        "warn",
    )


@pytest.mark.parametrize("command", [["policies", "show", "strict"], ["gate", str(RESULTS)]])
def test_an_unknown_name_is_a_usage_error_listing_the_shipped_names(command: list[str]) -> None:
    args = [*command, "--policy", "strict"] if command[0] == "gate" else command
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert re.fullmatch(
        r"error: unknown policy 'strict' \(shipped policies: example, strict-predeployment[^)]*\);"
        r" a policy file is named by a path with a '/' or a \.yaml suffix, e\.g\. \./strict\.yaml",
        _flat(result.stderr),
    ), result.stderr


def test_gate_by_name_decides_as_gate_by_path() -> None:
    by_path = runner.invoke(
        app,
        ["gate", str(RESULTS), "--policy", str(SHIPPED / "strict-predeployment.yaml"), "--json"],
    )
    by_name = runner.invoke(
        app, ["gate", str(RESULTS), "--policy", "strict-predeployment", "--json"]
    )
    assert by_name.exit_code == by_path.exit_code == 1, by_name.output
    assert json.loads(by_name.stdout) == json.loads(by_path.stdout)
    assert json.loads(by_name.stdout)["policy"] == "strict-predeployment"


def test_gate_by_name_writes_junit_and_markdown(tmp_path: Path) -> None:
    args = ["gate", str(RESULTS), "--policy", "strict-predeployment"]
    result = runner.invoke(app, [*args, "--junit", "gate.xml", "--markdown", "gate.md"])
    assert result.exit_code == 1, result.output
    assert "strict-predeployment" in (tmp_path / "gate.xml").read_text(encoding="utf-8")
    assert "**Policy:** `strict-predeployment`" in (tmp_path / "gate.md").read_text(
        encoding="utf-8"
    )


def test_report_by_name_shows_the_policys_verdict(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["report", str(RESULTS), "--out", "report.html", "--policy", "strict-predeployment"]
    )
    assert result.exit_code == 0, result.output
    assert "Policy strict-predeployment" in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("option", ["--markdown", "--junit"])
def test_gate_never_writes_over_the_shipped_policy_it_reads(
    option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The output check must see the file a name resolves to, not the bare name.
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    policy = shipped / "mine.yaml"
    policy.write_bytes((SHIPPED / "strict-predeployment.yaml").read_bytes())
    monkeypatch.setattr(policy_module, "shipped_policy_dir", lambda: shipped)
    before = policy.read_bytes()
    args = ["gate", str(RESULTS), "--policy", "mine", option, str(policy), "--force"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert option in result.stderr
    assert policy.read_bytes() == before


def test_report_never_writes_over_the_shipped_policy_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    policy = shipped / "mine.yaml"
    policy.write_bytes((SHIPPED / "strict-predeployment.yaml").read_bytes())
    monkeypatch.setattr(policy_module, "shipped_policy_dir", lambda: shipped)
    before = policy.read_bytes()
    args = ["report", str(RESULTS), "--policy", "mine", "--out", str(policy), "--force"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "--out" in result.stderr
    assert policy.read_bytes() == before


def test_help_names_the_shipped_policies_command() -> None:
    for command in ("gate", "report"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "auditkit policies list" in result.stdout, command
