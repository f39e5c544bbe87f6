"""Disparities across the groups of one attribute: omnibus tests, selection-aware CIs, Holm.

Only groups with status ``ok`` take part, and in each metric only those where it is defined (an
all-negative group counts in FPR and selection rate, not in TPR or AUROC). A *difference* is
``max - min`` over those groups (equalized odds: the larger of the TPR and FPR ranges). Its test
is an omnibus test of "all groups equal" whose statistic is that range itself
(:mod:`auditkit.metrics.omnibus`): a permutation test of the group labels where one fits
(``null_draws``), else the bootstrap range test; either way choosing the extreme pair is inside
the null distribution. Its interval is the simultaneous interval of the range, so it is never
below 0 and accounts for the max/min selection. :func:`holm_flags` then corrects all difference
tests of a run together (Holm, or Benjamini-Hochberg as an option). A *ratio* (``min / max``)
gets the interval of the log-scale range and shares the flag of the matching difference (one
hypothesis, one test). *Worst group* values get the percentile CI of that group, no test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from auditkit.metrics.bootstrap import holm_adjust, percentile_interval, two_sided_p_value
from auditkit.metrics.omnibus import (
    benjamini_hochberg,
    centred_range,
    permutation_p_value,
    range_interval,
    ratio_interval,
    row_range,
)
from auditkit.optional import import_optional
from auditkit.results import DisparityEntry, PairwiseEntry

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Adjustment = Literal["holm", "bh"]

Kind = Literal["difference", "ratio", "worst_min", "worst_max", "max_difference"]


@dataclass(frozen=True)
class DisparitySpec:
    """One disparity metric: its name, kind and the per-group metric(s) it summarises."""

    name: str
    kind: Kind
    metrics: tuple[str, ...]
    test_of: str | None = None  # a ratio shares the Holm flag of this difference


BINARY_SPECS: Final[tuple[DisparitySpec, ...]] = (
    DisparitySpec("demographic_parity_difference", "difference", ("selection_rate",)),
    DisparitySpec(
        "demographic_parity_ratio",
        "ratio",
        ("selection_rate",),
        test_of="demographic_parity_difference",
    ),
    DisparitySpec("equalized_odds_difference", "max_difference", ("tpr", "fpr")),
    DisparitySpec("equal_opportunity_difference", "difference", ("tpr",)),
    DisparitySpec("auroc_difference", "difference", ("auroc",)),
    DisparitySpec("worst_group_auroc", "worst_min", ("auroc",)),
    DisparitySpec("worst_group_tpr", "worst_min", ("tpr",)),
)

MULTICLASS_SPECS: Final[tuple[DisparitySpec, ...]] = (
    DisparitySpec("equalized_odds_difference", "max_difference", ("macro_tpr", "macro_fpr")),
    DisparitySpec("equal_opportunity_difference", "difference", ("macro_tpr",)),
    DisparitySpec("auroc_difference", "difference", ("macro_auroc",)),
    DisparitySpec("accuracy_difference", "difference", ("accuracy",)),
    DisparitySpec("worst_group_auroc", "worst_min", ("macro_auroc",)),
    DisparitySpec("worst_group_tpr", "worst_min", ("macro_tpr",)),
)

REGRESSION_SPECS: Final[tuple[DisparitySpec, ...]] = (
    DisparitySpec("mae_difference", "difference", ("mae",)),
    DisparitySpec("bias_difference", "difference", ("bias",)),
    DisparitySpec("worst_group_mae", "worst_max", ("mae",)),
)

SEGMENTATION_SPECS: Final[tuple[DisparitySpec, ...]] = (
    DisparitySpec("dice_difference", "difference", ("dice",)),
    DisparitySpec("hd95_difference", "difference", ("hd95",)),
    DisparitySpec("worst_group_dice", "worst_min", ("dice",)),
    DisparitySpec("worst_group_hd95", "worst_max", ("hd95",)),
)

#: Disparity -> the difference whose Holm flag it shares (one hypothesis, one test).
SHARED_TESTS: Final[dict[str, str]] = {
    spec.name: spec.test_of
    for specs in (BINARY_SPECS, MULTICLASS_SPECS, REGRESSION_SPECS, SEGMENTATION_SPECS)
    for spec in specs
    if spec.test_of is not None
}

REASON_FEW_GROUPS: Final = "fewer than two groups with status ok and a defined value"


def _none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _eligible(point: dict[str, FloatArray], usable: npt.NDArray[np.bool_], metric: str) -> IntArray:
    """Groups where ``metric`` takes part: status ok and the metric defined for the group."""
    return np.flatnonzero(usable & np.isfinite(point[metric])).astype(np.int64)


def _null_range(
    spec: DisparitySpec,
    eligible: dict[str, IntArray],
    null_draws: Mapping[str, FloatArray] | None,
) -> FloatArray | None:
    """The permutation law of the reported range, or ``None`` where a metric has no draws."""
    if null_draws is None or any(m not in null_draws for m in eligible):
        return None
    ranges = [row_range(null_draws[m][:, idx]) for m, idx in eligible.items()]
    return np.fmax.reduce(ranges) if len(ranges) > 1 else ranges[0]


def compute_disparity(
    spec: DisparitySpec,
    *,
    attribute: str,
    names: list[str],
    usable: npt.NDArray[np.bool_],
    point: dict[str, FloatArray],
    replicates: dict[str, FloatArray],
    ci_level: float = 0.95,
    fairlearn_values: dict[str, float] | None = None,
    null_draws: Mapping[str, FloatArray] | None = None,
) -> DisparityEntry:
    """One disparity entry of RESULTS.json (plus ``p_value``, adjusted later by :func:`holm_flags`).

    Parameters
    ----------
    spec
        The disparity.
    attribute
        Attribute (or intersection) name.
    names
        Group names, aligned with the metric arrays.
    usable
        Groups with status ``ok``; a group takes part in a metric where that metric is
        defined for it (an all-negative group in FPR and selection rate, not in TPR).
    point
        Per-group metric values, ``(G,)`` arrays.
    replicates
        Per-group bootstrap replicates, ``(B, G)`` arrays (``B`` may be 0).
    ci_level
        Interval level.
    fairlearn_values
        Point values computed by fairlearn's ``MetricFrame`` for this attribute; used for the
        value when present (they equal ours on usable groups; the tests check both).
    null_draws
        Per metric, ``(P, G)`` group values under permutation of the group labels
        (:mod:`auditkit.metrics.omnibus`); without them the test is the bootstrap range test.
    """
    entry: DisparityEntry = {
        "attribute": attribute,
        "metric": spec.name,
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "significant_holm": None,
        "groups_used": [],
        "p_value": None,
    }
    eligible = {m: _eligible(point, usable, m) for m in spec.metrics}
    used = sorted(set().union(*(set(idx.tolist()) for idx in eligible.values())))
    entry["groups_used"] = [names[i] for i in used]
    candidates: list[tuple[float, int, int, str]] = []
    for metric, idx in eligible.items():
        if len(idx) < 2:
            continue
        values = point[metric]
        hi = int(idx[np.argmax(values[idx])])
        lo = int(idx[np.argmin(values[idx])])
        candidates.append((float(values[hi] - values[lo]), hi, lo, metric))
    if not candidates:
        entry["reason"] = REASON_FEW_GROUPS
        return entry
    gap, hi, lo, metric = max(candidates, key=lambda c: c[0])
    eligible = {m: idx for m, idx in eligible.items() if len(idx) >= 2}
    values = point[metric]
    reps = replicates.get(metric)
    has_reps = reps is not None and len(reps) > 0
    if spec.kind in ("worst_min", "worst_max"):
        pick = lo if spec.kind == "worst_min" else hi
        entry["value"] = _none(float(values[pick]))
        entry["group"] = names[pick]
        if has_reps and reps is not None:
            draws = np.where(np.isfinite(reps[:, pick]), reps[:, pick], np.nan)
            low, high, _ = percentile_interval(draws[:, None], level=ci_level)
            entry["ci_low"], entry["ci_high"] = _none(low[0]), _none(high[0])
        return entry
    entry["groups_compared"] = [names[hi], names[lo]]
    entry["based_on"] = metric
    if spec.kind == "ratio":
        value = values[lo] / values[hi] if values[hi] > 0 else float("nan")
    else:
        value = gap
    if fairlearn_values is not None and spec.name in fairlearn_values:
        value = fairlearn_values[spec.name]
    entry["value"] = _none(value)
    if not has_reps:
        return entry
    if spec.kind == "ratio":
        idx = eligible[metric]
        with np.errstate(divide="ignore"):
            log_range = float(np.log(values[hi]) - np.log(values[lo]))
        centred = centred_range(replicates[metric], values, idx, log=True)
        low_r, high_r = ratio_interval(log_range, centred, level=ci_level)
        if low_r is None and values[lo] == 0:
            low_r = 0.0
        entry["ci_low"], entry["ci_high"] = low_r, high_r
        return entry
    ranges = [centred_range(replicates[m], point[m], idx) for m, idx in eligible.items()]
    centred = np.fmax.reduce(ranges) if len(ranges) > 1 else ranges[0]
    entry["ci_low"], entry["ci_high"] = range_interval(gap, centred, level=ci_level)
    null = _null_range(spec, eligible, null_draws)
    if null is not None:
        entry["test"] = "permutation"
        entry["p_value"] = permutation_p_value(gap, null)
    else:
        entry["test"] = "bootstrap-range"
        entry["p_value"] = permutation_p_value(gap, centred)
    return entry


def fixed_pair_p_value(
    spec: DisparitySpec,
    *,
    usable: npt.NDArray[np.bool_],
    point: dict[str, FloatArray],
    replicates: dict[str, FloatArray],
) -> float | None:
    """The method before issue 18, kept for ``bench/stats_sim.py``: the two groups extreme on
    the full data tested as if named in advance (it ignores the selection of the pair)."""
    best: tuple[float, int, int, str] | None = None
    for metric in spec.metrics:
        idx = _eligible(point, usable, metric)
        if len(idx) < 2:
            continue
        values = point[metric]
        hi = int(idx[np.argmax(values[idx])])
        lo = int(idx[np.argmin(values[idx])])
        if best is None or values[hi] - values[lo] > best[0]:
            best = (float(values[hi] - values[lo]), hi, lo, metric)
    if best is None or best[3] not in replicates:
        return None
    _, hi, lo, metric = best
    draws = replicates[metric][:, hi] - replicates[metric][:, lo]
    draws = np.where(np.isfinite(draws), draws, np.nan)
    return _none(two_sided_p_value(draws[:, None])[0])


def holm_flags(
    entries: list[DisparityEntry],
    *,
    alpha: float = 0.05,
    shared_tests: Mapping[str, str] = SHARED_TESTS,
    adjust: Adjustment = "holm",
) -> None:
    """Adjust the omnibus p-values across all attributes and metrics of a run, in place.

    The family is every entry of kind difference with a p-value. ``significant_holm`` and
    ``p_value_holm`` are always Holm's; ``p_value_adjusted`` and ``significant`` follow
    ``adjust`` (``"holm"`` or ``"bh"``, Benjamini-Hochberg, which controls the false discovery
    rate instead of the family-wise error). Ratios (``shared_tests``) take the flags of the
    difference they share a hypothesis with and lose their own p-value; worst-group entries
    stay ``null`` (levels, not tests).
    """
    tested = [e for e in entries if e["p_value"] is not None and e["metric"] not in shared_tests]
    raw = np.array([e["p_value"] for e in tested], dtype=np.float64)
    holm = holm_adjust(raw)
    chosen = holm if adjust == "holm" else benjamini_hochberg(raw)
    flags: dict[tuple[str, str], DisparityEntry] = {}
    for entry, p_holm, p_adj in zip(tested, holm, chosen, strict=True):
        entry["p_value_holm"] = float(p_holm)
        entry["significant_holm"] = bool(p_holm < alpha)
        entry["p_value_adjusted"] = float(p_adj)
        entry["adjustment"] = adjust
        entry["significant"] = bool(p_adj < alpha)
        flags[(entry["attribute"], entry["metric"])] = entry
    for entry in entries:
        shared = shared_tests.get(entry["metric"])
        if shared is not None:
            source = flags.get((entry["attribute"], shared))
            entry["significant_holm"] = None if source is None else source["significant_holm"]
            if source is not None:
                entry["significant"] = source["significant"]
                entry["adjustment"] = adjust
            entry["p_value"] = None


def attribute_disparities(
    specs: tuple[DisparitySpec, ...],
    *,
    attribute: str,
    names: list[str],
    usable: npt.NDArray[np.bool_],
    point: dict[str, FloatArray],
    replicates: dict[str, FloatArray],
    ci_level: float = 0.95,
    fairlearn_values: dict[str, float] | None = None,
    null_draws: Mapping[str, FloatArray] | None = None,
) -> list[DisparityEntry]:
    """All disparity entries of one attribute (before :func:`holm_flags`)."""
    entries = []
    for spec in specs:
        entry = compute_disparity(
            spec,
            attribute=attribute,
            names=names,
            usable=usable,
            point=point,
            replicates=replicates,
            ci_level=ci_level,
            fairlearn_values=fairlearn_values,
            null_draws=null_draws,
        )
        entries.append(entry)
    return entries


def _pairwise_metrics(specs: tuple[DisparitySpec, ...]) -> list[str]:
    metrics: dict[str, None] = {}
    for spec in specs:
        if spec.kind in ("difference", "max_difference"):
            metrics.update(dict.fromkeys(spec.metrics))
    return list(metrics)


def reference_comparisons(
    specs: tuple[DisparitySpec, ...],
    *,
    attribute: str,
    names: list[str],
    usable: npt.NDArray[np.bool_],
    sizes: npt.NDArray[np.integer],
    point: dict[str, FloatArray],
    replicates: dict[str, FloatArray],
    reference: str | None = None,
    ci_level: float = 0.95,
    adjust: Adjustment = "holm",
) -> list[PairwiseEntry]:
    """Second view: every eligible group against a reference group, per metric of ``specs``.

    The reference is ``reference`` (a group name) or, by default, the largest usable group.
    Each entry is ``group - reference`` with the percentile interval of the replicates'
    differences and a bootstrap p-value (never below ``2 / (B + 1)``), adjusted within the
    attribute over all its groups and metrics (Holm, or Benjamini-Hochberg). These are many
    specific questions, not the omnibus question of the disparity tests.
    """
    ref = names.index(reference) if reference in names else None
    if reference is None and usable.any():
        ref = int(np.flatnonzero(usable)[np.argmax(sizes[usable])])
    if ref is None or not usable[ref]:
        return []
    entries: list[PairwiseEntry] = []
    for metric in _pairwise_metrics(specs):
        values, reps = point.get(metric), replicates.get(metric)
        if values is None or reps is None or not np.isfinite(values[ref]):
            continue
        for g in _eligible(point, usable, metric):
            if g == ref:
                continue
            diff = reps[:, g] - reps[:, ref]
            diff = np.where(np.isfinite(diff), diff, np.nan)[:, None]
            low, high, _ = percentile_interval(diff, level=ci_level)
            entries.append(
                {
                    "attribute": attribute,
                    "metric": metric,
                    "group": names[g],
                    "reference": names[ref],
                    "value": _none(float(values[g] - values[ref])),
                    "ci_low": _none(low[0]),
                    "ci_high": _none(high[0]),
                    "p_value": _none(two_sided_p_value(diff)[0]),
                    "p_value_adjusted": None,
                    "adjustment": adjust,
                    "significant": None,
                }
            )
    raw = np.array([np.nan if e["p_value"] is None else e["p_value"] for e in entries])
    adjusted = holm_adjust(raw) if adjust == "holm" else benjamini_hochberg(raw)
    for entry, p_adj in zip(entries, adjusted, strict=True):
        if np.isfinite(p_adj):
            entry["p_value_adjusted"] = float(p_adj)
            entry["significant"] = bool(p_adj < 1.0 - ci_level)
    return entries


def fairlearn_disparities(
    *,
    y_true: npt.NDArray[np.int64],
    y_pred: npt.NDArray[np.int64],
    groups: npt.NDArray[np.object_],
) -> dict[str, float]:
    """Point disparities of a binary problem from fairlearn's ``MetricFrame``.

    Call it on the rows of usable groups only: fairlearn raises on missing sensitive values
    and scores TPR = 0 for a group without positives, both excluded before this point.
    The rows are first collapsed to one weighted row per (group, label, prediction) cell, which
    gives fairlearn's weighted metrics the same rates in a fraction of the time on 100k rows.
    """
    fl = import_optional("fairlearn.metrics", feature="the disparity check", extra="eval")
    names, codes = np.unique(groups.astype(str), return_inverse=True)
    cell = (codes * 2 + y_true) * 2 + y_pred
    counts = np.bincount(cell, minlength=len(names) * 4)
    present = np.flatnonzero(counts)
    weight = {"sample_weight": counts[present].astype(np.float64)}
    frame = fl.MetricFrame(
        metrics={
            "selection_rate": fl.selection_rate,
            "tpr": fl.true_positive_rate,
            "fpr": fl.false_positive_rate,
        },
        y_true=(present // 2) % 2,
        y_pred=present % 2,
        sensitive_features=names[present // 4],
        sample_params={"selection_rate": weight, "tpr": weight, "fpr": weight},
    )
    diff = frame.difference(method="between_groups")
    ratio = frame.ratio(method="between_groups")
    return {
        "demographic_parity_difference": float(diff["selection_rate"]),
        "demographic_parity_ratio": float(ratio["selection_rate"]),
        "equalized_odds_difference": float(max(diff["tpr"], diff["fpr"])),
        "equal_opportunity_difference": float(diff["tpr"]),
    }
