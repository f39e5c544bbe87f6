"""Per-group ROC and reliability points: an sklearn oracle; groups named as in the results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from auditkit.evaluate.audit import AuditResult
from auditkit.evaluate.predictions import load_predictions
from auditkit.report.curves import curves_for_results, curves_from_predictions, group_curves


def test_group_curves_oracle() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    scores = np.array([0.05, 0.15, 0.95, 0.55, 0.91, 0.52, 0.18, 0.99])
    curves = group_curves(labels, scores)
    assert curves is not None
    fpr, tpr, _ = roc_curve(labels, scores)
    assert curves.fpr == tuple(fpr) and curves.tpr == tuple(tpr)
    # bins by hand: [0.05], [0.15, 0.18], [0.52, 0.55], [0.91, 0.95, 0.99]
    assert curves.count == (1, 2, 2, 3)
    assert curves.observed == pytest.approx((0.0, 0.5, 0.5, 2 / 3))
    assert curves.mean_score == pytest.approx((0.05, 0.165, 0.535, 0.95))
    assert group_curves(np.ones(3), np.array([0.1, 0.2, 0.3])) is None


def test_curves_from_predictions_names_missing_group(binary_csv: Path) -> None:
    curves = curves_from_predictions(
        binary_csv, attributes=["sex", "manufacturer"], missing_names={"sex": "missing"}
    )
    assert set(curves["sex"]) == {"F", "M", "missing"}
    assert "Philips" in curves["manufacturer"]  # suppression happens when rendering


def test_curves_for_results_line_up_with_the_results_groups(
    tmp_path: Path, binary_frame: pd.DataFrame
) -> None:
    # A real category spelled "missing" renames the missing-value group "(missing)".
    frame = binary_frame.copy()
    frame.loc[frame.index[:40], "sex"] = "missing"
    path = tmp_path / "predictions.csv"
    frame.to_csv(path, index=False)
    table = load_predictions(path, task="binary", groups=("sex", "manufacturer"))
    results = AuditResult(predictions=table, intersections=2, n_boot=0).to_dict()
    curves = curves_for_results(results, path)
    assert set(curves) == {"sex", "manufacturer"}  # no intersections
    groups = {(e["attribute"], e["group"]) for e in results["groups"]}
    assert {("sex", g) for g in curves["sex"]} <= groups
    assert {"missing", "(missing)"} <= set(curves["sex"])
