"""Metric kernels against scikit-learn and hand arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score, roc_curve

from auditkit.metrics.kernels import (
    binary_layout,
    binary_metrics,
    binary_sums,
    ece_bin,
    mean_sums,
    threshold_for_specificity,
    threshold_youden,
    wilson_interval,
)


def _metrics(codes, n_groups, y, s, *, t=0.5, t_spec=0.7, weights=None, pred=None):
    layout = binary_layout(
        codes=np.asarray(codes, dtype=np.int64),
        n_groups=n_groups,
        y=np.asarray(y),
        score=np.asarray(s, dtype=np.float64),
        pred=np.asarray(s) >= t if pred is None else pred,
        pred_spec=np.asarray(s) >= t_spec,
    )
    w = np.ones((1, len(y)), dtype=np.int64) if weights is None else weights
    return binary_metrics(binary_sums(layout, w))


def _ece(y, s):
    bins = np.minimum(np.floor(10 * s), 9)
    total = 0.0
    for b in np.unique(bins):
        k = bins == b
        total += k.sum() / len(s) * abs(s[k].mean() - y[k].mean())
    return total


@pytest.fixture
def grouped():
    rng = np.random.default_rng(3)
    n = 1500
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.4 + 0.25 * y, 0.2), 0, 1).round(2)  # rounding -> many ties
    codes = rng.integers(0, 4, n)
    return codes, y, s


def test_per_group_metrics_match_sklearn(grouped):
    codes, y, s = grouped
    m = _metrics(codes, 4, y, s, t=0.5, t_spec=0.7)
    for g in range(4):
        k = codes == g
        yk, sk = y[k], s[k]
        pred = (sk >= 0.5).astype(int)
        tn, fp, fn, tp = confusion_matrix(yk, pred, labels=[0, 1]).ravel()
        assert m["auroc"][0, g] == pytest.approx(roc_auc_score(yk, sk), abs=1e-12)
        assert m["brier"][0, g] == pytest.approx(brier_score_loss(yk, sk), abs=1e-12)
        assert m["tpr"][0, g] == pytest.approx(tp / (tp + fn))
        assert m["fpr"][0, g] == pytest.approx(fp / (fp + tn))
        assert m["tnr"][0, g] == pytest.approx(tn / (fp + tn))
        assert m["ppv"][0, g] == pytest.approx(tp / (tp + fp))
        assert m["npv"][0, g] == pytest.approx(tn / (tn + fn))
        assert m["accuracy"][0, g] == pytest.approx((tp + tn) / k.sum())
        assert m["selection_rate"][0, g] == pytest.approx(pred.mean())
        assert m["prevalence"][0, g] == pytest.approx(yk.mean())
        assert m["ece"][0, g] == pytest.approx(_ece(yk, sk), abs=1e-12)
        spec_pred = sk >= 0.7
        assert m["tpr_at_fixed_specificity"][0, g] == pytest.approx(spec_pred[yk == 1].mean())


def test_integer_weights_equal_repeated_rows(grouped):
    codes, y, s = grouped
    rng = np.random.default_rng(5)
    w = rng.integers(0, 4, len(y))
    m = _metrics(codes, 4, y, s, weights=w[None, :])
    rows = np.repeat(np.arange(len(y)), w)
    for g in range(4):
        k = codes[rows] == g
        assert m["auroc"][0, g] == pytest.approx(roc_auc_score(y[rows][k], s[rows][k]), abs=1e-12)
        assert m["brier"][0, g] == pytest.approx(
            brier_score_loss(y[rows][k], s[rows][k]), abs=1e-12
        )


def test_hand_checkable_fixture():
    # Six cases, one group. Threshold 0.5: predictions 0 0 1 1 1 0.
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.4, 0.5, 0.8, 0.5, 0.3])
    m = {k: v[0, 0] for k, v in _metrics(np.zeros(6), 1, y, s).items()}
    # TP = 2 (0.8, 0.5), FN = 1 (0.3), FP = 1 (0.5 == threshold counts positive), TN = 2.
    assert m["tpr"] == pytest.approx(2 / 3)
    assert m["fpr"] == pytest.approx(1 / 3)
    assert m["ppv"] == pytest.approx(2 / 3)
    assert m["npv"] == pytest.approx(2 / 3)
    assert m["selection_rate"] == pytest.approx(0.5)
    # AUROC: pairs (pos, neg) = 9; wins: 0.8 beats 3, 0.5 beats 2 and ties 1, 0.3 beats 1.
    assert m["auroc"] == pytest.approx((3 + 2.5 + 1) / 9)
    # ECE bins: {0.1}->1, {0.3}->3, {0.4}->4, {0.5, 0.5}->5, {0.8}->8.
    expected = (abs(0.1 - 0) + abs(0.3 - 1) + abs(0.4 - 0) + 2 * abs(0.5 - 0.5) + abs(0.8 - 1)) / 6
    assert m["ece"] == pytest.approx(expected)


def test_score_one_lands_in_last_ece_bin():
    assert ece_bin(np.array([0.0, 0.09999, 0.1, 0.95, 1.0])).tolist() == [0, 0, 1, 9, 9]


def test_group_without_positives_is_nan_not_zero():
    y = np.array([0, 0, 0, 1, 0, 1])
    s = np.array([0.2, 0.6, 0.3, 0.9, 0.1, 0.4])
    m = _metrics(np.array([0, 0, 0, 1, 1, 1]), 2, y, s)
    assert np.isnan(m["tpr"][0, 0]) and np.isnan(m["auroc"][0, 0])
    assert m["fpr"][0, 0] == pytest.approx(1 / 3)
    assert m["tpr"][0, 1] == pytest.approx(0.5)


def test_argmax_style_prediction_takes_generic_path(grouped):
    codes, y, s = grouped
    rng = np.random.default_rng(9)
    pred = rng.integers(0, 2, len(y)).astype(bool)  # not monotone in the score
    m = _metrics(codes, 4, y, s, pred=pred)
    for g in range(4):
        k = codes == g
        assert m["tpr"][0, g] == pytest.approx(pred[k][y[k] == 1].mean())
        assert m["selection_rate"][0, g] == pytest.approx(pred[k].mean())


def test_thresholds_against_roc_curve(grouped):
    _, y, s = grouped
    fpr, tpr, thresholds = roc_curve(y, s)
    best = thresholds[np.argmax(tpr - fpr)]
    assert threshold_youden(y, s) == pytest.approx(best)
    t = threshold_for_specificity(y, s, 0.9)
    assert np.mean(s[y == 0] < t) >= 0.9
    # The next lower observed score would miss the target: t is the lowest that reaches it.
    lower = s[s < t].max()
    assert np.mean(s[y == 0] < lower) < 0.9


def test_wilson_interval_known_value():
    low, high = wilson_interval(np.array([8.0, 0.0]), np.array([10.0, 0.0]))
    assert low[0] == pytest.approx(0.4902, abs=1e-4)
    assert high[0] == pytest.approx(0.9433, abs=1e-4)
    assert np.isnan(low[1]) and np.isnan(high[1])


def test_mean_sums_ignore_nan():
    values = np.array([1.0, np.nan, 3.0, 5.0])
    count, total = mean_sums(
        codes=np.array([0, 0, 0, 1]), n_groups=2, values=values, weights=np.ones((1, 4))
    )
    assert count.tolist() == [[2.0, 1.0]]
    assert total.tolist() == [[4.0, 5.0]]


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 1),  # label
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]),  # coarse scores: many ties
            st.integers(0, 2),  # group
            st.integers(0, 3),  # resampling count
        ),
        min_size=1,
        max_size=40,
    )
)
def test_weighted_kernel_equals_sklearn_on_repeated_rows(data):
    y, s, codes, w = (np.array(column) for column in zip(*data, strict=True))
    s = s.astype(np.float64)
    present = np.unique(codes)
    codes = np.searchsorted(present, codes)  # every group must have a row
    m = _metrics(codes, len(present), y, s, weights=w[None, :])
    rows = np.repeat(np.arange(len(y)), w)
    for g in range(len(present)):
        k = rows[codes[rows] == g]
        yk, sk = y[k], s[k]
        if len(k) == 0:
            assert np.isnan(m["brier"][0, g])
            continue
        assert m["brier"][0, g] == pytest.approx(brier_score_loss(yk, sk, labels=[0, 1]))
        assert m["ece"][0, g] == pytest.approx(_ece(yk, sk), abs=1e-12)
        if 0 < yk.sum() < len(yk):
            assert m["auroc"][0, g] == pytest.approx(roc_auc_score(yk, sk), abs=1e-12)
        else:
            assert np.isnan(m["auroc"][0, g])
