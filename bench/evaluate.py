"""Benchmark: ``auditkit evaluate`` bootstrap vs fairlearn ``MetricFrame(n_boot=...)``.

Same synthetic data for both (seeded): ``--rows`` predictions, one attribute ``site`` with 15
groups for the side-by-side run (fairlearn: two rate metrics, TPR and FPR; auditkit: all 15
binary metrics), then auditkit alone on the issue's target: five attributes, 32 groups in all,
``--boot`` replicates (default 1000), every metric with its CI (BCa for AUROC and ECE), the
omnibus disparity tests (permutations) and the group-vs-reference view. Prints seconds and the
per-replicate speed ratio.

    .venv/bin/python bench/evaluate.py                       # full size (fairlearn ~2 min)
    .venv/bin/python bench/evaluate.py --rows 20000 --fairlearn-boot 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from auditkit.evaluate import AuditResult, Predictions, Task


def synthetic(rows: int, seed: int = 0) -> Predictions:
    """Binary predictions with sex (2), age_band (8), manufacturer (5), site (15) and
    field_strength (2) groups."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows).astype(np.float64)
    score = np.clip(rng.normal(0.35 + 0.3 * label, 0.2), 0, 1).round(4)
    attributes = {
        "sex": rng.choice(np.array(["F", "M"], dtype=object), rows),
        "age_band": rng.choice(
            np.array([f"{a}-{a + 9}" for a in range(10, 90, 10)], dtype=object), rows
        ),
        "manufacturer": rng.choice(
            np.array(["GE", "Siemens", "Philips", "Canon", "Agfa"], dtype=object), rows
        ),
        "site": rng.choice(np.array([f"S{i:02d}" for i in range(15)], dtype=object), rows),
        "field_strength": rng.choice(np.array(["1.5T", "3T"], dtype=object), rows),
    }
    return Predictions(
        task=Task.BINARY,
        labels=label,
        scores=score[:, None],
        score_names=("score",),
        classes=(),
        attributes=attributes,
        patients=None,
        n_read=rows,
    )


def run_fairlearn(pred: Predictions, n_boot: int) -> float:
    """Seconds for fairlearn's MetricFrame bootstrap on one attribute, TPR and FPR."""
    from fairlearn.metrics import MetricFrame, false_positive_rate, true_positive_rate

    start = time.perf_counter()
    MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=pred.labels.astype(int),
        y_pred=(pred.scores[:, 0] >= 0.5).astype(int),
        sensitive_features=pred.attributes["site"],
        n_boot=n_boot,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    return time.perf_counter() - start


def run_auditkit(
    pred: Predictions, n_boot: int, attributes: tuple[str, ...]
) -> tuple[float, float]:
    """Wall and CPU seconds for AuditResult (all metrics, CIs, disparities) on ``attributes``."""
    subset = Predictions(
        task=pred.task,
        labels=pred.labels,
        scores=pred.scores,
        score_names=pred.score_names,
        classes=(),
        attributes={a: pred.attributes[a] for a in attributes},
        patients=None,
        n_read=pred.n_read,
    )
    start, cpu = time.perf_counter(), time.process_time()
    AuditResult(predictions=subset, n_boot=n_boot, seed=0)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--boot", type=int, default=1000, help="auditkit replicates")
    parser.add_argument("--fairlearn-boot", type=int, default=100, help="fairlearn n_boot")
    parser.add_argument("--skip-fairlearn", action="store_true")
    args = parser.parse_args()
    pred = synthetic(args.rows)
    # Warm imports (sklearn, fairlearn) so neither side pays them in its timing.
    run_auditkit(synthetic(1000), 2, ("site",))
    print(f"rows={args.rows}")
    ours_one, ours_one_cpu = run_auditkit(pred, args.fairlearn_boot, ("site",))
    print(
        f"auditkit  site (15 groups), 15 metrics, B={args.fairlearn_boot}: {ours_one:.2f} s "
        f"(cpu {ours_one_cpu:.2f} s)"
    )
    if not args.skip_fairlearn:
        cpu = time.process_time()
        theirs = run_fairlearn(pred, args.fairlearn_boot)
        theirs_cpu = time.process_time() - cpu
        print(
            f"fairlearn site (15 groups), tpr+fpr,    n_boot={args.fairlearn_boot}: "
            f"{theirs:.2f} s (cpu {theirs_cpu:.2f} s)"
        )
        print(
            f"ratio fairlearn / auditkit (same B, one attribute): wall {theirs / ours_one:.1f}x, "
            f"cpu {theirs_cpu / max(ours_one_cpu, 1e-9):.1f}x"
        )
    groups = ("sex", "age_band", "manufacturer", "site", "field_strength")
    ours_full, ours_full_cpu = run_auditkit(pred, args.boot, groups)
    print(
        f"auditkit  5 attributes (32 groups), all metrics, B={args.boot}: {ours_full:.2f} s "
        f"(cpu {ours_full_cpu:.2f} s; target < 30 s on 2 cores)"
    )


if __name__ == "__main__":
    main()
