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
  from disparities. Groups with fewer than ``min_group_size`` rows get status ``insufficient``
  with the reason, and are excluded from disparities.
* Eligibility is per metric: a (binary) group with one class stays ``ok`` and takes part in
  every metric defined without the other class (FPR, specificity, selection rate, demographic
  parity and the FPR side of equalized odds need negatives only; TPR/FNR positives only; AUROC
  both); its ``reason`` names the undefined metrics and why.
* Undefined metrics are ``null`` with a reason, never 0.
* Disparity tests are omnibus tests whose statistic is the reported gap
  (:mod:`auditkit.metrics.omnibus`), adjusted across attributes and metrics (Holm, or
  Benjamini-Hochberg); :attr:`AuditResult.pairwise` compares each group with a reference group
  as a second view, adjusted within the attribute.
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
from auditkit.metrics.bootstrap import (
    bca_interval,
    jackknife_weights,
    percentile_interval,
    run_bootstrap,
)
from auditkit.metrics.disparities import (
    BINARY_SPECS,
    MULTICLASS_SPECS,
    REGRESSION_SPECS,
    SEGMENTATION_SPECS,
    Adjustment,
    DisparitySpec,
    attribute_disparities,
    fairlearn_disparities,
    holm_flags,
    reference_comparisons,
)
from auditkit.metrics.kernels import (
    BINARY_METRICS,
    PROPORTIONS,
    threshold_for_specificity,
    threshold_youden,
    wilson_interval,
)
from auditkit.metrics.omnibus import rate_null_draws, unit_null_draws
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
    PairwiseEntry,
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
REASON_ONE_CLASS: Final = (
    "{what}: {metrics} undefined (they need {need}); the metrics defined without them "
    "are reported and judged"
)
MSG_ADJUST: Final = "--adjust must be 'holm' or 'bh', not '{value}'"
MSG_REFERENCE: Final = "--reference-group must be ATTRIBUTE=GROUP, not '{value}'"
MSG_REFERENCE_UNKNOWN: Final = "--reference-group names attribute '{attribute}', not audited"

#: Permutations of the stratified rate tests (at least B): drawing a permutation's group
#: counts from the multivariate hypergeometric law costs O(groups), and a floor of 1 / 10,000
#: leaves Holm room across many attributes and intersections (with B = 1,000 the smallest
#: p-value, 1 / 1,001, survives Holm over at most 49 tests).
RATE_PERMUTATIONS: Final = 9999
#: Budget of the unit (patient, row) permutations, units x permutations: small data sets get
#: up to :data:`RATE_PERMUTATIONS` permutations (a finer p-value floor), large ones B.
UNIT_PERMUTATION_BUDGET: Final = 20_000_000

#: Metrics whose percentile interval is biased (ECE is inflated by resampling, AUROC skewed
#: near 1): their intervals are BCa (:func:`auditkit.metrics.bootstrap.bca_interval`).
BCA_METRICS: Final = frozenset({"auroc", "ece", "macro_auroc", "macro_ece"})

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


_Interval = tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_] | None]


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
        adjust: str = "holm",
        reference_groups: dict[str, str] | None = None,
        more_thresholds: tuple[float, ...] = (),
    ) -> None:
        if threshold is not None and threshold_from is not None:
            raise EvaluationError(MSG_BOTH_THRESHOLDS)
        if intersections < 1:
            raise EvaluationError(MSG_INTERSECTIONS)
        if n_boot < 0 or min_group_size < 1 or not 0.0 < ci_level < 1.0:
            raise EvaluationError("n_boot >= 0, min_group_size >= 1 and 0 < ci_level < 1")
        if adjust not in ("holm", "bh"):
            raise EvaluationError(MSG_ADJUST.format(value=adjust))
        self._adjust: Adjustment = "holm" if adjust == "holm" else "bh"
        self._references = dict(reference_groups or {})
        for attribute in self._references:
            if attribute not in predictions.attributes:
                raise EvaluationError(MSG_REFERENCE_UNKNOWN.format(attribute=attribute))
        self._pairwise: list[PairwiseEntry] = []
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
        if more_thresholds and predictions.task is not Task.BINARY:
            more_thresholds = ()  # the threshold_ignored warning already says so
        # Each further operating point is a full evaluation at that threshold with the same
        # seed: the same resamples, so its intervals and tests are comparable.
        self._more = [
            AuditResult(
                predictions=predictions,
                threshold=t,
                target_specificity=target_specificity,
                intersections=intersections,
                min_group_size=min_group_size,
                n_boot=n_boot,
                seed=seed,
                ci_level=ci_level,
                adjust=adjust,
                reference_groups=reference_groups,
            )
            for t in more_thresholds
        ]

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

    @property
    def operating_points(self) -> list[AuditResult]:
        """Evaluations at the further thresholds (``more_thresholds``), in order."""
        return self._more

    def operating_point(self) -> dict[str, Any]:
        """This evaluation's threshold-dependent keys, as one ``operating_points`` entry."""
        return {
            "threshold": {
                "value": self._threshold.value,
                "method": self._threshold.method,
                "target_specificity": self._threshold.target_specificity,
            },
            "overall": self.overall,
            "groups": self.by_group,
            "intersections": self.intersections,
            "disparities": self.disparities,
            "pairwise": self._pairwise,
        }

    @property
    def pairwise(self) -> list[PairwiseEntry]:
        """Second view: each group against its attribute's reference group, adjusted within
        the attribute (single attributes only)."""
        return self._pairwise

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
        """The RESULTS.json document (keys fixed by ``results.schema.json``).

        The top level holds the first threshold; ``operating_points`` (only with further
        thresholds) one entry per further threshold.
        """
        document = self._document()
        if self._more:
            document["operating_points"] = [more.operating_point() for more in self._more]
        return document

    def _document(self) -> ResultsDocument:
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
                "bca_metrics": sorted(BCA_METRICS),
                "disparity_test": "omnibus range test (permutation of group labels, else "
                "bootstrap range), adjusted across attributes and metrics",
                "adjustment": self._adjust,
            },
            "attributes": list(pred.attributes),
            "classes": list(pred.classes),
            "overall": self.overall,
            "groups": self.by_group,
            "intersections": self.intersections,
            "disparities": self.disparities,
            "pairwise": self._pairwise,
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
        jack: dict[str, FloatArray] = {}
        if self._n_boot > 0:
            reps = run_bootstrap(
                statistic,
                n_rows=pred.n,
                n_boot=self._n_boot,
                seed=self._seed,
                clusters=pred.patients,
            )
            weights = jackknife_weights(n_rows=pred.n, seed=self._seed, clusters=pred.patients)
            jack = {
                k: v
                for k, v in statistic(weights).items()
                if k.rsplit("::", 1)[-1].split("/")[-1] in BCA_METRICS
            }
        # Permutations draw from their own stream: the bootstrap's replicates stay those of
        # earlier versions for the same seed.
        perm_rng = np.random.default_rng(np.random.SeedSequence([self._seed, 18]))
        entries: list[list[GroupEntry]] = []
        disparities: list[DisparityEntry] = []
        for i, grouping in enumerate(self._groupings):
            gp = {k.split("/", 1)[1]: v for k, v in point.items() if k.startswith(f"{i}/")}
            gr = {k.split("/", 1)[1]: v for k, v in reps.items() if k.startswith(f"{i}/")}
            gj = {k.split("/", 1)[1]: v for k, v in jack.items() if k.startswith(f"{i}/")}
            group_entries, usable = self._entries_for(grouping, gp, gr, gj)
            entries.append(group_entries)
            if i == 0:
                continue
            plain_point = {k: v for k, v in gp.items() if "::" not in k}
            plain_reps = {k: v for k, v in gr.items() if "::" not in k}
            disparities.extend(
                attribute_disparities(
                    self._specs(),
                    attribute=grouping.attribute,
                    names=grouping.names,
                    usable=usable,
                    point=plain_point,
                    replicates=plain_reps,
                    ci_level=self._level,
                    fairlearn_values=self._fairlearn_values(grouping, usable, gp),
                    null_draws=self._null_draws(grouping, usable, gp, perm_rng)
                    if self._n_boot > 0
                    else None,
                )
            )
            reference = self._references.get(grouping.attribute)
            if grouping.crossed == 1 and reference is not None and reference not in grouping.names:
                self._warnings.append(
                    {
                        "code": "reference_group_unknown",
                        "message": f"--reference-group: attribute '{grouping.attribute}' has no "
                        "such group; the largest group is the reference",
                        "count": 0,
                    }
                )
                self._references.pop(grouping.attribute)
            if grouping.crossed == 1 and self._n_boot > 0:
                self._pairwise.extend(
                    reference_comparisons(
                        self._specs(),
                        attribute=grouping.attribute,
                        names=grouping.names,
                        usable=usable,
                        sizes=np.bincount(grouping.codes, minlength=len(grouping.names)),
                        point=plain_point,
                        replicates=plain_reps,
                        reference=self._references.get(grouping.attribute),
                        ci_level=self._level,
                        adjust=self._adjust,
                    )
                )
        holm_flags(disparities, alpha=1.0 - self._level, adjust=self._adjust)
        return entries, disparities

    def _null_draws(
        self,
        grouping: _Grouping,
        usable: npt.NDArray[np.bool_],
        point: dict[str, FloatArray],
        rng: np.random.Generator,
    ) -> dict[str, FloatArray] | None:
        """Group values under permutation of the group labels, per metric that has them.

        Binary rates are permuted within their stratum (exact, from the group counts); with a
        patient column the patients are permuted, each with all its rows, when the attribute
        is constant within every patient. Mean metrics (regression, segmentation) permute the
        rows (or patients). Other metrics (AUROC, multiclass) get the bootstrap range test.
        """
        pred = self._pred
        task = pred.task
        if task is Task.MULTICLASS:
            return None
        n_groups = len(grouping.names)
        units = self._permutation_units(grouping, usable)
        if units is None:
            return None
        if task is Task.BINARY:
            rates = {
                "selection_rate": ("#pp", "#n"),
                "tpr": ("#tp", "#pos"),
                "fpr": ("#fp", "#neg"),
            }
            if units == "rows":
                return {
                    metric: rate_null_draws(
                        successes=np.where(usable, point[num], 0.0),
                        trials=np.where(usable, point[den], 0.0),
                        n_perm=max(self._n_boot, RATE_PERMUTATIONS),
                        rng=rng,
                    )
                    for metric, (num, den) in rates.items()
                }
            y = pred.labels.astype(np.float64)
            t = self._threshold.value
            pp = (pred.scores[:, 0] >= (0.5 if t is None else t)).astype(np.float64)
            per_row = {
                "selection_rate": (pp, np.ones_like(y)),
                "tpr": (pp * y, y),
                "fpr": (pp * (1.0 - y), 1.0 - y),
            }
        else:
            per_row = {}
            for j, name in enumerate(pred.score_names if task is Task.SEGMENTATION else ()):
                values = pred.scores[:, j]
                ok = np.isfinite(values)
                per_row[name] = (np.where(ok, values, 0.0), ok.astype(np.float64))
            if task is Task.REGRESSION:
                err = pred.scores[:, 0] - pred.labels
                per_row = {
                    "mae": (np.abs(err), np.ones_like(err)),
                    "bias": (err, np.ones_like(err)),
                }
        keep = usable[grouping.codes]
        cluster = pred.patients if units == "patients" else None
        unit_of_row = np.flatnonzero(keep) if cluster is None else cluster[keep]
        _, unit_codes = np.unique(unit_of_row, return_inverse=True)
        n_units = int(unit_codes.max()) + 1 if len(unit_codes) else 0
        labels = np.zeros(n_units, dtype=np.int64)
        labels[unit_codes] = grouping.codes[keep]

        def unit_sums(values: FloatArray) -> FloatArray:
            summed = np.bincount(unit_codes, weights=values[keep], minlength=n_units)
            return summed.astype(np.float64)

        numerators = {m: unit_sums(v) for m, (v, _) in per_row.items()}
        denominators = {m: unit_sums(d) for m, (_, d) in per_row.items()}
        affordable = min(RATE_PERMUTATIONS, UNIT_PERMUTATION_BUDGET // max(n_units, 1))
        return unit_null_draws(
            labels=labels,
            numerators=numerators,
            denominators=denominators,
            n_groups=n_groups,
            n_perm=max(self._n_boot, affordable),
            rng=rng,
        )

    def _permutation_units(self, grouping: _Grouping, usable: npt.NDArray[np.bool_]) -> str | None:
        """``"rows"``, ``"patients"`` (the attribute is constant within each patient), or
        ``None`` (it varies within a patient: no exchangeable unit, bootstrap range test)."""
        patients = self._pred.patients
        if usable.sum() < 2:
            return None
        if patients is None:
            return "rows"
        pairs = np.unique(np.column_stack([patients, grouping.codes]), axis=0)
        return "patients" if len(pairs) == len(np.unique(patients)) else None

    def _specs(self) -> tuple[DisparitySpec, ...]:
        return {
            Task.BINARY: BINARY_SPECS,
            Task.MULTICLASS: MULTICLASS_SPECS,
            Task.REGRESSION: REGRESSION_SPECS,
            Task.SEGMENTATION: SEGMENTATION_SPECS,
        }[self._pred.task]

    def _fairlearn_values(
        self, grouping: _Grouping, usable: npt.NDArray[np.bool_], point: dict[str, FloatArray]
    ) -> dict[str, float] | None:
        """Point disparities from fairlearn's MetricFrame on the usable groups (binary only).

        fairlearn scores a rate without a denominator as 0, so it is asked only when every
        usable group has both classes (else our per-metric eligibility gives the values).
        """
        if self._pred.task is not Task.BINARY or usable.sum() < 2:
            return None
        if ((point["n_pos"] == 0) | (point["n_neg"] == 0))[usable].any():
            return None
        rows = usable[grouping.codes]
        t = self._threshold.value if self._threshold.value is not None else 0.5
        return fairlearn_disparities(
            y_true=self._pred.labels[rows].astype(np.int64),
            y_pred=(self._pred.scores[rows, 0] >= t).astype(np.int64),
            groups=np.asarray(grouping.names, dtype=object)[grouping.codes[rows]],
        )

    def _intervals(
        self, point: dict[str, FloatArray], reps: dict[str, FloatArray], jack: dict[str, FloatArray]
    ) -> dict[str, _Interval]:
        """Per metric key: ``(low, high, undefined share, BCa fallback mask or None)``."""
        out: dict[str, _Interval] = {}
        for key, values in reps.items():
            if key.split("::")[-1].startswith("#"):
                continue
            low, high, share = percentile_interval(values, level=self._level)
            shifted = None
            if key in jack:
                low, high, shifted = bca_interval(values, point[key], jack[key], level=self._level)
            out[key] = (low, high, share, shifted)
        return out

    def _one_class_reason(self, point: dict[str, FloatArray], g: int) -> str | None:
        """Why a binary group with one class has undefined metrics (``None`` with both)."""
        if self._pred.task is not Task.BINARY:
            return None
        if point["n_pos"][g] == 0:
            what, need = REASON_NO_POS, "positive cases"
        elif point["n_neg"][g] == 0:
            what, need = REASON_NO_NEG, "negative cases"
        else:
            return None
        undefined = [
            m
            for m in BINARY_METRICS
            if m not in ("n_pos", "n_neg") and not np.isfinite(point[m][g])
        ]
        return REASON_ONE_CLASS.format(what=what, metrics=", ".join(undefined), need=need)

    def _entries_for(
        self,
        grouping: _Grouping,
        point: dict[str, FloatArray],
        reps: dict[str, FloatArray],
        jack: dict[str, FloatArray],
    ) -> tuple[list[GroupEntry], npt.NDArray[np.bool_]]:
        pred = self._pred
        n_groups = len(grouping.names)
        sizes = np.bincount(grouping.codes, minlength=n_groups)
        patients = None
        if pred.patients is not None:
            pairs = np.unique(np.column_stack([grouping.codes, pred.patients]), axis=0)
            patients = np.bincount(pairs[:, 0], minlength=n_groups)
        intervals = self._intervals(point, reps, jack)
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
            else:
                reason = self._one_class_reason(point, g)
            usable[g] = status == "ok"
            if reason is not None and grouping.attribute != OVERALL_ATTRIBUTE:
                self._warnings.append(
                    {
                        "code": f"group_{status}" if status != "ok" else "group_one_class",
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
        intervals: dict[str, _Interval],
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
            low, high, share, shifted = intervals[key]
            out["ci_low"], out["ci_high"] = _float(low[g]), _float(high[g])
            if share[g] > 0:
                out["ci_undefined_share"] = float(share[g])
            if shifted is not None and out["ci_low"] is not None:
                out["ci_method"] = "bias-shifted" if shifted[g] else "bca"

        if name in PROPORTIONS and "::" not in key and f"#{PROPORTIONS[name][1]}" in point:
            num, den = PROPORTIONS[name]
            low_w, high_w = wilson_interval(
                point[f"#{num}"][g : g + 1], point[f"#{den}"][g : g + 1]
            )
            out["wilson_low"], out["wilson_high"] = _float(low_w[0]), _float(high_w[0])
        return out


def parse_reference_groups(values: tuple[str, ...]) -> dict[str, str]:
    """``("site=S01", ...)`` -> ``{"site": "S01"}``; raise :class:`EvaluationError` otherwise."""
    out: dict[str, str] = {}
    for value in values:
        attribute, sep, group = value.partition("=")
        if not sep or not attribute.strip() or not group.strip():
            raise EvaluationError(MSG_REFERENCE.format(value=value))
        out[attribute.strip()] = group.strip()
    return out


def evaluate_file(
    predictions: str | Path,
    *,
    task: Task | str = Task.BINARY,
    label: str | None = "label",
    scores: tuple[str, ...] = (),
    patient: str | None = None,
    groups: tuple[str, ...] = (),
    threshold: float | tuple[float, ...] | None = None,
    threshold_from: str | None = None,
    target_specificity: float = 0.9,
    intersections: int = 1,
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    adjust: str = "holm",
    reference_groups: dict[str, str] | None = None,
    vendor_columns: tuple[str, ...] = (),
    vendor_table: str | Path | None = None,
) -> AuditResult:
    """Load a predictions file and evaluate it: the one library call behind ``auditkit evaluate``.

    Reads the table with :func:`~auditkit.evaluate.load_predictions` (``task``, ``label``,
    ``scores``, ``patient``, ``groups``, ``vendor_columns``, ``vendor_table``), then builds
    :class:`AuditResult` with the other parameters and a provenance naming the file's
    SHA-256, the columns used and the versions of :data:`EVALUATE_PACKAGES`. ``log`` is
    called once, with the size of the job, before the bootstrap starts.

    Raises
    ------
    PredictionsError
        The table is unreadable or malformed (see :func:`auditkit.evaluate.prepare_predictions`).
    EvaluationError
        Inconsistent evaluation settings (both ``threshold`` and ``threshold_from`` ...).

    ``threshold`` may be several thresholds (``--threshold`` repeated): the first is the top
    level of RESULTS.json, the others its ``operating_points``.
    """
    task = Task(task)
    thresholds = threshold if isinstance(threshold, tuple) else (threshold,)
    if len(thresholds) == 0:
        thresholds = (None,)
    table = load_predictions(
        predictions,
        task=task,
        label=label,
        scores=scores,
        patient=patient,
        groups=groups,
        vendor_columns=vendor_columns,
        vendor_table=vendor_table,
    )
    if log is not None:
        log(f"evaluating {table.n} rows, {len(groups)} attribute(s), {n_boot} bootstrap replicates")
    return AuditResult(
        predictions=table,
        threshold=thresholds[0],
        more_thresholds=tuple(t for t in thresholds[1:] if t is not None),
        adjust=adjust,
        reference_groups=reference_groups,
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
            **_vendor_provenance(vendor_columns, vendor_table),
        },
    )


def _vendor_provenance(columns: tuple[str, ...], table: str | Path | None) -> dict[str, Any]:
    # Only when used: RESULTS.json of runs without the option stay as they were.
    if not columns:
        return {}
    return {
        "vendor_columns": list(columns),
        "vendor_table": Path(table).name if table is not None else None,
    }


__all__ = [
    "BINARY_METRICS",
    "EVALUATE_PACKAGES",
    "AuditResult",
    "Threshold",
    "evaluate_file",
    "parse_reference_groups",
    "parse_threshold_rule",
]
