"""Every exit code the README documents for auditkit is reachable: one table, one row per case.

The README's table (section "Conventions (both CLIs)") is read here, so a code documented but
never produced, or produced but not documented, fails this test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import auditkit.gate as gate_library
from auditkit.cli import app

README = Path(__file__).parents[3] / "README.md"
EXAMPLE_RESULTS = Path(__file__).parents[1] / "data" / "example_results.json"
POLICY = {
    "name": "sensitivity",
    "insufficient_evidence": "fail",
    "attributes": ["manufacturer"],
    "checks": [{"id": "sens", "metric": "tpr", "min": 0.8}],
}

Setup = Callable[[Path, pytest.MonkeyPatch], list[str]]


def documented_exit_codes(cli: str) -> set[int]:
    """The codes of ``cli`` in the README's exit-code table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Conventions (both CLIs)", 1)[1].split("\n## ", 1)[0]
    return {int(code) for code in re.findall(rf"^\| {cli} \| (\d+) \|", section, re.MULTILINE)}


def _metric(value: float, low: float | None, high: float | None) -> dict[str, Any]:
    return {"value": value, "ci_low": low, "ci_high": high}


def _entry(attribute: str, group: str, tpr: tuple[float, float, float]) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "group": group,
        "n": 200,
        "status": "ok",
        "reason": None,
        "metrics": {
            "tpr": _metric(*tpr),
            "n_pos": _metric(100, None, None),
            "n_neg": _metric(100, None, None),
        },
    }


def _gate(tmp: Path, siemens_tpr: tuple[float, float, float]) -> list[str]:
    """RESULTS.json with one group whose sensitivity CI is ``siemens_tpr``, and a policy."""
    results = {
        "schema_version": "1.0",
        "task": "binary",
        "threshold": {"value": 0.5, "method": "fixed", "target_specificity": None},
        "min_group_size": 30,
        "bootstrap": {"n_boot": 200, "seed": 0, "unit": "row", "ci_level": 0.95},
        "attributes": ["manufacturer"],
        "overall": _entry("overall", "all", (0.88, 0.85, 0.91)),
        "groups": [
            _entry("manufacturer", "GE", (0.9, 0.85, 0.94)),
            _entry("manufacturer", "Siemens", siemens_tpr),
        ],
        "intersections": [],
        "disparities": [],
        "warnings": [],
        "provenance": {"tool": "auditkit", "version": "test"},
    }
    (tmp / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (tmp / "policy.yaml").write_text(json.dumps(POLICY), encoding="utf-8")  # JSON is YAML
    return ["gate", str(tmp / "results.json"), "--policy", str(tmp / "policy.yaml")]


def _passes(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return _gate(tmp, (0.9, 0.85, 0.94))


def _fails(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return _gate(tmp, (0.6, 0.5, 0.7))


def _insufficient(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return _gate(tmp, (0.8, 0.7, 0.9))  # the CI straddles the limit


def _missing_results(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return ["gate", str(tmp / "absent.json"), "--policy", "strict-predeployment"]


def _not_json(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    (tmp / "results.json").write_text("{ not json", encoding="utf-8")
    return ["report", str(tmp / "results.json"), "--out", str(tmp / "report.html")]


def _unsafe_output(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return ["gate", str(EXAMPLE_RESULTS), "--policy", "strict-predeployment",
            "--junit", str(EXAMPLE_RESULTS)]  # fmt: skip


def _internal(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    def bug(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    # The gate command imports the library when it runs (not at CLI start-up).
    monkeypatch.setattr(gate_library, "gate_from_files", bug)
    return _passes(tmp, monkeypatch)


#: (expected exit code, what it stands for, setup returning the command line)
CASES: list[tuple[int, str, Setup]] = [
    (0, "gate passes", _passes),
    (1, "gate fails", _fails),
    (2, "results file missing", _missing_results),
    (2, "results file not JSON", _not_json),
    (2, "output over an input", _unsafe_output),
    (4, "insufficient evidence treated as failure", _insufficient),
    (70, "internal error", _internal),
]


def test_the_table_covers_every_documented_code() -> None:
    assert documented_exit_codes("auditkit") == {code for code, _, _ in CASES}


@pytest.mark.parametrize(
    ("code", "setup"), [(c, s) for c, _, s in CASES], ids=[n for _, n, _ in CASES]
)
def test_exit_code_is_reachable(
    code: int, setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"AUDITKIT_DEBUG": "", "DEIDKIT_DEBUG": ""}
    result = CliRunner().invoke(app, setup(tmp_path, monkeypatch), env=env)
    assert result.exit_code == code, result.output
