"""The vectorised bootstrap against a plain resampling loop, and its helpers.

Seed semantics: the fast path draws a chunk of replicates with one
``rng.integers(0, n_units, size=(b, n_units))`` call, which consumes the PCG64 stream exactly like
``b`` successive ``rng.integers(0, n_units, size=n_units)`` calls. The loop below does the
latter and computes each replicate with scikit-learn on the resampled rows, so the two must agree
replicate for replicate; the stated tolerance (1e-12) only absorbs float summation order.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from auditkit.metrics.bootstrap import (
    holm_adjust,
    percentile_interval,
    resample_counts,
    run_bootstrap,
    two_sided_p_value,
)
from auditkit.metrics.kernels import binary_layout, binary_metrics, binary_sums

TOL = 1e-12


@pytest.fixture
def small():
    rng = np.random.default_rng(11)
    n = 120
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1).round(2)
    codes = rng.integers(0, 2, n)
    patients = np.arange(n) // 3  # 40 patients, three rows each
    return y, s, codes, patients


def _statistic(y, s, codes):
    layout = binary_layout(codes=codes, n_groups=2, y=y, score=s, pred=s >= 0.5, pred_spec=s >= 0.7)

    def stat(weights):
        m = binary_metrics(binary_sums(layout, weights))
        return {"auroc": m["auroc"], "tpr": m["tpr"], "brier": m["brier"]}

    return stat


def _loop(y, s, codes, *, n_boot, seed, patients=None):
    rng = np.random.default_rng(seed)
    out = {"auroc": [], "tpr": [], "brier": []}
    units = len(y) if patients is None else patients.max() + 1
    for _ in range(n_boot):
        draw = rng.integers(0, units, size=units)
        if patients is None:
            rows = draw
        else:
            rows = np.concatenate([np.flatnonzero(patients == p) for p in draw])
        row = {"auroc": [], "tpr": [], "brier": []}
        for g in range(2):
            k = rows[codes[rows] == g]
            yk, sk = y[k], s[k]
            both = 0 < yk.sum() < len(yk)
            row["auroc"].append(roc_auc_score(yk, sk) if both else np.nan)
            row["tpr"].append((sk[yk == 1] >= 0.5).mean() if yk.sum() else np.nan)
            row["brier"].append(np.mean((sk - yk) ** 2))
        for key in out:
            out[key].append(row[key])
    return {key: np.array(value) for key, value in out.items()}


@pytest.mark.parametrize("cluster", [False, True])
def test_fast_bootstrap_equals_plain_loop(small, cluster):
    y, s, codes, patients = small
    clusters = patients if cluster else None
    fast = run_bootstrap(
        _statistic(y, s, codes),
        n_rows=len(y),
        n_boot=60,
        seed=4,
        clusters=clusters,
        chunk_elements=1000,  # several chunks, so chunking is exercised
        workers=2,
    )
    slow = _loop(y, s, codes, n_boot=60, seed=4, patients=clusters)
    for key in slow:
        np.testing.assert_allclose(fast[key], slow[key], atol=TOL, rtol=0)
        low_f, high_f, _ = percentile_interval(fast[key])
        low_s, high_s, _ = percentile_interval(slow[key])
        np.testing.assert_allclose(low_f, low_s, atol=TOL)
        np.testing.assert_allclose(high_f, high_s, atol=TOL)


def test_results_do_not_depend_on_chunks_or_threads(small):
    y, s, codes, _ = small
    stat = _statistic(y, s, codes)
    a = run_bootstrap(stat, n_rows=len(y), n_boot=50, seed=1, chunk_elements=10**6, workers=1)
    b = run_bootstrap(stat, n_rows=len(y), n_boot=50, seed=1, chunk_elements=500, workers=3)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_counts_sum_to_units_and_clusters_share_counts():
    clusters = np.array([0, 0, 1, 2, 2, 2])
    for counts in resample_counts(n_rows=6, n_boot=7, seed=0, clusters=clusters):
        assert counts.shape[1] == 6
        # Rows of one patient always carry the same count; three patients are drawn.
        assert (counts[:, 0] == counts[:, 1]).all() and (counts[:, 3] == counts[:, 5]).all()
        assert (counts[:, [0, 2, 3]].sum(axis=1) == 3).all()


def test_percentile_interval_skips_undefined_replicates():
    reps = np.array([[1.0, np.nan], [2.0, np.nan], [np.nan, np.nan], [3.0, np.nan]])
    low, high, share = percentile_interval(reps, level=0.5)
    assert low[0] == pytest.approx(1.5) and high[0] == pytest.approx(2.5)
    assert share[0] == pytest.approx(0.25)
    assert np.isnan(low[1]) and share[1] == 1.0


def test_two_sided_p_value():
    # Never below what B replicates can show: 2 * 1 / (B + 1), not 0 (issue 18).
    assert two_sided_p_value(np.array([[0.1], [0.2], [0.3], [0.4]]))[0] == pytest.approx(0.4)
    assert two_sided_p_value(np.array([[-1.0], [1.0], [2.0], [3.0]]))[0] == pytest.approx(0.8)
    many = np.linspace(0.1, 1.0, 999)[:, None]
    assert two_sided_p_value(many)[0] == pytest.approx(2 / 1000)


def test_holm_matches_hand_computation():
    adjusted = holm_adjust(np.array([0.01, 0.04, 0.03, np.nan]))
    # Sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06.
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])
