"""Policy parsing: shipped policies load; every malformed policy fails with a clear message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditkit.errors import (
    MalformedLimitError,
    PolicyError,
    UnknownAttributeError,
    UnknownMetricError,
    UsageError,
)
from auditkit.gate.policy import (
    InsufficientAction,
    LimitKind,
    Scope,
    list_policies,
    load_policy,
    parse_policy,
    policy_to_dict,
    resolve_policy,
    shipped_policy_dir,
)
from deidkit.core.resources import shipped_dir


def _policy(*checks: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "t", "checks": list(checks), **top}


@pytest.mark.parametrize("name", ["strict-predeployment.yaml", "example.yaml"])
def test_shipped_policies_load(name: str) -> None:
    policy = load_policy(shipped_dir("profiles") / "policies" / name)
    assert policy.checks
    assert {c.scope for c in policy.checks} >= {Scope.GROUP, Scope.DISPARITY, Scope.CHANGE}


def test_strict_policy_has_issue_limits() -> None:
    policy = load_policy(shipped_dir("profiles") / "policies" / "strict-predeployment.yaml")
    by_id = {c.id: c for c in policy.checks}
    assert (
        by_id["worst-group-sensitivity"].limit_kind,
        by_id["worst-group-sensitivity"].limit,
    ) == (
        LimitKind.MIN,
        0.80,
    )
    assert by_id["auroc-gap-manufacturer"].attributes == ("manufacturer",)
    assert by_id["auroc-no-regression"].limit_kind is LimitKind.MAX_DROP
    assert policy.insufficient is InsufficientAction.FAIL


def test_scope_inference() -> None:
    policy = parse_policy(
        _policy(
            {"id": "a", "metric": "tpr", "min": 0.8},
            {"id": "b", "metric": "auroc_difference", "max": 0.05},
            {"id": "c", "metric": "auroc", "max_drop": 0.02},
            {"id": "d", "metric": "auroc", "scope": "overall", "min": 0.9},
        )
    )
    assert [c.scope for c in policy.checks] == [
        Scope.GROUP,
        Scope.DISPARITY,
        Scope.CHANGE,
        Scope.OVERALL,
    ]


def test_unknown_metric_is_named() -> None:
    with pytest.raises(
        UnknownMetricError, match="unknown metric 'sensitivty'.*known metrics: .*tpr"
    ):
        parse_policy(_policy({"id": "x", "metric": "sensitivty", "min": 0.8}), source="p.yaml")


@pytest.mark.parametrize(
    ("check", "pattern"),
    [
        ({"metric": "tpr"}, "exactly one limit.*found none"),
        ({"metric": "tpr", "min": 0.8, "max": 0.9}, "exactly one limit.*found min, max"),
        ({"metric": "tpr", "min": "high"}, "limit 'min' must be a finite number"),
        ({"metric": "tpr", "min": True}, "limit 'min' must be a finite number"),
        ({"metric": "tpr", "min": float("nan")}, "finite number"),
        ({"metric": "auroc", "max_drop": -0.1}, "'max_drop' must be zero or positive"),
    ],
)
def test_malformed_limits(check: dict[str, Any], pattern: str) -> None:
    with pytest.raises(MalformedLimitError, match=pattern):
        parse_policy(_policy({"id": "c1", **check}), source="p.yaml")


def test_unknown_attribute_named_against_results() -> None:
    policy = parse_policy(
        _policy({"id": "gap", "metric": "auroc_difference", "attributes": ["vendor"], "max": 0.05})
    )
    with pytest.raises(UnknownAttributeError, match="attribute 'vendor'.*manufacturer, sex"):
        policy.validate_attributes(["sex", "manufacturer"])
    policy.validate_attributes(["vendor"])  # present: no error


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ([1, 2], "must hold a mapping"),
        ({"checks": []}, "non-empty list"),
        ({"checks": [{"metric": "tpr", "min": 0.8}], "colour": 1}, "unknown key 'colour'"),
        ({"checks": [{"metric": "tpr", "min": 0.8, "limit": 1}]}, "unknown key 'limit'"),
        (
            {"checks": [{"metric": "tpr", "min": 0.8}], "insufficient_evidence": "maybe"},
            "fail, warn",
        ),
        ({"checks": [{"metric": "tpr", "min": 0.8, "scope": "disparity"}]}, "per-group metric"),
        ({"checks": [{"metric": "tpr", "min": 0.8, "scope": "change"}]}, "absolute limit"),
        ({"checks": [{"id": "a", "metric": "tpr", "min": 0.8}] * 2}, "duplicate check ids: a"),
        (
            {"checks": [{"metric": "tpr", "min": 0.8}], "min_evidence": {"min_group_size": -1}},
            ">= 0",
        ),
    ],
)
def test_structural_errors(data: Any, pattern: str) -> None:
    with pytest.raises(PolicyError, match=pattern) as info:
        parse_policy(data, source="p.yaml")
    assert isinstance(info.value, UsageError)  # exit code 2 in the CLI


def test_load_policy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy 'absent.yaml' not found"):
        load_policy(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("checks: [\n  - {metric: tpr\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML at line"):
        load_policy(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_policy({"metric": "tpr", "min": 0.5})), encoding="utf-8")
    assert load_policy(good).checks[0].id == "check-1"


def test_policy_file_that_is_not_text_or_not_a_mapping(tmp_path: Path) -> None:
    # Issue 16 (4a): a Latin-1 policy crashed `auditkit gate` with a traceback and exit 1.
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: Münster\nchecks: []\n".encode("latin-1"))
    with pytest.raises(PolicyError, match="'latin.yaml' is not valid UTF-8 text") as info:
        load_policy(latin)
    assert isinstance(info.value, UsageError)
    listed = tmp_path / "list.yaml"
    listed.write_text("- metric: tpr\n  min: 0.8\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not a YAML mapping"):
        load_policy(listed)
    with pytest.raises(PolicyError, match="'policies' is a folder"):
        load_policy(shipped_dir("profiles") / "policies")


def test_policy_nested_too_deeply_is_not_a_crash(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 50_000, encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML \\(nested too deeply\\)"):
        load_policy(deep)


# Shipped policies by name (issue 17, 6): `--policy strict-predeployment` was "cannot read".


def test_list_policies_names_every_shipped_file() -> None:
    folder = shipped_dir("profiles") / "policies"
    assert list_policies() == sorted(p.stem for p in folder.glob("*.yaml"))
    assert {"example", "strict-predeployment"} <= set(list_policies())
    assert shipped_policy_dir() == folder


@pytest.mark.parametrize("name", ["strict-predeployment", "example"])
def test_a_shipped_policy_loads_by_name_from_any_folder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing of this repository is in reach by a relative path
    by_name = load_policy(name)
    by_path = load_policy(shipped_dir("profiles") / "policies" / f"{name}.yaml")
    assert by_name.source == f"builtin:{name}"
    assert by_name.name == name
    assert by_name.checks == by_path.checks
    assert resolve_policy(name) == (shipped_policy_dir() / f"{name}.yaml", f"builtin:{name}")


def test_unknown_name_lists_the_shipped_policies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError) as info:
        load_policy("strict")
    assert isinstance(info.value, UsageError)  # exit 2 in the CLI
    message = str(info.value)
    assert message.startswith("unknown policy 'strict' (shipped policies: example, ")
    assert "strict-predeployment" in message and "./strict.yaml" in message


def _write_policy(path: Path, name: str) -> Path:
    path.write_text(
        yaml.safe_dump({"name": name, "checks": [{"metric": "tpr", "min": 0.5}]}), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    "value", ["team.yaml", "team.yml", "./team", "rules/team", "strict-predeployment.yaml"]
)
def test_a_path_or_a_yaml_suffix_is_a_file(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    _write_policy(tmp_path / value, "local")
    policy = load_policy(value)
    assert (policy.name, policy.source) == ("local", value)


def test_a_shipped_name_wins_over_a_local_file_and_a_bare_local_file_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write_policy(tmp_path / "strict-predeployment", "local-strict")
    assert load_policy("strict-predeployment").source == "builtin:strict-predeployment"
    assert load_policy("./strict-predeployment").name == "local-strict"
    # A bare name no policy ships: the file of that name, as before policies had names.
    _write_policy(tmp_path / "team", "local-team")
    assert load_policy("team").name == "local-team"


def test_a_shipped_policy_without_a_name_is_named_after_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import auditkit.gate.policy as policy_module

    (tmp_path / "bare.yaml").write_text(
        yaml.safe_dump({"checks": [{"metric": "tpr", "min": 0.5}]}), encoding="utf-8"
    )
    monkeypatch.setattr(policy_module, "shipped_policy_dir", lambda: tmp_path)
    assert load_policy("bare").name == "bare"


def test_policy_to_dict_is_the_validated_policy_as_json() -> None:
    policy = load_policy("strict-predeployment")
    data = json.loads(json.dumps(policy_to_dict(policy)))
    assert data["name"] == "strict-predeployment"
    assert data["source"] == "builtin:strict-predeployment"
    assert data["insufficient_evidence"] == "fail"
    assert data["missing_groups"] == "skip"
    assert data["min_evidence"] == {"min_group_size": 30, "min_positives": 10, "min_negatives": 10}
    assert data["min_cell_size"] == 10
    assert data["attributes"] == ["manufacturer", "field_strength", "site", "sex", "age_band"]
    assert [c["id"] for c in data["checks"]] == [
        "worst-group-sensitivity",
        "auroc-gap-manufacturer",
        "auroc-no-regression",
    ]
    assert data["checks"][1] == {
        "id": "auroc-gap-manufacturer",
        "metric": "auroc_difference",
        "scope": "disparity",
        "limit": {"kind": "max", "value": 0.05},
        "attributes": ["manufacturer"],
        "description": "AUROC may differ by at most 0.05 between scanner manufacturers.",
    }
