"""Simulation of ``auditkit evaluate``'s disparity tests and ``auditkit gate``'s change checks.

Issue 18. Three methods side by side on the same simulated data sets:

* **old**: the pair of groups extreme on the full data, tested as if named in advance
  (bootstrap p-value of their difference), Holm across the disparity metrics;
* **new**: the omnibus tests of ``auditkit evaluate`` (statistic = the reported gap,
  permutation of group labels / bootstrap range), Holm across the disparity metrics;
* **chi2**: chi-square homogeneity tests of selection rate, TPR and FPR across groups
  (scipy), Holm across the three.

Part 1 prints the family-wise false-positive rate (at least one flag) when every group is
truly equal, for each group count; part 2 the power for planted TPR gaps (one group's
positives score lower); part 3 gates two independent samples of one generating model against
each other (``max_drop`` 0.02 on AUROC and TPR per manufacturer, as the strict policy), and
with a planted TPR drop, old rule (baseline exact) against new (CI of the difference).
Every rate comes with its simulation standard error ``sqrt(p (1 - p) / datasets)``.

    .venv/bin/python bench/stats_sim.py                          # full: 200 data sets a row
    .venv/bin/python bench/stats_sim.py --datasets 20 --boot 200 --groups 2 5   # quick look
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import chi2_contingency, norm

from auditkit.evaluate import AuditResult, Predictions, Task
from auditkit.gate.judge import Outcome, decide, run_gate
from auditkit.gate.policy import LimitKind, parse_policy
from auditkit.metrics.bootstrap import holm_adjust, run_bootstrap
from auditkit.metrics.disparities import BINARY_SPECS, fixed_pair_p_value
from auditkit.metrics.replicates import binary_statistic

ALPHA = 0.05
BASE_TPR = float(norm.sf(-0.15 / 0.2))  # P(N(0.65, 0.2) >= 0.5)

# fairlearn only cross-checks the point values (equal to ours); it is the slowest part of a
# small evaluation, so the simulation skips it.
AuditResult._fairlearn_values = lambda self, *args: None  # type: ignore[method-assign]


def simulate(
    rng: np.random.Generator, *, sizes: list[int], tpr_gap: float = 0.0, prevalence: float = 0.3
) -> Predictions:
    """Binary predictions for groups of ``sizes``; group 0's TPR lowered by ``tpr_gap``."""
    codes = np.repeat(np.arange(len(sizes)), sizes)
    n = len(codes)
    y = (rng.uniform(size=n) < prevalence).astype(np.float64)
    shift = 0.0
    if tpr_gap > 0:
        shift = 0.15 - 0.2 * float(norm.ppf(BASE_TPR - tpr_gap))
    score = rng.normal(0.35 + 0.3 * y - shift * y * (codes == 0), 0.2)
    names = np.array([f"G{k:02d}" for k in range(len(sizes))], dtype=object)
    return Predictions(
        task=Task.BINARY,
        labels=y,
        scores=np.clip(score, 0, 1).round(4)[:, None],
        score_names=("score",),
        classes=(),
        attributes={"group": names[codes]},  # the change part calls them manufacturers
        patients=None,
        n_read=n,
    )


def old_method_flags(pred: Predictions, *, boot: int, seed: int) -> bool:
    """Fixed extreme pair per difference metric, Holm across them: any flag.

    The replicates are the evaluation's own (same statistic, seed and resamples).
    """
    names, codes = np.unique(pred.attributes["group"].astype(str), return_inverse=True)
    statistic = binary_statistic(
        [(codes.astype(np.int64), len(names))],
        y=pred.labels.astype(np.int64),
        score=pred.scores[:, 0],
        threshold=0.5,
        spec_threshold=None,
    )
    ones = np.ones((1, pred.n), dtype=np.int64)
    point = {k.split("/", 1)[1]: v[0] for k, v in statistic(ones).items()}
    reps = run_bootstrap(statistic, n_rows=pred.n, n_boot=boot, seed=seed)
    replicates = {k.split("/", 1)[1]: v for k, v in reps.items()}
    usable = np.ones(len(names), dtype=bool)
    p_values = [
        fixed_pair_p_value(spec, usable=usable, point=point, replicates=replicates)
        for spec in BINARY_SPECS
        if spec.kind in ("difference", "max_difference")
    ]
    p = np.array([np.nan if v is None else v for v in p_values])
    return bool((holm_adjust(p) < ALPHA).any())


def chi2_flags(pred: Predictions, threshold: float = 0.5) -> bool:
    """Chi-square homogeneity of selection rate, TPR and FPR across groups; Holm; any flag."""
    groups = pred.attributes["group"]
    y = pred.labels.astype(bool)
    positive = pred.scores[:, 0] >= threshold
    p_values = []
    for rows in (np.ones_like(y), y, ~y):
        table = np.array(
            [
                [np.sum(positive & rows & (groups == g)), np.sum(~positive & rows & (groups == g))]
                for g in np.unique(groups)
            ]
        )
        table = table[table.sum(axis=1) > 0]
        if (table.sum(axis=0) == 0).any() or len(table) < 2:
            p_values.append(1.0)
            continue
        p_values.append(float(chi2_contingency(table, correction=False)[1]))
    return bool((holm_adjust(np.array(p_values)) < ALPHA).any())


def new_method_flags(result: AuditResult) -> bool:
    return any(bool(d.get("significant_holm")) for d in result.disparities)


def rate(hits: int, total: int) -> str:
    p = hits / total if total else float("nan")
    se = math.sqrt(p * (1 - p) / total) if total else float("nan")
    return f"{100 * p:5.1f} % ± {100 * se:4.1f}"


def run_tests_row(
    rng: np.random.Generator, *, sizes: list[int], gap: float, datasets: int, boot: int
) -> dict[str, int]:
    counts = {"old": 0, "new": 0, "chi2": 0}
    for i in range(datasets):
        pred = simulate(rng, sizes=sizes, tpr_gap=gap)
        result = AuditResult(predictions=pred, n_boot=boot, seed=i, min_group_size=20)
        counts["new"] += new_method_flags(result)
        counts["old"] += old_method_flags(pred, boot=boot, seed=i)
        counts["chi2"] += chi2_flags(pred)
    return counts


def part_null(args: argparse.Namespace, rng: np.random.Generator) -> None:
    print(
        f"\n1. Family-wise false-positive rate, all groups equal ({args.datasets} data sets "
        f"a row, {args.rows_per_group} rows a group, B={args.boot}, alpha {ALPHA})"
    )
    print(f"{'groups':>6}  {'old (fixed pair)':>18}  {'new (omnibus)':>18}  {'chi-square':>18}")
    for k in args.groups:
        start = time.perf_counter()
        c = run_tests_row(
            rng, sizes=[args.rows_per_group] * k, gap=0.0, datasets=args.datasets, boot=args.boot
        )
        n = args.datasets
        print(
            f"{k:>6}  {rate(c['old'], n):>18}  {rate(c['new'], n):>18}  "
            f"{rate(c['chi2'], n):>18}   ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


def part_power(args: argparse.Namespace, rng: np.random.Generator) -> None:
    k = args.power_groups
    print(
        f"\n2. Power, {k} groups, one group's TPR lowered by the gap (base TPR "
        f"{BASE_TPR:.2f}; {args.datasets} data sets a row)"
    )
    print(f"{'gap':>6}  {'old (fixed pair)':>18}  {'new (omnibus)':>18}  {'chi-square':>18}")
    for gap in args.gaps:
        start = time.perf_counter()
        c = run_tests_row(
            rng, sizes=[args.rows_per_group] * k, gap=gap, datasets=args.datasets, boot=args.boot
        )
        n = args.datasets
        print(
            f"{gap:>6.2f}  {rate(c['old'], n):>18}  {rate(c['new'], n):>18}  "
            f"{rate(c['chi2'], n):>18}   ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


CHANGE_POLICY = {
    "name": "change-sim",
    "insufficient_evidence": "warn",
    "min_evidence": {"min_group_size": 30, "min_positives": 10, "min_negatives": 10},
    "checks": [
        {"id": "auroc", "metric": "auroc", "max_drop": 0.02},
        {"id": "tpr", "metric": "tpr", "max_drop": 0.02},
    ],
}


def old_change_outcomes(current: dict[str, Any], baseline: dict[str, Any]) -> list[Outcome]:
    """The rule before issue 18: the current CI against baseline point - max_drop."""
    index = {(e["attribute"], e["group"]): e for e in baseline["groups"]}
    index[("overall", "all")] = baseline["overall"]
    outcomes = []
    for entry in [current["overall"], *current["groups"]]:
        old = index.get((entry["attribute"], entry["group"]))
        for metric in ("auroc", "tpr"):
            now, base = entry["metrics"][metric], old["metrics"][metric] if old else None
            if base is None or base["value"] is None or now["ci_low"] is None:
                continue
            limit = base["value"] - 0.02
            outcomes.append(decide(LimitKind.MAX_DROP, limit, now["ci_low"], now["ci_high"]))
    return outcomes


def part_change(args: argparse.Namespace, rng: np.random.Generator) -> None:
    policy = parse_policy(CHANGE_POLICY)
    shares = np.array([0.45, 0.25, 0.15, 0.1, 0.05])
    # Smallest group first: G00, the group a planted drop hits.
    sizes = list(np.round(shares[::-1] * args.change_rows).astype(int))
    print(
        f"\n3. Change checks: two independent samples of one model, {args.change_rows} rows "
        f"each, 5 manufacturers ({', '.join(map(str, sizes))} rows), max_drop 0.02 on AUROC "
        f"and TPR per group ({args.change_pairs} pairs a row, B={args.boot})"
    )
    print(
        f"{'TPR drop in smallest':>20}  {'old: no FAIL':>16}  {'new: no FAIL':>16}  "
        f"{'old: all pass':>16}  {'new: all pass':>16}"
    )
    for drop in args.change_drops:
        start = time.perf_counter()
        counts = {"old_nofail": 0, "new_nofail": 0, "old_pass": 0, "new_pass": 0}
        for i in range(args.change_pairs):
            base = _evaluate(rng, sizes, 0.0, args.boot, seed=2 * i)
            now = _evaluate(rng, sizes, drop, args.boot, seed=2 * i + 1)
            old = old_change_outcomes(now, base)
            new = [c.outcome for c in run_gate(now, policy, baseline=base).checks]
            counts["old_nofail"] += Outcome.FAIL not in old
            counts["new_nofail"] += Outcome.FAIL not in new
            counts["old_pass"] += all(o is Outcome.PASS for o in old)
            counts["new_pass"] += all(o in (Outcome.PASS, Outcome.SKIPPED) for o in new)
        n = args.change_pairs
        print(
            f"{drop:>20.2f}  {rate(counts['old_nofail'], n):>16}  "
            f"{rate(counts['new_nofail'], n):>16}  {rate(counts['old_pass'], n):>16}  "
            f"{rate(counts['new_pass'], n):>16}   ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


def _evaluate(
    rng: np.random.Generator, sizes: list[int], drop: float, boot: int, *, seed: int
) -> dict[str, Any]:
    pred = simulate(rng, sizes=sizes, tpr_gap=drop)
    return dict(AuditResult(predictions=pred, n_boot=boot, seed=seed).to_dict())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[2, 3, 5, 10])
    parser.add_argument("--datasets", type=int, default=200, help="data sets per row")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap / permutation B")
    parser.add_argument("--rows-per-group", type=int, default=300)
    parser.add_argument("--power-groups", type=int, default=5)
    parser.add_argument("--gaps", type=float, nargs="+", default=[0.05, 0.10, 0.15])
    parser.add_argument("--change-rows", type=int, default=5000)
    parser.add_argument("--change-pairs", type=int, default=200)
    parser.add_argument("--change-drops", type=float, nargs="+", default=[0.0, 0.10])
    parser.add_argument("--parts", default="null,power,change")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    parts: dict[str, Callable[[argparse.Namespace, np.random.Generator], None]] = {
        "null": part_null,
        "power": part_power,
        "change": part_change,
    }
    for name in args.parts.split(","):
        parts[name](args, rng)


if __name__ == "__main__":
    main()
