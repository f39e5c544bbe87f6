"""The gate's three-state decisions, verdicts and exit codes on constructed RESULTS.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditkit.cli import app
from auditkit.errors import PolicyError, ResultsFormatError, UnknownAttributeError
from auditkit.gate.judge import Outcome, Verdict, decide, gate_from_files, run_gate
from auditkit.gate.policy import LimitKind, parse_policy
from deidkit.core.resources import shipped_dir

STRICT = shipped_dir("profiles") / "policies" / "strict-predeployment.yaml"


def entry(
    attribute: str,
    group: str,
    *,
    n: int = 200,
    status: str = "ok",
    reason: str | None = None,
    **metrics: tuple[float | None, float | None, float | None],
) -> dict[str, Any]:
    """One RESULTS.json group entry in the issue-7 contract's shape."""
    body = {k: {"value": v[0], "ci_low": v[1], "ci_high": v[2]} for k, v in metrics.items()}
    body.setdefault("n_pos", {"value": n // 2, "ci_low": None, "ci_high": None})
    body.setdefault("n_neg", {"value": n - n // 2, "ci_low": None, "ci_high": None})
    return {
        "attribute": attribute,
        "group": group,
        "n": n,
        "status": status,
        "reason": reason,
        "metrics": body,
    }


def results(
    groups: list[dict[str, Any]], disparities: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "task": "binary",
        "threshold": {"value": 0.5, "method": "fixed", "target_specificity": None},
        "min_group_size": 30,
        "bootstrap": {"n_boot": 200, "seed": 0, "unit": "row", "ci_level": 0.95},
        "attributes": sorted({str(g["attribute"]) for g in groups}),
        "overall": entry("overall", "all", n=1000, auroc=(0.9, 0.88, 0.92), tpr=(0.85, 0.82, 0.88)),
        "groups": groups,
        "intersections": [],
        "disparities": disparities or [],
        "warnings": [],
        "provenance": {"tool": "auditkit", "version": "test"},
    }


def disparity(attribute: str, metric: str, value: float, low: float, high: float) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "metric": metric,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "significant_holm": low > 0,
        "groups_used": ["A", "B"],
    }


def manufacturers(tpr_b: tuple[float, float, float], **extra: Any) -> dict[str, Any]:
    return results(
        [
            entry("manufacturer", "GE", tpr=(0.9, 0.85, 0.94), auroc=(0.93, 0.9, 0.95)),
            entry("manufacturer", "Siemens", tpr=tpr_b, auroc=(0.92, 0.89, 0.95)),
        ],
        [disparity("manufacturer", "auroc_difference", 0.01, 0.0, 0.03)],
        **extra,
    )


SENS_POLICY = {
    "name": "sens",
    "insufficient_evidence": "fail",
    "attributes": ["manufacturer"],
    "checks": [
        {"id": "sens", "metric": "tpr", "min": 0.8},
        {"id": "gap", "metric": "auroc_difference", "max": 0.05},
    ],
}


@pytest.mark.parametrize(
    ("kind", "low", "high", "expected"),
    [
        (LimitKind.MIN, 0.81, 0.9, Outcome.PASS),
        (LimitKind.MIN, 0.80, 0.9, Outcome.PASS),  # touching from the good side passes
        (LimitKind.MIN, 0.7, 0.79, Outcome.FAIL),
        (LimitKind.MIN, 0.75, 0.85, Outcome.INSUFFICIENT),
        (LimitKind.MAX, 0.01, 0.05, Outcome.PASS),
        (LimitKind.MAX, 0.06, 0.1, Outcome.FAIL),
        (LimitKind.MAX, 0.03, 0.07, Outcome.INSUFFICIENT),
    ],
)
def test_decide(kind: LimitKind, low: float, high: float, expected: Outcome) -> None:
    assert decide(kind, 0.8 if kind is LimitKind.MIN else 0.05, low, high) is expected


def test_pass_fail_insufficient_verdicts() -> None:
    policy = parse_policy(SENS_POLICY)
    passing = run_gate(manufacturers((0.88, 0.83, 0.92)), policy)
    assert passing.verdict is Verdict.PASS and passing.passed
    assert [c.name for c in passing.checks] == [
        "sens[manufacturer=GE]",
        "sens[manufacturer=Siemens]",
        "gap[manufacturer]",
    ]
    failing = run_gate(manufacturers((0.6, 0.52, 0.69)), policy)
    assert failing.verdict is Verdict.FAIL and not failing.passed
    (bad,) = failing.failing()
    assert bad.name == "sens[manufacturer=Siemens]"
    assert "CI entirely on the wrong side of >= 0.800" in bad.message
    unsure = run_gate(manufacturers((0.8, 0.7, 0.9)), policy)
    assert unsure.verdict is Verdict.INSUFFICIENT and not unsure.passed
    assert "straddles" in unsure.failing()[0].message


def test_insufficient_warn_policy_passes() -> None:
    policy = parse_policy({**SENS_POLICY, "insufficient_evidence": "warn"})
    result = run_gate(manufacturers((0.8, 0.7, 0.9)), policy)
    assert result.verdict is Verdict.INSUFFICIENT
    assert result.passed and result.failing() == []


def test_small_and_flagged_groups_are_insufficient_never_scored() -> None:
    policy = parse_policy(SENS_POLICY)
    data = results(
        [
            entry("manufacturer", "GE", tpr=(0.9, 0.85, 0.94)),
            entry("manufacturer", "Canon", n=12, tpr=(1.0, 0.7, 1.0)),
            entry("manufacturer", "Philips", status="insufficient", reason="no positive cases"),
            entry("manufacturer", "missing", status="missing", tpr=(0.1, 0.0, 0.2)),
        ],
    )
    by_name = {c.name: c for c in run_gate(data, policy).checks}
    assert by_name["sens[manufacturer=Canon]"].outcome is Outcome.INSUFFICIENT
    assert "fewer than 30 cases" in by_name["sens[manufacturer=Canon]"].message
    assert "12" not in by_name["sens[manufacturer=Canon]"].message  # small counts not echoed
    assert "no positive cases" in by_name["sens[manufacturer=Philips]"].message
    assert by_name["sens[manufacturer=missing]"].outcome is Outcome.SKIPPED
    # no disparity computed -> insufficient, not pass
    assert by_name["gap[manufacturer]"].outcome is Outcome.INSUFFICIENT


def test_undefined_metric_and_missing_ci_are_insufficient() -> None:
    policy = parse_policy(SENS_POLICY)
    data = manufacturers((None, None, None))
    data["groups"][0]["metrics"]["tpr"] = {"value": 0.9, "ci_low": None, "ci_high": None}
    by_name = {c.name: c for c in run_gate(data, policy).checks}
    assert by_name["sens[manufacturer=Siemens]"].outcome is Outcome.INSUFFICIENT
    assert "no confidence interval" in by_name["sens[manufacturer=GE]"].message


def test_change_limits_against_baseline() -> None:
    policy = parse_policy(
        {"name": "chg", "checks": [{"id": "drop", "metric": "auroc", "max_drop": 0.02}]}
    )
    base = manufacturers((0.9, 0.85, 0.94))
    current = manufacturers((0.9, 0.85, 0.94))
    current["groups"][1]["metrics"]["auroc"] = {"value": 0.85, "ci_low": 0.82, "ci_high": 0.88}
    no_base = run_gate(current, policy)
    assert {c.outcome for c in no_base.checks} == {Outcome.SKIPPED}
    result = run_gate(current, policy, baseline=base)
    by_name = {c.name: c for c in result.checks}
    # Judged on the CI of the difference (issue 18): 0.85 - 0.92 = -0.07, MOVER interval
    # -0.07 -/+ hypot(0.03, 0.03) = [-0.112, -0.028], entirely below -0.02: a confident drop.
    siemens = by_name["drop[manufacturer=Siemens]"]
    assert siemens.outcome is Outcome.FAIL
    assert siemens.limit == pytest.approx(-0.02)
    assert siemens.value == pytest.approx(-0.07)
    assert siemens.ci_low == pytest.approx(-0.07 - 0.03 * 2**0.5)
    assert siemens.ci_high == pytest.approx(-0.07 + 0.03 * 2**0.5)
    # The same estimate on both sides: the baseline's own uncertainty keeps it undecided
    # (the old rule, baseline taken as exact, passed the overall one).
    assert by_name["drop[manufacturer=GE]"].outcome is Outcome.INSUFFICIENT
    assert by_name["drop[overall]"].outcome is Outcome.INSUFFICIENT
    assert result.verdict is Verdict.FAIL


def test_change_of_an_identical_precise_estimate_passes_and_relative_limits() -> None:
    base = manufacturers((0.9, 0.85, 0.94))
    current = manufacturers((0.9, 0.85, 0.94))
    absolute = parse_policy(
        {"name": "a", "checks": [{"id": "d", "metric": "tpr", "max_drop": 0.05, "scope": "change"}]}
    )
    by_name = {c.name: c for c in run_gate(current, absolute, baseline=base).checks}
    # [0.85, 0.94] on both sides: difference 0 +/- hypot(0.05, 0.04) = 0.064 > 0.05
    assert by_name["d[manufacturer=Siemens]"].outcome is Outcome.INSUFFICIENT
    assert by_name["d[overall]"].outcome is Outcome.PASS  # +/- hypot(0.03, 0.03) = 0.042
    relative = parse_policy(
        {"name": "r", "checks": [{"id": "r", "metric": "tpr", "max_drop_relative": 0.10}]}
    )
    by_name = {c.name: c for c in run_gate(current, relative, baseline=base).checks}
    # 10 % of 0.9 = 0.09 allowed: the 0.064 half-width clears it
    assert by_name["r[manufacturer=Siemens]"].limit == pytest.approx(-0.09)
    assert by_name["r[manufacturer=Siemens]"].outcome is Outcome.PASS


def test_baseline_without_intervals_is_taken_as_exact_and_says_so() -> None:
    policy = parse_policy({"name": "c", "checks": [{"id": "d", "metric": "tpr", "max_drop": 0.1}]})
    base = manufacturers((0.9, None, None))
    base["groups"][1]["metrics"]["tpr"] = {"value": 0.9, "ci_low": None, "ci_high": None}
    current = manufacturers((0.9, 0.85, 0.94))
    check = next(c for c in run_gate(current, policy, baseline=base).checks if c.group == "Siemens")
    assert check.outcome is Outcome.PASS  # 0.85 - 0.90 = -0.05 >= -0.1
    assert "baseline has no CI: taken as exact" in check.message


def test_min_positives_applies_only_to_metrics_that_need_positives() -> None:
    policy = parse_policy(
        {
            "name": "e",
            "min_evidence": {"min_positives": 10, "min_negatives": 10},
            "checks": [
                {"id": "fpr", "metric": "fpr", "max": 0.3},
                {"id": "tpr", "metric": "tpr", "min": 0.5},
            ],
        }
    )
    negatives_only = entry("vendor", "X", n=60, fpr=(0.65, 0.52, 0.76), tpr=(None, None, None))
    negatives_only["metrics"]["n_pos"]["value"] = 0
    negatives_only["metrics"]["n_neg"]["value"] = 60
    data = results([negatives_only, entry("vendor", "Y", fpr=(0.1, 0.05, 0.15))])
    by_name = {c.name: c for c in run_gate(data, policy).checks}
    # Issue 18: a vendor with 60 negatives and FPR 0.65 fails the FPR cap, not "insufficient".
    assert by_name["fpr[vendor=X]"].outcome is Outcome.FAIL
    assert by_name["tpr[vendor=X]"].outcome is Outcome.INSUFFICIENT
    assert "positives" in by_name["tpr[vendor=X]"].message


def test_intersection_attribute_and_unknown_attribute() -> None:
    data = manufacturers((0.9, 0.85, 0.94))
    data["intersections"] = [entry("sex | manufacturer", "F | GE", tpr=(0.7, 0.6, 0.78))]
    policy = parse_policy(
        {
            "name": "x",
            "checks": [{"metric": "tpr", "min": 0.8, "attributes": ["sex | manufacturer"]}],
        }
    )
    assert run_gate(data, policy).verdict is Verdict.FAIL
    unknown = parse_policy(
        {"name": "x", "checks": [{"metric": "tpr", "min": 0.8, "attributes": ["race"]}]}
    )
    with pytest.raises(UnknownAttributeError):
        run_gate(data, unknown)


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("tpr", "code", "word"),
    [
        ((0.9, 0.85, 0.94), 0, "GATE PASSED"),
        ((0.6, 0.5, 0.7), 1, "GATE FAILED"),
        ((0.8, 0.7, 0.9), 4, "INSUFFICIENT EVIDENCE"),
    ],
)
def test_cli_exit_codes(
    tmp_path: Path, tpr: tuple[float, float, float], code: int, word: str
) -> None:
    data = manufacturers(tpr)
    data["groups"] += [entry("sex", s, tpr=(0.9, 0.85, 0.94)) for s in ("F", "M")]
    for attr in ("field_strength", "site", "age_band"):
        data["groups"].append(entry(attr, "x", tpr=(0.9, 0.85, 0.94), auroc=(0.9, 0.88, 0.92)))
    path = _write(tmp_path, "results.json", data)
    junit, md = tmp_path / "g.xml", tmp_path / "g.md"
    args = [
        "gate",
        str(path),
        "--policy",
        str(STRICT),
        "--junit",
        str(junit),
        "--markdown",
        str(md),
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == code, out.output
    assert word in out.stdout
    assert junit.read_bytes().startswith(b"<?xml")
    assert md.read_text(encoding="utf-8").startswith("## ")
    as_json = CliRunner().invoke(app, ["gate", str(path), "--policy", str(STRICT), "--json"])
    assert as_json.exit_code == code
    assert json.loads(as_json.stdout)["verdict"] == {0: "pass", 1: "fail", 4: "insufficient"}[code]


def test_gate_from_files_loads_then_judges(tmp_path: Path) -> None:
    data = manufacturers((0.6, 0.5, 0.7))
    path = _write(tmp_path, "results.json", data)
    policy_path = tmp_path / "sens.yaml"
    policy_path.write_text(json.dumps(SENS_POLICY), encoding="utf-8")  # JSON is YAML
    from_files = gate_from_files(path, policy_path, baseline=path)
    in_memory = run_gate(data, parse_policy(SENS_POLICY), baseline=data)
    assert from_files.checks == in_memory.checks and from_files.verdict is Verdict.FAIL
    assert from_files.baseline_used
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsFormatError):
        gate_from_files(broken, policy_path)
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text("name: p\nchecks: 3\n", encoding="utf-8")
    with pytest.raises(PolicyError):  # the policy is read first
        gate_from_files(broken, bad_policy)


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "results.json", manufacturers((0.9, 0.85, 0.94)))
    bad_policy = tmp_path / "p.yaml"
    bad_policy.write_text("name: p\nchecks:\n  - metric: sensitivity\n    min: 0.8\n", "utf-8")
    out = CliRunner().invoke(app, ["gate", str(path), "--policy", str(bad_policy)])
    assert out.exit_code == 2
    assert "unknown metric 'sensitivity'" in out.output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    out = CliRunner().invoke(app, ["gate", str(broken), "--policy", str(STRICT)])
    assert out.exit_code == 2
    missing = _write(tmp_path, "m.json", {"groups": []})
    out = CliRunner().invoke(app, ["gate", str(missing), "--policy", str(STRICT)])
    assert out.exit_code == 2 and "does not follow the RESULTS.json schema" in out.output
