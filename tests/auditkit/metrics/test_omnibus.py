"""Omnibus disparity tests (issue 18): the statistic is the reported gap, so choosing the
extreme pair is inside the null; p-value floor; selection-aware intervals; BH; BCa for ECE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditkit.evaluate.audit import AuditResult
from auditkit.evaluate.predictions import prepare_predictions
from auditkit.metrics.bootstrap import bca_interval, jackknife_weights
from auditkit.metrics.omnibus import (
    benjamini_hochberg,
    centred_range,
    permutation_p_value,
    range_interval,
    rate_null_draws,
    unit_null_draws,
)


def _frame(*, n, groups, seed, tpr_gap=0.0):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    y = rng.integers(0, 2, n)
    shift = np.where(g == 0, -tpr_gap, 0.0)  # group 0's positives score lower
    s = np.clip(rng.normal(0.35 + (0.3 + shift) * y, 0.15), 0, 1).round(3)
    return pd.DataFrame(
        {"label": y.astype(str), "score": s.astype(str), "site": [f"G{k}" for k in g]}
    )


def _audit(frame, **kwargs):
    pred = prepare_predictions(frame, task="binary", groups=("site",))
    return AuditResult(predictions=pred, **kwargs)


def test_p_value_never_below_one_over_b_plus_one():
    null = np.zeros(999)
    assert permutation_p_value(5.0, null) == pytest.approx(1 / 1000)
    assert permutation_p_value(0.0, null) == 1.0  # ties count as at least as extreme
    assert permutation_p_value(1.0, np.full(10, np.nan)) is None


def test_rate_null_draws_keep_each_permutations_totals():
    rng = np.random.default_rng(0)
    trials = np.array([50.0, 80.0, 0.0, 30.0])
    successes = np.array([10.0, 40.0, 0.0, 5.0])
    draws = rate_null_draws(successes=successes, trials=trials, n_perm=300, rng=rng)
    assert np.isnan(draws[:, 2]).all()  # a group without trials takes no part
    counts = np.nan_to_num(draws) * trials
    assert np.allclose(counts.sum(axis=1), successes.sum())
    # Under the null each group's expected rate is the pooled rate.
    assert np.nanmean(draws[:, 0]) == pytest.approx(55 / 160, abs=0.02)


def test_unit_null_draws_move_whole_units():
    rng = np.random.default_rng(1)
    labels = np.array([0, 0, 1, 1, 2])
    num = {"m": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}
    den = {"m": np.ones(5)}
    draws = unit_null_draws(
        labels=labels, numerators=num, denominators=den, n_groups=3, n_perm=50, rng=rng
    )["m"]
    assert draws.shape == (50, 3)
    # group 2 holds exactly one unit in every permutation: its mean is one unit's value
    assert set(np.unique(draws[:, 2])) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_range_interval_is_never_below_zero_and_covers_the_gap():
    rng = np.random.default_rng(2)
    point = np.array([0.5, 0.52, 0.49])
    reps = point + rng.normal(0, 0.05, (500, 3))
    centred = centred_range(reps, point, np.arange(3))
    low, high = range_interval(0.03, centred, level=0.95)
    assert low == 0.0 and high is not None and high > 0.03


def test_benjamini_hochberg_known_values():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.20])
    adjusted = benjamini_hochberg(p)
    assert np.isnan(adjusted[3])
    assert adjusted[[0, 2, 1, 4]] == pytest.approx([0.04, 0.05333333, 0.05333333, 0.2])


def test_null_family_wise_false_flags_stay_low_with_many_groups():
    # 10 equal groups: the extreme pair tested as if named in advance flagged about 60 % of
    # such data sets (issue 18). The omnibus test keeps the family-wise rate near 5 %.
    flagged = 0
    for seed in range(40):
        result = _audit(
            _frame(n=600, groups=10, seed=seed), n_boot=150, seed=seed, min_group_size=20
        )
        flagged += any(d["significant_holm"] for d in result.disparities)
    assert flagged <= 6  # 15 %: generous against 5 % expected (binomial sd ~3.4 %)


def test_planted_gap_is_detected_with_permutation_p_value():
    result = _audit(_frame(n=1500, groups=5, seed=3, tpr_gap=0.25), n_boot=300, seed=0)
    eo = next(d for d in result.disparities if d["metric"] == "equal_opportunity_difference")
    assert eo["test"] == "permutation"
    # Stratified rate tests draw max(B, 9999) permutations: the floor is 1 / 10,000.
    assert eo["significant_holm"] is True and eo["p_value"] == pytest.approx(1 / 10_000)
    assert eo["ci_low"] > 0
    auroc = next(d for d in result.disparities if d["metric"] == "auroc_difference")
    assert auroc["test"] == "bootstrap-range"


def test_pairwise_view_against_the_largest_or_named_group():
    frame = _frame(n=1200, groups=3, seed=4, tpr_gap=0.3)
    result = _audit(frame, n_boot=200)
    largest = frame["site"].value_counts().idxmax()
    assert {p["reference"] for p in result.pairwise} == {largest}
    # B = 500: the smallest bootstrap p-value, 2 / (B + 1), times 8 tests stays below 0.05.
    named = _audit(frame, n_boot=500, reference_groups={"site": "G0"})
    tpr = [p for p in named.pairwise if p["metric"] == "tpr"]
    assert {p["group"] for p in tpr} == {"G1", "G2"}
    assert all(p["significant"] and p["ci_low"] > 0 for p in tpr)  # G0 is the low one
    assert all(p["p_value"] >= 2 / 501 for p in named.pairwise)


def test_bh_option_marks_its_adjustment():
    result = _audit(_frame(n=600, groups=3, seed=5), n_boot=100, adjust="bh")
    tested = [d for d in result.disparities if d["p_value"] is not None]
    assert tested and all(d["adjustment"] == "bh" for d in tested)
    assert all(d["p_value_adjusted"] <= d["p_value_holm"] for d in tested)


def test_ece_interval_contains_its_estimate():
    # Well calibrated, large groups: resampling only adds miscalibration, so every ECE
    # replicate tends to exceed the estimate and a percentile interval misses it.
    misses_percentile = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n = 4000
        s = rng.uniform(0, 1, n).round(4)
        y = (rng.uniform(0, 1, n) < s).astype(int)
        frame = pd.DataFrame(
            {"label": y.astype(str), "score": s.astype(str), "site": rng.choice(["a", "b"], n)}
        )
        result = _audit(frame, n_boot=200, seed=seed)
        for entry in [result.overall, *result.by_group]:
            ece = entry["metrics"]["ece"]
            assert ece["ci_low"] <= ece["value"] <= ece["ci_high"]
            assert ece["ci_method"] in ("bca", "bias-shifted")
            auroc = entry["metrics"]["auroc"]
            assert auroc["ci_low"] <= auroc["value"] <= auroc["ci_high"]
        misses_percentile += entry["metrics"]["ece"]["ci_method"] == "bias-shifted"
    assert misses_percentile >= 0


def test_bca_equals_percentile_without_bias_or_skew():
    rng = np.random.default_rng(7)
    reps = rng.normal(0, 1, (4000, 1))
    jack = rng.normal(0, 0.01, (20, 1))
    low, high, shifted = bca_interval(reps, np.array([0.0]), jack, level=0.95)
    assert low[0] == pytest.approx(-1.96, abs=0.1) and high[0] == pytest.approx(1.96, abs=0.1)
    assert not shifted[0]


def test_jackknife_weights_leave_out_whole_patients():
    clusters = np.repeat(np.arange(40), 3)
    w = jackknife_weights(n_rows=120, seed=0, clusters=clusters, blocks=20)
    assert w.shape == (20, 120)
    assert (w.sum(axis=0) == 19).all()  # each row left out exactly once
    for row in w:
        dropped = np.unique(clusters[row == 0])
        assert all((row[clusters == p] == 0).all() for p in dropped)


def test_patients_are_permuted_when_the_attribute_is_constant_within_them():
    frame = _frame(n=600, groups=3, seed=6)
    frame["patient"] = [f"p{i // 2}" for i in range(len(frame))]
    frame["site"] = frame.groupby("patient")["site"].transform("first")  # one site a patient
    rng = np.random.default_rng(0)
    frame["scanner"] = rng.choice(["x", "y"], len(frame))  # varies within a patient
    pred = prepare_predictions(frame, task="binary", groups=("site", "scanner"), patient="patient")
    result = AuditResult(predictions=pred, n_boot=100, seed=0)
    tests = {(d["attribute"], d["metric"]): d.get("test") for d in result.disparities}
    assert tests[("site", "equal_opportunity_difference")] == "permutation"
    assert tests[("scanner", "equal_opportunity_difference")] == "bootstrap-range"
    # 300 patients: up to 9,999 permutations fit the budget, so the floor is 1 / 10,000.
    assert all(d["p_value"] is None or d["p_value"] >= 1 / 10_000 for d in result.disparities)


def test_regression_gaps_are_permutation_tests():
    rng = np.random.default_rng(8)
    n = 400
    site = rng.choice(["a", "b", "c"], n)
    label = rng.normal(50, 10, n)
    prediction = label + rng.normal(0, 3, n) + np.where(site == "c", 4.0, 0.0)
    frame = pd.DataFrame(
        {"label": label.astype(str), "prediction": prediction.astype(str), "site": site}
    )
    pred = prepare_predictions(frame, task="regression", groups=("site",))
    result = AuditResult(predictions=pred, n_boot=200, seed=0)
    bias = next(d for d in result.disparities if d["metric"] == "bias_difference")
    assert bias["test"] == "permutation" and bias["significant_holm"] is True
    assert bias["p_value"] == pytest.approx(1 / 10_000)  # 400 rows: 9,999 permutations
