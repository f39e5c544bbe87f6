"""AuditResult: overall and group metrics, edge cases, thresholds, tasks, schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, mean_absolute_error, roc_auc_score

from auditkit.errors import EvaluationError
from auditkit.evaluate.audit import AuditResult, evaluate_file
from auditkit.evaluate.predictions import load_predictions, prepare_predictions
from auditkit.results import validation_errors


def _audit(frame, groups=("sex", "manufacturer"), **kwargs):
    kwargs.setdefault("n_boot", 50)
    task = kwargs.pop("task", "binary")
    patient = kwargs.pop("patient", None)
    pred = prepare_predictions(frame, task=task, groups=groups, patient=patient)
    return AuditResult(predictions=pred, **kwargs)


def _entry(result, attribute, group):
    return result.group(attribute, group)


def test_overall_matches_sklearn_and_has_cis(binary_frame):
    result = _audit(binary_frame, patient="patient_id", n_boot=100)
    y = binary_frame["label"].astype(int).to_numpy()
    s = binary_frame["score"].astype(float).to_numpy()
    m = result.overall["metrics"]
    assert m["auroc"]["value"] == pytest.approx(roc_auc_score(y, s))
    assert m["brier"]["value"] == pytest.approx(brier_score_loss(y, s))
    assert m["n_pos"]["value"] == int(y.sum()) and m["n_neg"]["value"] == int((1 - y).sum())
    assert m["auroc"]["ci_low"] < m["auroc"]["value"] < m["auroc"]["ci_high"]
    assert m["tpr"]["wilson_low"] < m["tpr"]["value"] < m["tpr"]["wilson_high"]
    assert result.overall["n_patients"] == 300
    assert result.to_dict()["bootstrap"]["unit"] == "patient"


def test_missing_values_form_explicit_group_and_unknown_is_real(binary_frame):
    frame = binary_frame.copy()
    frame.loc[:39, "manufacturer"] = "Unknown"
    result = _audit(frame, min_group_size=10)
    missing = _entry(result, "sex", "missing")
    assert missing["status"] == "missing" and missing["n"] == int((frame["sex"] == "").sum())
    assert missing["metrics"]["auroc"]["value"] is not None  # reported, not dropped
    assert _entry(result, "manufacturer", "Unknown")["status"] == "ok"
    for d in result.disparities:
        if d["attribute"] == "sex":
            assert "missing" not in d["groups_used"]
    assert [g["group"] for g in result.by_group if g["attribute"] == "sex"][-1] == "missing"


def test_literal_missing_category_is_not_merged(binary_frame):
    frame = binary_frame.copy()
    frame.loc[:40, "manufacturer"] = "missing"
    result = _audit(frame, n_boot=0, min_group_size=5)
    assert result.group("manufacturer", "missing")["status"] == "ok"
    assert result.group("sex", "(missing)")["status"] == "missing"
    assert any(w["code"] == "missing_label_renamed" for w in result.warnings)


def test_small_and_single_row_groups_are_insufficient_not_zero(binary_frame):
    frame = binary_frame.copy()
    frame.loc[0, "manufacturer"] = "Hologic"  # n = 1
    result = _audit(frame)
    single = _entry(result, "manufacturer", "Hologic")
    assert single["status"] == "insufficient"
    assert single["reason"] == "n=1 is below the minimum group size 30"
    assert single["metrics"]["auroc"]["value"] is None  # one case: never 0
    assert single["metrics"]["auroc"]["reason"]
    assert any(w["code"] == "group_insufficient" for w in result.warnings)
    assert all("Hologic" not in d["groups_used"] for d in result.disparities)


def test_all_missing_attribute(binary_frame):
    frame = binary_frame.assign(site="")
    result = _audit(frame, groups=("site",))
    assert [(g["group"], g["status"]) for g in result.by_group] == [("missing", "missing")]
    assert any(w["code"] == "attribute_all_missing" for w in result.warnings)
    assert all(d["value"] is None and d["reason"] for d in result.disparities)


def test_nan_scores_excluded_with_warning(binary_frame):
    frame = binary_frame.copy()
    frame.loc[[1, 2], "score"] = ["", "nan"]
    frame.loc[3, "status"] = "failed"
    result = _audit(frame)
    assert result.overall["n"] == len(frame) - 3
    codes = {w["code"]: w["count"] for w in result.warnings}
    assert codes["nan_score"] == 2 and codes["failed_rows"] == 1


def test_scores_at_threshold_count_positive():
    frame = pd.DataFrame(
        {"label": ["1", "1", "0", "0"], "score": ["0.5", "0.49", "0.5", "0.1"], "g": ["a"] * 4}
    )
    result = _audit(frame, groups=("g",), n_boot=0, min_group_size=1)
    m = result.overall["metrics"]
    assert m["tpr"]["value"] == 0.5 and m["fpr"]["value"] == 0.5
    assert m["selection_rate"]["value"] == 0.5


def test_single_class_data_gives_nulls_with_reasons(binary_frame):
    frame = binary_frame.assign(label="1")
    result = _audit(frame, n_boot=20)
    m = result.overall["metrics"]
    # Per-metric eligibility (issue 18): the set is judged on what is defined with one class.
    assert result.overall["status"] == "ok"
    assert result.overall["reason"].startswith("no negative cases: ")
    assert "fpr" in result.overall["reason"] and "auroc" in result.overall["reason"]
    assert m["fpr"]["value"] is None and m["auroc"]["value"] is None
    assert m["tpr_at_fixed_specificity"]["value"] is None
    assert "specificity" in m["tpr_at_fixed_specificity"]["reason"]
    assert m["tpr"]["value"] is not None
    with pytest.raises(EvaluationError, match="both positive and negative"):
        _audit(frame, threshold_from="youden")


def test_threshold_rules(binary_frame):
    youden = _audit(binary_frame, threshold_from="youden", n_boot=0)
    spec = _audit(binary_frame, threshold_from="fixed-specificity:0.8", n_boot=0)
    assert youden.threshold.method == "youden"
    assert spec.threshold.method == "fixed-specificity"
    assert spec.overall["metrics"]["tnr"]["value"] >= 0.8
    assert spec.to_dict()["specificity_threshold"]["target"] == 0.8
    with pytest.raises(EvaluationError):
        _audit(binary_frame, threshold=0.3, threshold_from="youden")
    with pytest.raises(EvaluationError, match="fixed-specificity"):
        _audit(binary_frame, threshold_from="fixed-specificity:2")


def test_intersections_named_with_separator(binary_frame):
    result = _audit(binary_frame, intersections=2)
    names = {(e["attribute"], e["group"]) for e in result.intersections}
    assert ("sex | manufacturer", "F | AGFA") in names
    assert _entry(result, "sex | manufacturer", "missing | AGFA")["status"] == "missing"
    assert any(d["attribute"] == "sex | manufacturer" for d in result.disparities)


def test_lookup_methods(binary_frame):
    result = _audit(binary_frame, n_boot=0)
    assert result.group("overall", "all") is result.overall
    assert result.disparity("sex", "auroc_difference")["metric"] == "auroc_difference"
    with pytest.raises(KeyError):
        result.disparity("sex", "no_such_metric")


def test_same_input_same_output(binary_frame):
    a = json.dumps(_audit(binary_frame, intersections=2, seed=3).to_dict())
    b = json.dumps(_audit(binary_frame, intersections=2, seed=3).to_dict())
    assert a == b


def test_evaluate_file_is_audit_result_plus_file_provenance(binary_csv: Path) -> None:
    lines: list[str] = []
    groups = ("sex", "manufacturer")
    result = evaluate_file(
        binary_csv, patient="patient_id", groups=groups, n_boot=20, seed=4, log=lines.append
    )
    table = load_predictions(binary_csv, task="binary", patient="patient_id", groups=groups)
    direct = AuditResult(predictions=table, n_boot=20, seed=4).to_dict()
    document = result.to_dict()
    provenance = document.pop("provenance")
    direct.pop("provenance")
    assert document == direct
    assert provenance["predictions_sha256"] == hashlib.sha256(binary_csv.read_bytes()).hexdigest()
    assert provenance["label_column"] == "label" and provenance["patient_column"] == "patient_id"
    assert provenance["group_columns"] == ["sex", "manufacturer"]
    assert set(provenance["packages"]) == {"numpy", "pandas", "fairlearn"}
    assert lines == [f"evaluating {table.n} rows, 2 attribute(s), 20 bootstrap replicates"]


def test_binary_document_follows_schema(binary_frame):
    assert validation_errors(_audit(binary_frame, intersections=2).to_dict()) == []


def test_multiclass_one_vs_rest_and_macro():
    rng = np.random.default_rng(0)
    n = 400
    label = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[label]
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    frame = pd.DataFrame(
        {
            "label": np.array(["cat", "dog", "eel"])[label],
            "score_cat": prob[:, 0],
            "score_dog": prob[:, 1],
            "score_eel": prob[:, 2],
            "site": rng.choice(["A", "B"], n),
        }
    )
    result = _audit(frame, groups=("site",), task="multiclass")
    doc = result.to_dict()
    assert doc["classes"] == ["cat", "dog", "eel"]
    per_class = result.overall["per_class"]
    aucs = [roc_auc_score(label == c, prob[:, c]) for c in range(3)]
    for c, name in enumerate(doc["classes"]):
        assert per_class[name]["auroc"]["value"] == pytest.approx(aucs[c])
    m = result.overall["metrics"]
    assert m["macro_auroc"]["value"] == pytest.approx(np.mean(aucs))
    assert m["macro_auroc"]["value"] == pytest.approx(
        roc_auc_score(label, prob, multi_class="ovr", average="macro")
    )
    assert m["accuracy"]["value"] == pytest.approx(np.mean(prob.argmax(1) == label))
    assert validation_errors(doc) == []


def test_regression_mae_and_bias():
    rng = np.random.default_rng(1)
    truth = rng.normal(50, 10, 200)
    prediction = truth + rng.normal(2, 3, 200)
    frame = pd.DataFrame(
        {"label": truth, "prediction": prediction, "sex": rng.choice(["F", "M"], 200)}
    )
    result = _audit(frame, groups=("sex",), task="regression")
    m = result.overall["metrics"]
    assert m["mae"]["value"] == pytest.approx(mean_absolute_error(truth, prediction))
    assert m["bias"]["value"] == pytest.approx(np.mean(prediction - truth))
    assert {d["metric"] for d in result.disparities} >= {"mae_difference", "worst_group_mae"}
    assert validation_errors(result.to_dict()) == []


def test_segmentation_means_skip_undefined_hd95():
    frame = pd.DataFrame(
        {
            "dice": [0.9, 0.8, 0.0, 1.0] * 10,
            "hd95": [2.0, 4.0, np.nan, 0.0] * 10,
            "site": ["A", "B"] * 20,
        }
    )
    result = _audit(frame, groups=("site",), task="segmentation", min_group_size=5)
    m = result.overall["metrics"]
    assert m["dice"]["value"] == pytest.approx(0.675)
    assert m["hd95"]["value"] == pytest.approx(2.0)
    assert any(w["code"] == "undefined_value" and w["count"] == 10 for w in result.warnings)
    assert validation_errors(result.to_dict()) == []
