"""Seeded, vectorised bootstrap: resampling counts as an integer weight matrix, in chunks.

A replicate is a vector of resampling counts over the input rows. Drawing the replicates of a
chunk at once (``rng.integers(0, n_units, size=(b, n_units))``) consumes the generator stream
exactly like ``b`` successive draws of ``rng.integers(0, n_units, size=n_units)``, so a plain
``for`` loop over resamples with the same seed reproduces these replicates one for one (the
tests rely on this). When a patient column is given the *patients* are resampled (cluster
bootstrap): every row of a drawn patient gets that patient's count.

Intervals are percentile intervals over the replicates (BCa, :func:`bca_interval`, for
metrics whose percentile interval is biased, such as ECE and AUROC); a replicate in which a
metric is undefined (e.g. no positives drawn in a small group) is left out of that metric's
interval and the share of such replicates is reported by :func:`percentile_interval`.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Elements of one chunk's weight matrix; bounds memory (a few tens of MB per array).
CHUNK_ELEMENTS: Final = 2_000_000


def resample_counts(
    *,
    n_rows: int,
    n_boot: int,
    seed: int,
    clusters: IntArray | None = None,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> Iterator[npt.NDArray[np.int32]]:
    """Yield ``(b, n_rows)`` resampling-count matrices, ``n_boot`` rows in all.

    Parameters
    ----------
    n_rows
        Number of input rows.
    n_boot
        Number of bootstrap replicates.
    seed
        Seed of the ``numpy.random.Generator`` (PCG64) drawing the resamples.
    clusters
        Optional cluster (patient) code per row, ``0 <= code < n_clusters``; clusters are
        resampled with replacement and each row inherits its cluster's count.
    chunk_elements
        Approximate size of one chunk (replicates times units).
    """
    rng = np.random.default_rng(seed)
    n_units = n_rows if clusters is None else int(clusters.max()) + 1 if len(clusters) else 0
    per_chunk = max(1, min(n_boot, chunk_elements // max(n_units, 1)))
    done = 0
    while done < n_boot:
        b = min(per_chunk, n_boot - done)
        draws = rng.integers(0, n_units, size=(b, n_units))
        offsets = (np.arange(b, dtype=np.int64) * n_units)[:, None]
        flat = np.bincount((draws + offsets).ravel(), minlength=b * n_units)
        counts: npt.NDArray[np.int32] = flat.reshape(b, n_units).astype(np.int32)
        yield counts if clusters is None else np.take(counts, clusters, axis=1)
        done += b


def default_workers() -> int:
    """Threads for the bootstrap: numpy releases the GIL in the kernels, so 2 cores give ~2x."""
    return max(1, min(4, os.cpu_count() or 1))


def run_bootstrap(
    statistic: Callable[[npt.NDArray[np.int32]], dict[str, FloatArray]],
    *,
    n_rows: int,
    n_boot: int,
    seed: int,
    clusters: IntArray | None = None,
    chunk_elements: int = CHUNK_ELEMENTS,
    workers: int | None = None,
) -> dict[str, FloatArray]:
    """Evaluate ``statistic(weights)`` over all replicates and stack the results.

    ``statistic`` maps a ``(b, n_rows)`` count matrix to arrays whose first axis is ``b``;
    the result has the same keys with first axis ``n_boot``. Counts are drawn in order in the
    calling thread (so results do not depend on ``workers``); chunks are evaluated on up to
    ``workers`` threads with at most two chunks per thread in flight, bounding memory.
    """
    workers = default_workers() if workers is None else max(1, workers)
    parts: dict[str, list[FloatArray]] = {}

    def collect(result: dict[str, FloatArray]) -> None:
        for key, value in result.items():
            parts.setdefault(key, []).append(value)

    chunks = resample_counts(
        n_rows=n_rows,
        n_boot=n_boot,
        seed=seed,
        clusters=clusters,
        chunk_elements=chunk_elements,
    )
    if workers == 1:
        for weights in chunks:
            collect(statistic(weights))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[Future[dict[str, FloatArray]]] = deque()
            for weights in chunks:
                pending.append(pool.submit(statistic, weights))
                if len(pending) >= 2 * workers:
                    collect(pending.popleft().result())
            while pending:
                collect(pending.popleft().result())
    return {key: np.concatenate(chunks_, axis=0) for key, chunks_ in parts.items()}


def percentile_interval(
    replicates: FloatArray, *, level: float = 0.95
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Percentile interval over axis 0, ignoring NaN replicates.

    Returns ``(low, high, undefined_share)``; bounds are NaN where no replicate is defined.
    """
    alpha = (1.0 - level) / 2.0
    defined = ~np.isnan(replicates)
    share = 1.0 - defined.mean(axis=0)
    with warnings.catch_warnings():
        # An all-NaN column (metric never defined) is expected and gives NaN bounds.
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanquantile(replicates, alpha, axis=0)
        high = np.nanquantile(replicates, 1.0 - alpha, axis=0)
    return low, high, np.asarray(share, dtype=np.float64)


def two_sided_p_value(replicates: FloatArray, *, null: float = 0.0) -> FloatArray:
    """Bootstrap p-value of ``H0: statistic == null`` from the replicates' sign balance.

    ``p = min(1, 2 * min(1 + #(d <= null), 1 + #(d >= null)) / (B + 1))`` over the ``B``
    defined replicates: it inverts the percentile interval (``p < alpha`` when, up to ties at
    ``null``, the ``1 - alpha`` interval excludes ``null``) and, like a permutation p-value,
    is never below ``1 / (B + 1)``: B replicates cannot show a smaller one. NaN where no
    replicate is defined.
    """
    defined = ~np.isnan(replicates)
    count = defined.sum(axis=0)
    le = np.where(defined, replicates <= null, False).sum(axis=0)
    ge = np.where(defined, replicates >= null, False).sum(axis=0)
    p = np.minimum(1.0, 2.0 * (np.minimum(le, ge) + 1) / (count + 1))
    return np.where(count > 0, p, np.nan)


def jackknife_weights(
    *, n_rows: int, seed: int, clusters: IntArray | None = None, blocks: int = 20
) -> npt.NDArray[np.int32]:
    """``(blocks, n_rows)`` 0/1 weights of a grouped (delete-a-block) jackknife.

    Units (rows, or patients when ``clusters`` is given) are shuffled with ``seed`` and dealt
    into ``blocks`` blocks; row ``k`` of the result leaves block ``k`` out. Twenty blocks give
    the BCa acceleration at the cost of twenty extra statistic evaluations, not ``n``.
    """
    n_units = n_rows if clusters is None else int(clusters.max()) + 1 if len(clusters) else 0
    blocks = max(2, min(blocks, n_units)) if n_units >= 2 else 1
    block_of_unit = np.random.default_rng(seed).permutation(n_units) % blocks
    block_of_row = block_of_unit if clusters is None else block_of_unit[clusters]
    weights = np.ones((blocks, n_rows), dtype=np.int32)
    weights[block_of_row, np.arange(n_rows)] = 0
    return weights


def _quantiles_per_column(replicates: FloatArray, probs: FloatArray) -> FloatArray:
    """Column ``j``'s quantile at ``probs[j]`` ignoring NaN (linear interpolation), vectorised."""
    ordered = np.sort(replicates, axis=0)  # NaN last
    count = np.count_nonzero(~np.isnan(replicates), axis=0)
    position = np.clip(probs, 0.0, 1.0) * np.maximum(count - 1, 0)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    cols = np.arange(replicates.shape[1])
    low_v = ordered[np.minimum(below, len(ordered) - 1), cols]
    high_v = ordered[np.minimum(above, len(ordered) - 1), cols]
    out: FloatArray = np.where(count > 0, low_v + (position - below) * (high_v - low_v), np.nan)
    return out


def bca_interval(
    replicates: FloatArray, point: FloatArray, jackknife: FloatArray, *, level: float = 0.95
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Bias-corrected and accelerated (BCa) interval per column, NaN replicates ignored.

    ``z0`` is the normal quantile of the share of replicates below the estimate (ties count
    half, clipped to ``[1/(B+1), B/(B+1)]``); the acceleration comes from the grouped
    jackknife values ``jackknife`` (``(K, G)``, see :func:`jackknife_weights`). Where the
    bias is so large that even BCa leaves out the estimate (every replicate on one side, as
    for ECE on large, well-calibrated data: resampling only adds miscalibration), the
    percentile interval shifted by the bootstrap bias (mean replicate minus estimate) is
    used, widened to the estimate if needed. Returns ``(low, high, shifted)``.
    """
    from scipy.special import ndtr, ndtri

    defined = ~np.isnan(replicates)
    count = defined.sum(axis=0)
    below = np.where(defined, replicates < point, False).sum(axis=0)
    ties = np.where(defined, replicates == point, False).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: undefined metric
        share = (below + 0.5 * ties) / count
        share = np.clip(share, 1.0 / (count + 1), count / (count + 1.0))
        z0 = ndtri(share)
        jack_mean = np.nanmean(jackknife, axis=0) if len(jackknife) else np.full_like(point, np.nan)
        d = jack_mean - jackknife
        num = np.nansum(d**3, axis=0)
        den = 6.0 * np.nansum(d**2, axis=0) ** 1.5
        accel = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        z = ndtri(np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0]))
        probs = [ndtr(z0 + (z0 + zi) / (1.0 - accel * (z0 + zi))) for zi in z]
    low = _quantiles_per_column(replicates, np.nan_to_num(probs[0], nan=0.0))
    high = _quantiles_per_column(replicates, np.nan_to_num(probs[1], nan=1.0))
    missed = (point < low) | (point > high)
    if missed.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            bias = np.nanmean(replicates, axis=0) - point
            p_low, p_high, _ = percentile_interval(replicates, level=level)
        low = np.where(missed, np.minimum(p_low - bias, point), low)
        high = np.where(missed, np.maximum(p_high - bias, point), high)
    return low, high, missed


def holm_adjust(p_values: FloatArray) -> FloatArray:
    """Holm step-down adjusted p-values (NaN entries are not tested and stay NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    tested = np.flatnonzero(~np.isnan(p))
    adjusted = np.full_like(p, np.nan)
    if len(tested) == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted
