"""Subgroup evaluation: ``AuditResult`` computes every group's metrics, CIs and disparities once.

Modelled on fairlearn's ``MetricFrame``: a keyword-only constructor validates and computes;
results are read through properties (:attr:`AuditResult.overall`, :attr:`AuditResult.by_group`,
:attr:`AuditResult.intersections`, :attr:`AuditResult.disparities`) and :meth:`to_dict` gives
the RESULTS.json document (``auditkit/schema/results.schema.json``; its entries are the typed
records of :mod:`auditkit.results`). :func:`evaluate_file` is the same from a predictions file,
with the file's hash and the package versions in the provenance (``auditkit evaluate``).

Rules (documented in the schema too):

* One global operating threshold for every group (fixed, or chosen on the *whole* evaluation set
  by Youden's J or at a fixed specificity); it is not re-chosen inside bootstrap replicates.
  ``score >= threshold`` is positive.
* ``tpr_at_fixed_specificity``: per-group TPR at the threshold where the *overall* specificity
  first reaches the target (default 0.9).
* Missing attribute values form an explicit group (status ``missing``), reported and excluded
  from disparities. Groups with fewer than ``min_group_size`` rows, or (binary) without both
  classes, get status ``insufficient`` with the reason, and are excluded from disparities.
* Undefined metrics are ``null`` with a reason, never 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from auditkit import __version__
from auditkit.errors import EvaluationError
from auditkit.evaluate.predictions import Predictions, load_predictions
from auditkit.evaluate.task import Task
from auditkit.fingerprint import package_versions, sha256_file
from auditkit.metrics.bootstrap import percentile_interval, run_bootstrap
from auditkit.metrics.disparities import (
    BINARY_SPECS,
    MULTICLASS_SPECS,
    REGRESSION_SPECS,
    SEGMENTATION_SPECS,
    DisparitySpec,
    attribute_disparities,
    fairlearn_disparities,
    holm_flags,
)
from auditkit.metrics.kernels import (
    BINARY_METRICS,
    PROPORTIONS,
    threshold_for_specificity,
    threshold_youden,
    wilson_interval,
)
from auditkit.metrics.replicates import (
    Statistic,
    binary_statistic,
    mean_statistic,
    multiclass_statistic,
)
from auditkit.results import (
    DisparityEntry,
    GroupEntry,
    MetricEntry,
    ResultsDocument,
    Status,
    WarningEntry,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SCHEMA_VERSION: Final = "1.0"
MISSING: Final = "missing"
OVERALL_ATTRIBUTE: Final = "overall"
OVERALL_GROUP: Final = "all"
SEPARATOR: Final = " | "

MSG_THRESHOLD_RULE: Final = (
    "--threshold-from must be 'youden' or 'fixed-specificity:S' with 0 < S < 1, not '{rule}'"
)
MSG_THRESHOLD_CLASSES: Final = "--threshold-from {rule} needs both positive and negative cases"
MSG_BOTH_THRESHOLDS: Final = "give either --threshold or --threshold-from, not both"
MSG_INTERSECTIONS: Final = "--intersections must be at least 1"

REASON_MISSING: Final = "attribute value missing: reported, excluded from disparities"
REASON_SMALL: Final = "n={n} is below the minimum group size {m}"
REASON_NO_POS: Final = "no positive cases"
REASON_NO_NEG: Final = "no negative cases"

#: Why a metric is undefined (null), by metric name.
UNDEFINED_REASONS: Final[dict[str, str]] = {
    "auroc": "needs both positive and negative cases",
    "tpr": "no positive cases",
    "tpr_at_fixed_specificity": "no positive cases",
    "fpr": "no negative cases",
    "tnr": "no negative cases",
    "balanced_accuracy": "needs both positive and negative cases",
    "ppv": "no predicted positives at the threshold",
    "npv": "no predicted negatives at the threshold",
    "hd95": "no case with a finite HD95",
    "dice": "no case with a Dice value",
}
REASON_UNDEFINED: Final = "undefined for this group"
REASON_NO_SPEC: Final = "no negative cases overall: the fixed-specificity threshold is undefined"

#: Packages whose versions decide what an evaluation computes (recorded in its provenance).
EVALUATE_PACKAGES: Final = ("numpy", "pandas", "fairlearn")


@dataclass(frozen=True)
class Threshold:
    """The global operating threshold and how it was chosen."""

    value: float | None
    method: str
    target_specificity: float | None = None


@dataclass(frozen=True)
class _Grouping:
    attribute: str
    names: list[str]
    statuses: list[Status]
    codes: IntArray
    missing: npt.NDArray[np.bool_]
    crossed: int = 1  # attributes crossed: 1 for an attribute (and overall), 2+ intersections


def parse_threshold_rule(rule: str) -> tuple[str, float | None]:
    """Parse ``youden`` or ``fixed-specificity:0.9``; raise :class:`EvaluationError` otherwise."""
    text = rule.strip().lower()
    if text == "youden":
        return "youden", None
    if text.startswith("fixed-specificity:"):
        try:
            target = float(text.split(":", 1)[1])
        except ValueError:
            raise EvaluationError(MSG_THRESHOLD_RULE.format(rule=rule)) from None
        if 0.0 < target < 1.0:
            return "fixed-specificity", target
    raise EvaluationError(MSG_THRESHOLD_RULE.format(rule=rule))


def _float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class AuditResult:
    """Per-group metrics with bootstrap CIs, disparities and warnings, computed once.

    Parameters
    ----------
    predictions
        A validated table from :func:`auditkit.evaluate.load_predictions`.
    threshold
        Fixed operating threshold (binary); default 0.5 unless ``threshold_from`` is given.
    threshold_from
        ``"youden"`` or ``"fixed-specificity:S"``: choose the one global threshold on all rows.
    target_specificity
        Specificity for ``tpr_at_fixed_specificity`` (taken from ``threshold_from`` when that
        is a fixed-specificity rule).
    intersections
        Largest number of attributes crossed (1: none, 2: every pair ...).
    min_group_size
        Groups with fewer rows are reported as insufficient evidence.
    n_boot
        Bootstrap replicates (0 disables intervals).
    seed
        Seed of the bootstrap generator.
    ci_level
        Level of every interval.
    provenance
        Extra provenance recorded verbatim (e.g. the input file's hash).
    """

    def __init__(
        self,
        *,
        predictions: Predictions,
        threshold: float | None = None,
        threshold_from: str | None = None,
        target_specificity: float = 0.9,
        intersections: int = 1,
        min_group_size: int = 30,
        n_boot: int = 1000,
        seed: int = 0,
        ci_level: float = 0.95,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        if threshold is not None and threshold_from is not None:
            raise EvaluationError(MSG_BOTH_THRESHOLDS)
        if intersections < 1:
            raise EvaluationError(MSG_INTERSECTIONS)
        if n_boot < 0 or min_group_size < 1 or not 0.0 < ci_level < 1.0:
            raise EvaluationError("n_boot >= 0, min_group_size >= 1 and 0 < ci_level < 1")
        self._pred = predictions
        self._min = min_group_size
        self._n_boot = n_boot
        self._seed = seed
        self._level = ci_level
        self._warnings: list[WarningEntry] = list(predictions.warnings)
        self._extra_provenance = dict(provenance or {})
        self._threshold, self._spec = self._choose_thresholds(
            threshold, threshold_from, target_specificity
        )
        self._groupings = self._build_groupings(intersections)
        self._entries, self._disparities = self._compute()

    # ----------------------------------------------------------------- public API
    @property
    def threshold(self) -> Threshold:
        """The global operating threshold."""
        return self._threshold

    @property
    def overall(self) -> GroupEntry:
        """The whole evaluation set as one entry (attribute ``overall``, group ``all``)."""
        return self._entries[0][0]

    @property
    def by_group(self) -> list[GroupEntry]:
        """One entry per group of every attribute."""
        return [
            e
            for g, es in zip(self._groupings[1:], self._entries[1:], strict=True)
            if g.crossed == 1
            for e in es
        ]

    @property
    def intersections(self) -> list[GroupEntry]:
        """One entry per group of every intersection of attributes."""
        return [
            e
            for g, es in zip(self._groupings[1:], self._entries[1:], strict=True)
            if g.crossed > 1
            for e in es
        ]

    @property
    def disparities(self) -> list[DisparityEntry]:
        """Disparity entries across groups of each attribute and intersection."""
        return self._disparities

    def disparity(self, attribute: str, metric: str) -> DisparityEntry:
        """The disparity entry of one attribute (or intersection) and metric.

        Raises
        ------
        KeyError
            If the attribute or metric was not evaluated.
        """
        for entry in self._disparities:
            if entry["attribute"] == attribute and entry["metric"] == metric:
                return entry
        raise KeyError(f"no disparity '{metric}' for attribute '{attribute}'")

    def group(self, attribute: str, group: str) -> GroupEntry:
        """The entry of one group (``attribute`` may be an intersection such as ``a | b``)."""
        for entries in self._entries:
            for entry in entries:
                if entry["attribute"] == attribute and entry["group"] == group:
                    return entry
        raise KeyError(f"no group '{group}' for attribute '{attribute}'")

    @property
    def warnings(self) -> list[WarningEntry]:
        """Warnings: excluded rows, missing groups, insufficient groups ..."""
        return self._warnings

    def to_dict(self) -> ResultsDocument:
        """The RESULTS.json document (keys fixed by ``results.schema.json``)."""
        pred = self._pred
        spec = self._spec
        return {
            "schema_version": SCHEMA_VERSION,
            "task": pred.task.value,
            "threshold": {
                "value": self._threshold.value,
                "method": self._threshold.method,
                "target_specificity": self._threshold.target_specificity,
            },
            "specificity_threshold": None
            if spec is None
            else {"target": spec.target_specificity, "value": spec.value},
            "min_group_size": self._min,
            "bootstrap": {
                "n_boot": self._n_boot,
                "seed": self._seed,
                "unit": "patient" if pred.patients is not None else "row",
                "ci_level": self._level,
                "method": "percentile",
            },
            "attributes": list(pred.attributes),
            "classes": list(pred.classes),
            "overall": self.overall,
            "groups": self.by_group,
            "intersections": self.intersections,
            "disparities": self.disparities,
            "warnings": self._warnings,
            "provenance": {
                "tool": "auditkit",
                "version": __version__,
                "command": "evaluate",
                "n_rows_read": pred.n_read,
                "n_rows_used": pred.n,
                "score_columns": list(pred.score_names),
                **self._extra_provenance,
            },
        }

    # ----------------------------------------------------------------- set-up
    def _choose_thresholds(
        self, threshold: float | None, rule: str | None, target: float
    ) -> tuple[Threshold, Threshold | None]:
        task = self._pred.task
        if task is not Task.BINARY and (threshold is not None or rule is not None):
            self._warnings.append(
                {
                    "code": "threshold_ignored",
                    "message": f"--threshold/--threshold-from do not apply to --task {task.value}",
                    "count": 0,
                }
            )
        if task is Task.MULTICLASS:
            return Threshold(None, "argmax"), None
        if task is not Task.BINARY:
            return Threshold(None, "none"), None
        y = self._pred.labels.astype(np.int64)
        s = self._pred.scores[:, 0]
        both = bool(y.any() and (1 - y).any())
        method, spec_target = ("fixed", None) if rule is None else parse_threshold_rule(rule)
        if spec_target is not None:
            target = spec_target
        if method != "fixed" and not both:
            raise EvaluationError(MSG_THRESHOLD_CLASSES.format(rule=rule))
        spec_value = threshold_for_specificity(y, s, target) if (1 - y).any() else math.inf
        spec = Threshold(_float(spec_value), "fixed-specificity", target)
        if method == "youden":
            chosen = Threshold(threshold_youden(y, s), "youden")
        elif method == "fixed-specificity":
            chosen = Threshold(spec_value, "fixed-specificity", target)
        else:
            chosen = Threshold(0.5 if threshold is None else float(threshold), "fixed")
        return chosen, spec

    def _missing_label(self) -> str:
        for values in self._pred.attributes.values():
            if (values == MISSING).any():
                self._warnings.append(
                    {
                        "code": "missing_label_renamed",
                        "message": "a real category is spelled 'missing'; the group of missing "
                        "values is named '(missing)'",
                        "count": 0,
                    }
                )
                return "(missing)"
        return MISSING

    def _build_groupings(self, max_cross: int) -> list[_Grouping]:
        pred = self._pred
        n = pred.n
        groupings = [
            _Grouping(
                OVERALL_ATTRIBUTE,
                [OVERALL_GROUP],
                ["ok"],
                np.zeros(n, dtype=np.int64),
                np.zeros(n, dtype=bool),
            )
        ]
        missing_name = self._missing_label()
        names = list(pred.attributes)
        for k in range(1, min(max_cross, len(names)) + 1):
            for combo in itertools.combinations(names, k):
                parts = [pred.attributes[c] for c in combo]
                missing = np.zeros(n, dtype=bool)
                for part in parts:
                    missing |= part == ""
                labels = [np.where(part == "", missing_name, part).astype(str) for part in parts]
                joined = (
                    labels[0]
                    if k == 1
                    else np.array(
                        [SEPARATOR.join(t) for t in zip(*labels, strict=True)], dtype=object
                    ).astype(str)
                )
                uniques, codes = np.unique(joined, return_inverse=True)
                # Missing groups last, otherwise sorted: stable order for reports and diffs.
                miss_of = np.zeros(len(uniques), dtype=bool)
                np.logical_or.at(miss_of, codes, missing)
                order = np.lexsort((uniques, miss_of))
                rank = np.empty_like(order)
                rank[order] = np.arange(len(order))
                groupings.append(
                    _Grouping(
                        SEPARATOR.join(combo),
                        [str(uniques[i]) for i in order],
                        ["missing" if miss_of[i] else "ok" for i in order],
                        rank[codes].astype(np.int64),
                        missing,
                        crossed=k,
                    )
                )
                if k == 1 and missing.all():
                    self._warnings.append(
                        {
                            "code": "attribute_all_missing",
                            "message": f"attribute '{combo[0]}' is missing in every row",
                            "count": int(n),
                        }
                    )
        return groupings

    # ----------------------------------------------------------------- computing
    def _statistic(self) -> Statistic:
        """The per-replicate statistic of the task over every grouping."""
        pred = self._pred
        groupings = [(g.codes, len(g.names)) for g in self._groupings]
        if pred.task is Task.BINARY:
            t = self._threshold.value
            return binary_statistic(
                groupings,
                y=pred.labels.astype(np.int64),
                score=pred.scores[:, 0],
                threshold=0.5 if t is None else t,
                spec_threshold=None if self._spec is None else self._spec.value,
            )
        if pred.task is Task.MULTICLASS:
            return multiclass_statistic(
                groupings,
                y=pred.labels.astype(np.int64),
                scores=pred.scores,
                classes=pred.classes,
            )
        if pred.task is Task.REGRESSION:
            err = pred.scores[:, 0] - pred.labels
            return mean_statistic(
                groupings, columns={"mae": np.abs(err), "bias": err, "mse": err**2}
            )
        columns: dict[str, FloatArray] = {}
        for j, name in enumerate(pred.score_names):
            values = np.where(np.isfinite(pred.scores[:, j]), pred.scores[:, j], np.nan)
            undefined = int(np.isnan(values).sum())
            if undefined:
                self._warnings.append(
                    {
                        "code": "undefined_value",
                        "message": f"cases with an empty or non-finite '{name}' (e.g. HD95 "
                        "when exactly one mask is empty) were left out of its mean",
                        "count": undefined,
                    }
                )
            columns[name] = values
        return mean_statistic(groupings, columns=columns)

    def _compute(self) -> tuple[list[list[GroupEntry]], list[DisparityEntry]]:
        pred = self._pred
        statistic = self._statistic()
        ones = np.ones((1, pred.n), dtype=np.int64)
        point = {k: v[0] for k, v in statistic(ones, True).items()}
        reps: dict[str, FloatArray] = {}
        if self._n_boot > 0:
            reps = run_bootstrap(
                statistic,
                n_rows=pred.n,
                n_boot=self._n_boot,
                seed=self._seed,
                clusters=pred.patients,
            )
        entries: list[list[GroupEntry]] = []
        disparities: list[DisparityEntry] = []
        for i, grouping in enumerate(self._groupings):
            gp = {k.split("/", 1)[1]: v for k, v in point.items() if k.startswith(f"{i}/")}
            gr = {k.split("/", 1)[1]: v for k, v in reps.items() if k.startswith(f"{i}/")}
            group_entries, usable = self._entries_for(grouping, gp, gr)
            entries.append(group_entries)
            if i > 0:
                disparities.extend(
                    attribute_disparities(
                        self._specs(),
                        attribute=grouping.attribute,
                        names=grouping.names,
                        usable=usable,
                        point={k: v for k, v in gp.items() if "::" not in k},
                        replicates={k: v for k, v in gr.items() if "::" not in k},
                        ci_level=self._level,
                        fairlearn_values=self._fairlearn_values(grouping, usable),
                    )
                )
        holm_flags(disparities, alpha=1.0 - self._level)
        return entries, disparities

    def _specs(self) -> tuple[DisparitySpec, ...]:
        return {
            Task.BINARY: BINARY_SPECS,
            Task.MULTICLASS: MULTICLASS_SPECS,
            Task.REGRESSION: REGRESSION_SPECS,
            Task.SEGMENTATION: SEGMENTATION_SPECS,
        }[self._pred.task]

    def _fairlearn_values(
        self, grouping: _Grouping, usable: npt.NDArray[np.bool_]
    ) -> dict[str, float] | None:
        """Point disparities from fairlearn's MetricFrame on the usable groups (binary only)."""
        if self._pred.task is not Task.BINARY or usable.sum() < 2:
            return None
        rows = usable[grouping.codes]
        t = self._threshold.value if self._threshold.value is not None else 0.5
        return fairlearn_disparities(
            y_true=self._pred.labels[rows].astype(np.int64),
            y_pred=(self._pred.scores[rows, 0] >= t).astype(np.int64),
            groups=np.asarray(grouping.names, dtype=object)[grouping.codes[rows]],
        )

    def _entries_for(
        self, grouping: _Grouping, point: dict[str, FloatArray], reps: dict[str, FloatArray]
    ) -> tuple[list[GroupEntry], npt.NDArray[np.bool_]]:
        pred = self._pred
        n_groups = len(grouping.names)
        sizes = np.bincount(grouping.codes, minlength=n_groups)
        patients = None
        if pred.patients is not None:
            pairs = np.unique(np.column_stack([grouping.codes, pred.patients]), axis=0)
            patients = np.bincount(pairs[:, 0], minlength=n_groups)
        intervals = {
            k: percentile_interval(v, level=self._level)
            for k, v in reps.items()
            if not k.split("::")[-1].startswith("#")
        }
        metric_names = [k for k in point if not k.startswith("#") and "::" not in k]
        usable = np.zeros(n_groups, dtype=bool)
        entries: list[GroupEntry] = []
        for g, name in enumerate(grouping.names):
            status: Status = grouping.statuses[g]
            reason: str | None = None
            n = int(sizes[g])
            if status == "missing":
                reason = REASON_MISSING
            elif n < self._min:
                status, reason = "insufficient", REASON_SMALL.format(n=n, m=self._min)
            elif pred.task is Task.BINARY and point["n_pos"][g] == 0:
                status, reason = "insufficient", REASON_NO_POS
            elif pred.task is Task.BINARY and point["n_neg"][g] == 0:
                status, reason = "insufficient", REASON_NO_NEG
            usable[g] = status == "ok"
            if status != "ok" and grouping.attribute != OVERALL_ATTRIBUTE:
                self._warnings.append(
                    {
                        "code": f"group_{status}",
                        "message": f"{grouping.attribute} = {name}: {reason}",
                        "count": n,
                    }
                )
            entry: GroupEntry = {
                "attribute": grouping.attribute,
                "group": name,
                "n": n,
                "status": status,
                "reason": reason,
                "metrics": {m: self._metric(m, g, point, intervals) for m in metric_names},
            }
            if patients is not None:
                entry["n_patients"] = int(patients[g])
            if pred.task is Task.MULTICLASS:
                entry["per_class"] = {
                    c: {
                        m.split("::", 1)[1]: self._metric(m, g, point, intervals)
                        for m in point
                        if m.startswith(f"{c}::")
                    }
                    for c in pred.classes
                }
            entries.append(entry)
        return entries, usable

    def _metric(
        self,
        key: str,
        g: int,
        point: dict[str, FloatArray],
        intervals: dict[str, tuple[FloatArray, FloatArray, FloatArray]],
    ) -> MetricEntry:
        name = key.split("::")[-1]
        value = _float(point[key][g])
        out: MetricEntry = {"value": value, "ci_low": None, "ci_high": None}
        if name in ("n_pos", "n_neg"):
            out["value"] = None if value is None else int(value)
            return out
        if value is None:
            out["reason"] = UNDEFINED_REASONS.get(name, REASON_UNDEFINED)
            if name == "tpr_at_fixed_specificity" and (
                self._spec is None or self._spec.value is None
            ):
                out["reason"] = REASON_NO_SPEC
            return out
        if key in intervals:
            low, high, share = intervals[key]
            out["ci_low"], out["ci_high"] = _float(low[g]), _float(high[g])
            if share[g] > 0:
                out["ci_undefined_share"] = float(share[g])
        if name in PROPORTIONS and "::" not in key and f"#{PROPORTIONS[name][1]}" in point:
            num, den = PROPORTIONS[name]
            low_w, high_w = wilson_interval(
                point[f"#{num}"][g : g + 1], point[f"#{den}"][g : g + 1]
            )
            out["wilson_low"], out["wilson_high"] = _float(low_w[0]), _float(high_w[0])
        return out


def evaluate_file(
    predictions: str | Path,
    *,
    task: Task | str = Task.BINARY,
    label: str | None = "label",
    scores: tuple[str, ...] = (),
    patient: str | None = None,
    groups: tuple[str, ...] = (),
    threshold: float | None = None,
    threshold_from: str | None = None,
    target_specificity: float = 0.9,
    intersections: int = 1,
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> AuditResult:
    """Load a predictions file and evaluate it: the one library call behind ``auditkit evaluate``.

    Reads the table with :func:`~auditkit.evaluate.load_predictions` (``task``, ``label``,
    ``scores``, ``patient``, ``groups``), then builds :class:`AuditResult` with the other
    parameters and a provenance naming the file's SHA-256, the columns used and the versions
    of :data:`EVALUATE_PACKAGES`. ``log`` is called once, with the size of the job, before
    the bootstrap starts.

    Raises
    ------
    PredictionsError
        The table is unreadable or malformed (see :func:`auditkit.evaluate.prepare_predictions`).
    EvaluationError
        Inconsistent evaluation settings (both ``threshold`` and ``threshold_from`` ...).
    """
    task = Task(task)
    table = load_predictions(
        predictions, task=task, label=label, scores=scores, patient=patient, groups=groups
    )
    if log is not None:
        log(f"evaluating {table.n} rows, {len(groups)} attribute(s), {n_boot} bootstrap replicates")
    return AuditResult(
        predictions=table,
        threshold=threshold,
        threshold_from=threshold_from,
        target_specificity=target_specificity,
        intersections=intersections,
        min_group_size=min_group_size,
        n_boot=n_boot,
        seed=seed,
        provenance={
            "predictions_sha256": sha256_file(Path(predictions)),
            "label_column": None if task is Task.SEGMENTATION else label,
            "patient_column": patient,
            "group_columns": list(groups),
            "packages": package_versions(EVALUATE_PACKAGES),
        },
    )


__all__ = [
    "BINARY_METRICS",
    "EVALUATE_PACKAGES",
    "AuditResult",
    "Threshold",
    "evaluate_file",
    "parse_threshold_rule",
]
