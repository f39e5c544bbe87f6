"""RESULTS.json: the shipped schema, the example file, loading and typed views."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from auditkit.errors import ResultsFormatError
from auditkit.results import (
    SCHEMA_PATH,
    _basic_errors,
    dumps_results,
    load_results,
    parse_results,
    results_schema,
    validation_errors,
)

EXAMPLE_RESULTS = Path(__file__).parent / "data" / "example_results.json"

ENTRY_KEYS = {"attribute", "group", "n", "status", "reason", "metrics"}
DISPARITY_KEYS = {
    "attribute",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "significant_holm",
    "groups_used",
}
BINARY_METRICS = {
    "n_pos",
    "n_neg",
    "prevalence",
    "selection_rate",
    "auroc",
    "tpr",
    "fpr",
    "tnr",
    "ppv",
    "npv",
    "accuracy",
    "balanced_accuracy",
    "brier",
    "ece",
}


def test_schema_is_valid_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(results_schema())
    assert SCHEMA_PATH.is_file()


def test_example_follows_contract():
    doc = load_results(EXAMPLE_RESULTS)
    assert doc["schema_version"] == "1.0"
    assert set(doc["overall"]) >= ENTRY_KEYS
    assert set(doc["overall"]["metrics"]) >= BINARY_METRICS
    statuses = {g["status"] for g in doc["groups"]}
    assert statuses == {"ok", "insufficient", "missing"}
    assert any(" | " in e["attribute"] and " | " in e["group"] for e in doc["intersections"])
    names = {d["metric"] for d in doc["disparities"]}
    assert names >= {
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equal_opportunity_difference",
        "auroc_difference",
        "worst_group_auroc",
        "worst_group_tpr",
    }
    assert all(set(d) >= DISPARITY_KEYS for d in doc["disparities"])


def test_builtin_validator_agrees_with_jsonschema():
    pytest.importorskip("jsonschema")
    doc = json.loads(EXAMPLE_RESULTS.read_text())
    schema = results_schema()
    assert _basic_errors(doc, schema, schema, "") == [] == validation_errors(doc)
    broken = copy.deepcopy(doc)
    del broken["groups"][0]["status"]
    broken["disparities"][0]["significant_holm"] = "yes"
    assert len(_basic_errors(broken, schema, schema, "")) == 2
    assert len(validation_errors(broken)) == 2


def test_load_rejects_broken_files(tmp_path):
    doc = json.loads(EXAMPLE_RESULTS.read_text())
    del doc["threshold"]
    path = tmp_path / "RESULTS.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsFormatError, match="threshold"):
        load_results(path)
    path.write_text("{not json")
    with pytest.raises(ResultsFormatError, match="'RESULTS.json' is not JSON .*line 1, column 2"):
        load_results(path)
    doc = json.loads(EXAMPLE_RESULTS.read_text())
    doc["schema_version"] = "2.0"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsFormatError, match="reads 1.x"):
        load_results(path)


def test_typed_view():
    results = parse_results(load_results(EXAMPLE_RESULTS))
    assert results.overall.ok and results.overall.metrics["auroc"].defined
    sex = results.attribute_groups("sex")
    assert {g.group for g in sex} >= {"F", "M", "missing"}
    assert any(d.metric == "auroc_difference" for d in results.disparities)


def test_dumps_refuses_nan():
    with pytest.raises(ValueError):
        dumps_results({"value": float("nan")})


def test_load_names_a_missing_or_binary_file(tmp_path):
    # Issue 16 (10e): a missing results file was reported as "could not be read as JSON".
    with pytest.raises(ResultsFormatError, match="^results 'absent.json' not found$"):
        load_results(tmp_path / "absent.json")
    binary = tmp_path / "old.json"
    binary.write_bytes(b"PK\x03\x04\xff\x00")
    with pytest.raises(ResultsFormatError, match="^baseline 'old.json' is not valid UTF-8"):
        load_results(binary, what="baseline")
