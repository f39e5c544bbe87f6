"""Disparities against fairlearn, fairlearn's no-positives pitfall, Holm flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    true_positive_rate,
)

from auditkit.evaluate.audit import AuditResult
from auditkit.evaluate.predictions import prepare_predictions
from auditkit.metrics.disparities import (
    BINARY_SPECS,
    attribute_disparities,
    fairlearn_disparities,
    holm_flags,
)


def _frame(n=900, seed=2, gap=0.0):
    rng = np.random.default_rng(seed)
    site = rng.choice(["A", "B", "C"], n)
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.35 + 0.3 * y - gap * y * (site == "C"), 0.15), 0, 1).round(3)
    return pd.DataFrame({"label": y.astype(str), "score": s.astype(str), "site": site}), y, s, site


def _by_metric(result):
    return {(d["attribute"], d["metric"]): d for d in result.disparities}


def test_point_disparities_match_fairlearn():
    frame, y, s, site = _frame()
    pred = prepare_predictions(frame, task="binary", groups=("site",))
    result = _by_metric(AuditResult(predictions=pred, n_boot=50, seed=0))
    y_pred = (s >= 0.5).astype(int)
    assert result[("site", "demographic_parity_difference")]["value"] == pytest.approx(
        demographic_parity_difference(y, y_pred, sensitive_features=site)
    )
    assert result[("site", "demographic_parity_ratio")]["value"] == pytest.approx(
        demographic_parity_ratio(y, y_pred, sensitive_features=site)
    )
    assert result[("site", "equalized_odds_difference")]["value"] == pytest.approx(
        equalized_odds_difference(y, y_pred, sensitive_features=site)
    )
    mf = MetricFrame(metrics=true_positive_rate, y_true=y, y_pred=y_pred, sensitive_features=site)
    assert result[("site", "equal_opportunity_difference")]["value"] == pytest.approx(
        mf.difference()
    )
    assert result[("site", "worst_group_tpr")]["value"] == pytest.approx(mf.group_min())


def test_collapsed_fairlearn_call_equals_row_level_call():
    _, y, s, site = _frame(seed=8)
    y_pred = (s >= 0.4).astype(np.int64)
    ours = fairlearn_disparities(y_true=y, y_pred=y_pred, groups=site.astype(object))
    assert ours["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, y_pred, sensitive_features=site)
    )


def test_group_without_positives_kept_where_defined_not_scored_zero():
    frame, y, s, site = _frame(seed=4)
    # Site "D": 40 negatives, no positives. fairlearn scores its TPR as 0 and the
    # equalized-odds gap jumps; auditkit leaves D out of TPR only (issue 18: FPR, selection
    # rate and the FPR side of equalized odds are defined without positives).
    extra = pd.DataFrame({"label": ["0"] * 40, "score": ["0.2"] * 40, "site": ["D"] * 40})
    frame = pd.concat([frame, extra], ignore_index=True)
    pred = prepare_predictions(frame, task="binary", groups=("site",))
    audit = AuditResult(predictions=pred, n_boot=50)
    d_entry = next(g for g in audit.by_group if g["group"] == "D")
    assert d_entry["status"] == "ok"
    assert d_entry["reason"].startswith("no positive cases: ")
    assert "tpr" in d_entry["reason"] and "auroc" in d_entry["reason"]
    assert "fpr" not in d_entry["reason"].split(" undefined")[0]
    assert d_entry["metrics"]["tpr"]["value"] is None
    assert d_entry["metrics"]["tpr"]["reason"] == "no positive cases"
    assert d_entry["metrics"]["fpr"]["value"] == 0.0
    by = _by_metric(audit)
    assert "D" in by[("site", "equalized_odds_difference")]["groups_used"]
    assert "D" in by[("site", "demographic_parity_difference")]["groups_used"]
    assert "D" not in by[("site", "equal_opportunity_difference")]["groups_used"]
    assert "D" not in by[("site", "auroc_difference")]["groups_used"]
    y_all = frame["label"].astype(int).to_numpy()
    pred_all = (frame["score"].astype(float).to_numpy() >= 0.5).astype(int)
    inflated = equalized_odds_difference(y_all, pred_all, sensitive_features=frame["site"])
    assert inflated > 0.5  # fairlearn: TPR 0 for D against ~0.8 elsewhere
    eo = by[("site", "equalized_odds_difference")]
    assert eo["value"] < 0.3
    # The value is ours (fairlearn would score D's TPR 0): the FPR gap includes D's 0.
    usable = frame[frame["site"] != "D"]
    fpr = [
        (
            (usable["score"].astype(float) >= 0.5)
            & (usable["label"] == "0")
            & (usable["site"] == k)
        ).sum()
        / ((usable["label"] == "0") & (usable["site"] == k)).sum()
        for k in ("A", "B", "C")
    ]
    tpr_gap = by[("site", "equal_opportunity_difference")]["value"]
    assert eo["value"] == pytest.approx(max(max(fpr) - 0.0, tpr_gap))


def test_holm_flags_planted_gap_and_no_gap():
    frame, *_ = _frame(n=1500, gap=0.25)
    frame["noise"] = np.random.default_rng(1).choice(["x", "y"], len(frame))
    pred = prepare_predictions(frame, task="binary", groups=("site", "noise"))
    flags = _by_metric(AuditResult(predictions=pred, n_boot=300, seed=0))
    planted = flags[("site", "equal_opportunity_difference")]
    assert planted["significant_holm"] is True
    assert planted["ci_low"] > 0
    assert flags[("noise", "auroc_difference")]["significant_holm"] is False
    assert flags[("site", "worst_group_auroc")]["significant_holm"] is None
    assert (
        flags[("site", "demographic_parity_ratio")]["significant_holm"]
        == flags[("site", "demographic_parity_difference")]["significant_holm"]
    )


def test_fewer_than_two_usable_groups_gives_null_with_reason():
    names = ["a", "b"]
    point = {m: np.array([0.5, 0.7]) for m in ("selection_rate", "tpr", "fpr", "auroc")}
    entries = attribute_disparities(
        BINARY_SPECS,
        attribute="x",
        names=names,
        usable=np.array([True, False]),
        point=point,
        replicates={},
    )
    holm_flags(entries)
    assert all(e["value"] is None and e["reason"] for e in entries)
    assert all(e["significant_holm"] is None for e in entries)
