"""Tests and intervals for a gap across *all* groups of an attribute, the extreme pair included.

A disparity reports ``max - min`` over the eligible groups (equalized odds: the larger of the
TPR and FPR ranges). Testing the two extreme groups as if they had been named in advance
ignores that they were picked *because* they are extreme: with 10 equal groups that inflates
false alarms tenfold. Here the statistic of every test is the reported range itself:

* **Permutation test** (:func:`rate_null_draws`, :func:`unit_null_draws`): the group labels
  are permuted, every group's metric recomputed and the range taken again, so the choice of
  the extreme pair happens inside every null draw. Rates over a stratum (TPR over positives,
  FPR over negatives, selection rate over all rows) are permuted within the stratum, which is
  exact and draws each permutation's group counts from the multivariate hypergeometric law
  (no ``(B, n)`` matrix). With a patient column the *patients* carry their rows and are
  permuted (only when the attribute is constant within each patient).
* **Bootstrap range test** (:func:`centred_range`) where no permutation fits (AUROC, macro
  metrics, attributes that vary within a patient): the range of the bootstrap replicates
  centred on each group's estimate approximates the null law of the range.

The interval of the gap (:func:`range_interval`) is simultaneous over the groups: with ``c``
the ``level`` quantile of the centred range, every pairwise difference lies within ``c`` of its
estimate, so the true range lies in ``[max(0, d - c), d + c]``. Unlike a fixed pair's
interval it accounts for the max/min selection; its lower bound clears 0 when (up to the +1 in
the p-value) the unadjusted bootstrap range test rejects.

p-values are ``(1 + #{T* >= T}) / (B + 1)``: never below ``1 / (B + 1)``.
"""

from __future__ import annotations

import warnings
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Units permuted per chunk of the patient-level permutation (bounds memory).
CHUNK_ELEMENTS: Final = 4_000_000


def permutation_p_value(observed: float, null: FloatArray) -> float | None:
    """``(1 + #{null >= observed}) / (1 + B)`` over defined draws; ``None`` without draws.

    A relative tolerance absorbs float noise, so a draw equal to the observed statistic
    counts as at least as extreme.
    """
    draws = null[np.isfinite(null)]
    if not np.isfinite(observed) or len(draws) == 0:
        return None
    tol = 1e-12 * max(1.0, abs(observed))
    return float((1 + np.count_nonzero(draws >= observed - tol)) / (1 + len(draws)))


def row_range(values: FloatArray) -> FloatArray:
    """``nanmax - nanmin`` along axis 1 (NaN where a row has no defined value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out: FloatArray = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    return out


def rate_null_draws(
    *, successes: FloatArray, trials: FloatArray, n_perm: int, rng: np.random.Generator
) -> FloatArray:
    """Per-group rates under random permutation of group labels within the stratum.

    ``successes`` and ``trials`` are the groups' counts in the stratum (e.g. true positives
    and positives for TPR); only groups with trials take part (others are NaN). Returns an
    ``(n_perm, G)`` array.
    """
    trials_i = np.rint(trials).astype(np.int64)
    out = np.full((n_perm, len(trials_i)), np.nan)
    present = np.flatnonzero(trials_i > 0)
    if len(present) < 2 or n_perm == 0:
        return out
    total = int(np.rint(successes[present].sum()))
    drawn = rng.multivariate_hypergeometric(trials_i[present], total, size=n_perm)
    out[:, present] = drawn / trials_i[present]
    return out


def unit_null_draws(
    *,
    labels: IntArray,
    numerators: dict[str, FloatArray],
    denominators: dict[str, FloatArray],
    n_groups: int,
    n_perm: int,
    rng: np.random.Generator,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> dict[str, FloatArray]:
    """Per-group ratios of sums under random permutation of the units' group labels.

    A *unit* is a patient (or a row) with a group label and, per metric, a numerator and a
    denominator (e.g. its true positives and positives); permuting labels moves each unit
    with all its rows. Returns ``{metric: (n_perm, n_groups)}`` with NaN where a group drew
    no denominator.
    """
    n_units = len(labels)
    per_chunk = max(1, min(max(n_perm, 1), chunk_elements // max(n_units, 1)))
    parts: dict[str, list[FloatArray]] = {m: [] for m in numerators}
    done = 0
    while done < n_perm:
        b = min(per_chunk, n_perm - done)
        perm = rng.permuted(np.broadcast_to(labels, (b, n_units)), axis=1)
        flat = (perm + (np.arange(b, dtype=np.int64) * n_groups)[:, None]).ravel()
        for metric, num in numerators.items():
            top = np.bincount(flat, weights=np.tile(num, b), minlength=b * n_groups)
            bottom = np.bincount(
                flat, weights=np.tile(denominators[metric], b), minlength=b * n_groups
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)
            parts[metric].append(ratio.reshape(b, n_groups))
        done += b
    return {
        m: np.concatenate(p, axis=0) if p else np.empty((0, n_groups)) for m, p in parts.items()
    }


def centred_range(
    replicates: FloatArray, point: FloatArray, groups: IntArray, *, log: bool = False
) -> FloatArray:
    """Range over ``groups`` of the replicates centred on each group's estimate, per replicate.

    With ``log`` the centring is on the log scale (for ratios). NaN replicates are ignored;
    a replicate with fewer than two defined groups gives NaN.
    """
    reps = replicates[:, groups]
    est = point[groups]
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = np.log(reps) - np.log(est) if log else reps - est
    centred = np.where(np.isfinite(centred), centred, np.nan)
    enough = np.count_nonzero(~np.isnan(centred), axis=1) >= 2
    return np.where(enough, row_range(centred), np.nan)


def range_interval(
    observed: float, centred: FloatArray, *, level: float
) -> tuple[float | None, float | None]:
    """Simultaneous interval ``[max(0, d - c), d + c]`` of a range ``d`` (see module doc)."""
    draws = centred[np.isfinite(centred)]
    if not np.isfinite(observed) or len(draws) == 0:
        return None, None
    c = float(np.quantile(draws, level))
    return max(0.0, observed - c), observed + c


def ratio_interval(
    log_range: float, centred_log: FloatArray, *, level: float
) -> tuple[float | None, float | None]:
    """Interval of ``min / max`` from the simultaneous interval of the log-scale range."""
    low, high = range_interval(log_range, centred_log, level=level)
    if low is None or high is None:
        return None, None
    return float(np.exp(-high)), float(min(1.0, np.exp(-low)))


def benjamini_hochberg(p_values: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (NaN entries are not tested and stay NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    tested = np.flatnonzero(~np.isnan(p))
    adjusted = np.full_like(p, np.nan)
    m = len(tested)
    if m == 0:
        return adjusted
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return adjusted
