"""Vectorised metric kernels: every metric of every group from weighted segment sums.

One kernel serves both the point estimate (all weights 1) and the bootstrap (a ``(B, n)``
matrix of integer resampling counts), so a bootstrap replicate is computed exactly like the
estimate it perturbs. Rows are put once in *layout order* (sorted by group, then by score);
every group, every ECE bin within a group and every block of tied scores is then a contiguous
slice, so each sum is one ``np.add.reduceat`` and AUROC is a weighted rank sum over one
cumulative sum of negative weights.

Definitions (also documented in ``auditkit/schema/results.schema.json``):

* A score equal to the threshold counts as positive (``score >= threshold``).
* ECE: 10 equal-width bins on [0, 1], bin = ``min(floor(10 * score), 9)``; the weighted mean,
  over non-empty bins, of ``|mean score - positive rate|`` with weights ``bin count / n``.
* AUROC: probability that a random positive scores above a random negative, ties counting 1/2
  (the Mann-Whitney statistic; equal to ``sklearn.metrics.roc_auc_score``).
* Brier: mean of ``(score - label) ** 2``.

A metric whose denominator is zero is NaN here; :mod:`auditkit.evaluate.audit` turns it into
``null`` with a reason, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

N_ECE_BINS: Final = 10

#: Binary metrics computed per group, in this order.
BINARY_METRICS: Final[tuple[str, ...]] = (
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
    "tpr_at_fixed_specificity",
)

#: Metrics that are proportions of counts (Wilson intervals apply): numerator, denominator.
PROPORTIONS: Final[dict[str, tuple[str, str]]] = {
    "prevalence": ("pos", "n"),
    "selection_rate": ("pp", "n"),
    "tpr": ("tp", "pos"),
    "fpr": ("fp", "neg"),
    "tnr": ("tn", "neg"),
    "ppv": ("tp", "pp"),
    "npv": ("tn", "pn"),
    "accuracy": ("correct", "n"),
    "tpr_at_fixed_specificity": ("tp_spec", "pos"),
}


def ece_bin(score: FloatArray) -> IntArray:
    """ECE bin of each score: ``min(floor(10 * score), 9)``, so a score of 1.0 lands in bin 9."""
    return np.minimum(np.floor(score * N_ECE_BINS), N_ECE_BINS - 1).astype(np.int64)


def _starts(*keys: npt.NDArray[np.generic]) -> IntArray:
    """Indices where any of the (already sorted) key arrays changes value, starting at 0."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change).astype(np.int64)


@dataclass(frozen=True)
class BinaryLayout:
    """Rows of a binary problem in layout order (group, then score), with precomputed slices.

    Build it with :func:`binary_layout`. ``perm`` maps layout position to input row, so a weight
    matrix over input rows is put in layout order by ``weights[:, perm]``. ``pred_cut`` /
    ``spec_cut`` hold, per group, the first layout position predicted positive when the
    prediction is a score threshold (positives then form the tail of each group's slice, and
    their counts are two look-ups in a cumulative sum); ``None`` for other rules (argmax).
    """

    perm: IntArray
    n_groups: int
    group_starts: IntArray
    group_ends: IntArray
    y: npt.NDArray[np.int32]
    score: FloatArray
    pred: npt.NDArray[np.int32]
    pred_spec: npt.NDArray[np.int32]
    pred_cut: IntArray | None
    spec_cut: IntArray | None
    float_matrix: Any
    bin_starts: IntArray
    bin_ends: IntArray
    group_first_bin: IntArray
    pos_idx: IntArray
    pos_group_bounds: IntArray
    pos_block_start: IntArray
    pos_block_end: IntArray


def _tail_cuts(flags: npt.NDArray[np.int32], starts: IntArray, ends: IntArray) -> IntArray | None:
    """Per group, the start of its run of 1s if the flags are 0...0 1...1 inside it, else None."""
    drops = np.diff(flags) < 0
    drops[starts[1:] - 1] = False  # a drop across a group boundary is fine
    if drops.any():
        return None
    zeros = np.concatenate(([0], np.cumsum(1 - flags)))
    cuts: IntArray = (starts + (zeros[ends] - zeros[starts])).astype(np.int64)
    return cuts


def binary_layout(
    *,
    codes: IntArray,
    n_groups: int,
    y: npt.NDArray[np.integer],
    score: FloatArray,
    pred: npt.NDArray[np.bool_],
    pred_spec: npt.NDArray[np.bool_],
) -> BinaryLayout:
    """Sort rows by (group code, score) and precompute every contiguous slice the kernel needs.

    Parameters
    ----------
    codes
        Group code of each row, ``0 <= code < n_groups``; every group must have a row.
    n_groups
        Number of groups.
    y
        Binary labels (0/1).
    score
        Scores in [0, 1] (probability of class 1).
    pred
        Predicted positive at the operating threshold (any binary array, e.g. an argmax rule).
    pred_spec
        Predicted positive at the threshold of the fixed global specificity.
    """
    perm = np.lexsort((score, codes)).astype(np.int64)
    c = codes[perm]
    s = score[perm].astype(np.float64)
    yy = y[perm].astype(np.int32)
    n = len(s)
    group_starts = _starts(c)
    if len(group_starts) != n_groups:
        raise ValueError("every group needs at least one row")
    group_ends = np.append(group_starts[1:], n).astype(np.int64)
    bin_starts = _starts(c, ece_bin(s))
    block_starts = _starts(c, s)
    # Per row: start and end of its block of tied scores.
    block_id = np.searchsorted(block_starts, np.arange(n), side="right") - 1
    block_end = np.append(block_starts[1:], n)
    pos_idx = np.flatnonzero(yy == 1).astype(np.int64)
    pos_group_bounds = np.searchsorted(c[pos_idx], np.arange(n_groups + 1), side="left")
    p = pred[perm].astype(np.int32)
    ps = pred_spec[perm].astype(np.int32)
    return BinaryLayout(
        perm=perm,
        n_groups=n_groups,
        group_starts=group_starts,
        group_ends=group_ends,
        y=yy,
        score=s,
        pred=p,
        pred_spec=ps,
        pred_cut=_tail_cuts(p, group_starts, group_ends),
        spec_cut=_tail_cuts(ps, group_starts, group_ends),
        float_matrix=_float_matrix(perm, s, yy, bin_starts, group_starts),
        bin_starts=bin_starts,
        bin_ends=np.append(bin_starts[1:], n).astype(np.int64),
        group_first_bin=np.searchsorted(c[bin_starts], np.arange(n_groups)).astype(np.int64),
        pos_idx=pos_idx,
        pos_group_bounds=pos_group_bounds.astype(np.int64),
        pos_block_start=block_starts[block_id[pos_idx]].astype(np.int64),
        pos_block_end=block_end[block_id[pos_idx]].astype(np.int64),
    )


def _float_matrix(
    perm: IntArray, s: FloatArray, y: npt.NDArray[np.int32], bin_starts: IntArray, gs: IntArray
) -> Any:
    """Sparse ``(n_bins + n_groups, n)`` matrix over *input* rows: one product with the weights
    gives every (group, bin) sum of scores and every group's sum of squared errors."""
    from scipy import sparse

    n = len(s)
    positions = np.arange(n)
    bin_row = np.searchsorted(bin_starts, positions, side="right") - 1
    group_row = len(bin_starts) + np.searchsorted(gs, positions, side="right") - 1
    rows = np.concatenate([bin_row, group_row])
    cols = np.concatenate([perm, perm])
    values = np.concatenate([s, (s - y) ** 2])
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(bin_starts) + len(gs), n))


def _cumulative(values: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Row-wise cumulative sums with a leading 0 column: slice sums are two look-ups."""
    # cumsum into a contiguous array first: writing straight into the strided padded view
    # takes numpy's slow path (several times slower).
    cum = np.cumsum(values, axis=1, dtype=np.int32)
    out = np.empty((values.shape[0], values.shape[1] + 1), dtype=np.int32)
    out[:, 0] = 0
    out[:, 1:] = cum
    return out


def binary_sums(
    layout: BinaryLayout,
    weights: npt.NDArray[np.integer],
    *,
    float_sums: tuple[FloatArray, FloatArray] | None = None,
) -> dict[str, FloatArray]:
    """Weighted per-group sums for a batch of weight vectors.

    Parameters
    ----------
    layout
        The rows in layout order.
    weights
        ``(b, n)`` non-negative integer weights over the *input* rows (resampling counts; ones
        for the point estimate). Counts are summed in int32: fine while a replicate's total
        weight stays below 2**31 (a bootstrap replicate's total is about n).
    float_sums
        ``(brier_sum, ece_sum)`` already computed for these weights (e.g. once for several
        groupings by :func:`auditkit.metrics.replicates.binary_statistic`); computed here if
        omitted.

    Returns
    -------
    dict
        Arrays of shape ``(b, n_groups)``: ``n, pos, pp, tp, tp_spec, pp_spec, brier_sum,
        ece_sum, auc_num2`` (twice the Mann-Whitney numerator, exact in integers).
    """
    w = np.take(weights.astype(np.int32, copy=False), layout.perm, axis=1)
    wy = w * layout.y
    cw = _cumulative(w)
    cy = _cumulative(wy)
    gs, ge = layout.group_starts, layout.group_ends

    def between(cum: npt.NDArray[np.int32], lo: IntArray, hi: IntArray) -> FloatArray:
        return (cum[:, hi] - cum[:, lo]).astype(np.float64)

    sums: dict[str, FloatArray] = {"n": between(cw, gs, ge), "pos": between(cy, gs, ge)}
    for key, cut, flags in (
        ("", layout.pred_cut, layout.pred),
        ("_spec", layout.spec_cut, layout.pred_spec),
    ):
        if cut is not None:
            sums["pp" + key] = between(cw, cut, ge)
            sums["tp" + key] = between(cy, cut, ge)
        else:
            sums["pp" + key] = np.add.reduceat(w * flags, gs, axis=1).astype(np.float64)
            sums["tp" + key] = np.add.reduceat(wy * flags, gs, axis=1).astype(np.float64)
    if float_sums is not None:
        sums["brier_sum"], sums["ece_sum"] = float_sums
    else:
        # Float sums in one sparse product over input rows: scores per (group, bin), squared
        # errors per group.
        n_bins = len(layout.bin_starts)
        products = np.asarray((layout.float_matrix @ weights.T).T)
        sums["brier_sum"] = np.ascontiguousarray(products[:, n_bins:])
        # ECE: per (group, bin) |sum of scores - sum of labels|, summed over the group's bins.
        gaps = np.abs(products[:, :n_bins] - between(cy, layout.bin_starts, layout.bin_ends))
        sums["ece_sum"] = np.add.reduceat(gaps, layout.group_first_bin, axis=1)
    # AUROC: sum_i wy_i * (2 * below_i + tied_i) over positives i, with below_i the negative
    # weight under i's block of tied scores within its group (neg[block start] - neg[group
    # start]) and tied_i the negative weight inside the block (neg[block end] - neg[block
    # start]). The group-start term is one product per group, subtracted after the sums.
    neg = cw - cy
    pos = layout.pos_idx
    contrib = np.take(wy, pos, axis=1) * (
        np.take(neg, layout.pos_block_start, axis=1) + np.take(neg, layout.pos_block_end, axis=1)
    )
    bounds = layout.pos_group_bounds
    per_group = np.zeros((w.shape[0], layout.n_groups), dtype=np.int64)
    has_pos = np.flatnonzero(bounds[1:] > bounds[:-1])
    if len(has_pos):
        per_group[:, has_pos] = np.add.reduceat(contrib, bounds[has_pos], axis=1, dtype=np.int64)
    start_term = 2 * neg[:, gs].astype(np.int64) * (cy[:, ge] - cy[:, gs])
    sums["auc_num2"] = (per_group - start_term).astype(np.float64)
    return sums


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def binary_metrics(sums: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """Metric arrays from :func:`binary_sums` output; undefined values are NaN, never 0."""
    n, pos, pp, tp = sums["n"], sums["pos"], sums["pp"], sums["tp"]
    neg = n - pos
    fp = pp - tp
    tn = neg - fp
    pn = n - pp
    tpr = _ratio(tp, pos)
    tnr = _ratio(tn, neg)
    return {
        "n_pos": pos,
        "n_neg": neg,
        "prevalence": _ratio(pos, n),
        "selection_rate": _ratio(pp, n),
        "auroc": _ratio(sums["auc_num2"], 2.0 * pos * neg),
        "tpr": tpr,
        "fpr": _ratio(fp, neg),
        "tnr": tnr,
        "ppv": _ratio(tp, pp),
        "npv": _ratio(tn, pn),
        "accuracy": _ratio(tp + tn, n),
        "balanced_accuracy": (tpr + tnr) / 2.0,
        "brier": _ratio(sums["brier_sum"], n),
        "ece": _ratio(sums["ece_sum"], n),
        "tpr_at_fixed_specificity": _ratio(sums["tp_spec"], pos),
    }


def proportion_counts(sums: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """Numerators and denominators named in :data:`PROPORTIONS` (for Wilson intervals)."""
    n, pos, pp, tp = sums["n"], sums["pos"], sums["pp"], sums["tp"]
    neg = n - pos
    fp = pp - tp
    return {
        "n": n,
        "pos": pos,
        "neg": neg,
        "pp": pp,
        "pn": n - pp,
        "tp": tp,
        "fp": fp,
        "tn": neg - fp,
        "correct": tp + neg - fp,
        "tp_spec": sums["tp_spec"],
    }


def wilson_interval(
    successes: FloatArray, total: FloatArray, *, z: float = 1.959963984540054
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval for a binomial proportion (rows treated as independent).

    Returns NaN bounds where ``total`` is 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / total
        z2 = z * z
        denom = 1.0 + z2 / total
        centre = (p + z2 / (2.0 * total)) / denom
        half = z * np.sqrt(p * (1.0 - p) / total + z2 / (4.0 * total * total)) / denom
    low = np.where(total > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(total > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def mean_sums(
    *,
    codes: IntArray,
    n_groups: int,
    values: FloatArray,
    weights: npt.NDArray[np.integer],
) -> tuple[FloatArray, FloatArray]:
    """Weighted per-group ``(sum of weights, sum of weight * value)`` ignoring NaN values.

    ``weights`` is ``(b, n)`` over input rows; returns two ``(b, n_groups)`` arrays. Used for
    regression (absolute and signed errors) and segmentation (per-case Dice, HD95).
    """
    ok = ~np.isnan(values)
    onehot = np.zeros((len(values), n_groups))
    onehot[np.flatnonzero(ok), codes[ok]] = 1.0
    w = weights.astype(np.float64)
    count = w @ onehot
    total = w @ (onehot * np.where(ok, values, 0.0)[:, None])
    return count, total


def threshold_youden(y: npt.NDArray[np.integer], score: FloatArray) -> float:
    """Threshold maximising ``TPR - FPR`` (score >= threshold is positive); ties: highest."""
    order = np.argsort(-score, kind="stable")
    s = score[order]
    yy = y[order]
    last = np.append(s[1:] != s[:-1], True)
    tp = np.cumsum(yy)[last]
    fp = np.cumsum(1 - yy)[last]
    n_pos, n_neg = max(int(yy.sum()), 1), max(int((1 - yy).sum()), 1)
    j = tp / n_pos - fp / n_neg
    return float(s[last][int(np.argmax(j))])


def threshold_for_specificity(
    y: npt.NDArray[np.integer], score: FloatArray, specificity: float
) -> float:
    """Lowest observed score ``t`` with ``mean(score[y == 0] < t) >= specificity``.

    The lowest such threshold gives the highest TPR at that specificity. When no observed
    score is high enough the next float above the top negative score is returned.
    """
    neg = np.sort(score[y == 0])
    if len(neg) == 0:
        raise ValueError("no negative cases")
    k = int(np.ceil(specificity * len(neg) - 1e-12))
    if k <= 0:
        return float(np.min(score))
    cut = neg[k - 1]
    above = score[score > cut]
    return float(np.min(above)) if len(above) else float(np.nextafter(cut, np.inf))
