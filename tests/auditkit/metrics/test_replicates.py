"""Per-replicate statistics: shared cell sums equal the per-grouping kernel."""

from __future__ import annotations

import numpy as np

from auditkit.metrics.replicates import binary_statistic, cell_sums


def _groupings(rng, n):
    a = rng.integers(0, 3, n)
    b = rng.integers(0, 4, n)
    crossed = np.unique(a * 4 + b, return_inverse=True)[1].reshape(-1)
    return [
        (np.zeros(n, dtype=np.int64), 1),
        (a.astype(np.int64), 3),
        (b.astype(np.int64), 4),
        (crossed.astype(np.int64), int(crossed.max()) + 1),
    ]


def test_shared_cell_sums_equal_per_grouping_sums():
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.25), 0, 1).round(3)
    groupings = _groupings(rng, n)
    assert cell_sums(groupings, y=y, score=s) is not None
    weights = rng.integers(0, 3, (7, n))
    kwargs = {"y": y, "score": s, "threshold": 0.5, "spec_threshold": 0.7}
    shared = binary_statistic(groupings, share_float_sums=True, **kwargs)(weights)
    alone = binary_statistic(groupings, share_float_sums=False, **kwargs)(weights)
    assert shared.keys() == alone.keys()
    for key in shared:
        np.testing.assert_allclose(shared[key], alone[key], rtol=1e-12, atol=1e-12)


def test_too_many_cells_fall_back():
    rng = np.random.default_rng(1)
    n = 100
    groupings = [(np.arange(n, dtype=np.int64), n), (np.zeros(n, dtype=np.int64), 1)]
    y = rng.integers(0, 2, n)
    assert cell_sums(groupings, y=y, score=rng.random(n)) is None
