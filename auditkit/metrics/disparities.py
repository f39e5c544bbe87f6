"""Disparities across the groups of one attribute, with bootstrap CIs and Holm flags.

Only groups with status ``ok`` take part (insufficient and missing groups never do). For a
*difference* (``max - min`` over groups) the two groups that are extreme on the full data are
fixed, and the interval is the percentile interval of their signed difference over the
bootstrap replicates: it may reach below 0, which says the ordering itself is uncertain. The
p-value of "no gap" inverts that interval (:func:`auditkit.metrics.bootstrap.two_sided_p_value`);
:func:`holm_flags` then corrects all difference tests of a run together. A *ratio* (``min /
max``) is bootstrapped the same way and shares the flag of the matching difference (one
hypothesis, one test). *Worst group* values get a CI but no test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from auditkit.metrics.bootstrap import holm_adjust, percentile_interval, two_sided_p_value
from auditkit.optional import import_optional
from auditkit.results import DisparityEntry

FloatArray = npt.NDArray[np.float64]

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
) -> DisparityEntry:
    """One disparity entry of RESULTS.json (plus ``p_value``, filled in before Holm).

    Parameters
    ----------
    spec
        The disparity.
    attribute
        Attribute (or intersection) name.
    names
        Group names, aligned with the metric arrays.
    usable
        Groups with status ``ok``.
    point
        Per-group metric values, ``(G,)`` arrays.
    replicates
        Per-group bootstrap replicates, ``(B, G)`` arrays (``B`` may be 0).
    ci_level
        Interval level.
    fairlearn_values
        Point values computed by fairlearn's ``MetricFrame`` for this attribute; used for the
        value when present (they equal ours on usable groups; the tests check both).
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
    candidates: list[tuple[float, int, int, str]] = []
    for metric in spec.metrics:
        values = point[metric]
        ok = usable & np.isfinite(values)
        idx = np.flatnonzero(ok)
        if len(idx) < 2:
            continue
        hi = int(idx[np.argmax(values[idx])])
        lo = int(idx[np.argmin(values[idx])])
        candidates.append((float(values[hi] - values[lo]), hi, lo, metric))
    used = [names[i] for i in np.flatnonzero(usable & np.isfinite(point[spec.metrics[0]]))]
    entry["groups_used"] = used
    if not candidates:
        entry["reason"] = REASON_FEW_GROUPS
        return entry
    gap, hi, lo, metric = max(candidates, key=lambda c: c[0])
    values = point[metric]
    reps = replicates.get(metric)
    if spec.kind in ("difference", "max_difference"):
        value = gap
        draws = reps[:, hi] - reps[:, lo] if reps is not None else None
        null = 0.0
    elif spec.kind == "ratio":
        value = values[lo] / values[hi] if values[hi] > 0 else float("nan")
        with np.errstate(divide="ignore", invalid="ignore"):
            draws = reps[:, lo] / reps[:, hi] if reps is not None else None
        null = 1.0
    else:
        pick = lo if spec.kind == "worst_min" else hi
        value = float(values[pick])
        draws = reps[:, pick] if reps is not None else None
        entry["group"] = names[pick]
    if spec.kind != "worst_min" and spec.kind != "worst_max":
        entry["groups_compared"] = [names[hi], names[lo]]
        entry["based_on"] = metric
    if fairlearn_values is not None and spec.name in fairlearn_values:
        value = fairlearn_values[spec.name]
    entry["value"] = _none(value)
    if draws is not None and len(draws):
        draws = np.where(np.isfinite(draws), draws, np.nan)
        low, high, _ = percentile_interval(draws[:, None], level=ci_level)
        entry["ci_low"], entry["ci_high"] = _none(low[0]), _none(high[0])
        if spec.kind in ("difference", "max_difference") or spec.kind == "ratio":
            entry["p_value"] = _none(two_sided_p_value(draws[:, None], null=null)[0])
    return entry


def holm_flags(
    entries: list[DisparityEntry],
    *,
    alpha: float = 0.05,
    shared_tests: Mapping[str, str] = SHARED_TESTS,
) -> None:
    """Set ``significant_holm`` (and ``p_value_holm``) in place across all difference tests.

    The family is every entry of kind difference with a p-value; ratios (``shared_tests``)
    take the flag of the difference they share a hypothesis with and lose their own p-value;
    worst-group entries stay ``null``.
    """
    tested = [e for e in entries if e["p_value"] is not None and e["metric"] not in shared_tests]
    adjusted = holm_adjust(np.array([e["p_value"] for e in tested], dtype=np.float64))
    flags: dict[tuple[str, str], bool] = {}
    for entry, p_adj in zip(tested, adjusted, strict=True):
        significant = bool(p_adj < alpha)
        entry["p_value_holm"] = float(p_adj)
        entry["significant_holm"] = significant
        flags[(entry["attribute"], entry["metric"])] = significant
    for entry in entries:
        shared = shared_tests.get(entry["metric"])
        if shared is not None:
            entry["significant_holm"] = flags.get((entry["attribute"], shared))
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
        )
        entries.append(entry)
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
