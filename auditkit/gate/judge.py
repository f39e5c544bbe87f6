"""The CI gate: judge RESULTS.json against a policy, deciding on confidence intervals.

Every check has three outcomes (plus "skipped" for checks that do not apply):

* pass: the CI clears the limit (``ci_low >= min`` or ``ci_high <= max``);
* fail: the CI lies entirely on the wrong side (``ci_high < min`` or ``ci_low > max``);
* insufficient evidence: the CI straddles the limit, the group is below the policy's minimum
  evidence, the metric is undefined, or no CI was computed.

Change limits are judged on the CI of the *difference* of two independent estimates, the
current run's and the baseline's, so both uncertainties count (issue 18: a baseline taken as
exact made two samples of one model "regress with confidence"). The interval is Zou and
Donner's MOVER from the two RESULTS.json intervals, which every RESULTS.json carries::

    d = now - base
    low  = d - sqrt((now - now_low)^2 + (base_high - base)^2)
    high = d + sqrt((now_high - now)^2 + (base - base_low)^2)

(it uses each side's own, possibly skewed, bootstrap or BCa interval, and equals the normal
interval of the difference when both are symmetric). Absolute limits compare ``d`` with
``-max_drop`` / ``max_rise``; relative ones with ``-max_drop_relative * |base|`` /
``max_rise_relative * |base|``. A baseline without an interval (evaluated with
``--bootstrap 0``) falls back to the old rule, the baseline taken as exact, and the message
says so.

Minimum evidence is per metric: ``min_positives`` applies to metrics that need positives (TPR,
AUROC ...), ``min_negatives`` to those that need negatives (FPR, specificity, AUROC ...), so
a group with only negatives is judged on FPR and not held "insufficient" for it.

With several operating points (``operating_points`` in RESULTS.json) every threshold-dependent
check runs once per threshold; checks of further thresholds are named ``id@t=0.300[...]``.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from auditkit.gate.policy import Check, InsufficientAction, LimitKind, Policy, Scope, load_policy
from auditkit.results import (
    ResultsMapping,
    attributes_in,
    check_results,
    finite_or_none,
    group_entries,
    load_results,
    metric_of,
)


class Outcome(enum.Enum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT = "insufficient"
    SKIPPED = "skipped"


class Verdict(enum.Enum):
    """Outcome of the whole gate."""

    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT = "insufficient"


@dataclass(frozen=True)
class CheckResult:
    """The decision for one check on one group, attribute or the overall set."""

    check_id: str
    name: str
    metric: str
    scope: Scope
    outcome: Outcome
    message: str
    attribute: str | None = None
    group: str | None = None
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    limit: float | None = None
    comparison: str = ""
    description: str = ""
    threshold: float | None = None  # set on checks of a further operating point only


@dataclass(frozen=True)
class GateResult:
    """Every check's decision and the verdict; build it with :func:`run_gate`."""

    policy: Policy
    checks: tuple[CheckResult, ...]
    baseline_used: bool

    def count(self, outcome: Outcome) -> int:
        """Number of checks with ``outcome``."""
        return sum(1 for c in self.checks if c.outcome is outcome)

    @property
    def verdict(self) -> Verdict:
        """FAIL if any check fails, else INSUFFICIENT if any is, else PASS."""
        if self.count(Outcome.FAIL):
            return Verdict.FAIL
        if self.count(Outcome.INSUFFICIENT):
            return Verdict.INSUFFICIENT
        return Verdict.PASS

    @property
    def insufficient_fails(self) -> bool:
        """Whether the policy treats insufficient evidence as a failure."""
        return self.policy.insufficient is InsufficientAction.FAIL

    @property
    def passed(self) -> bool:
        """Whether the gate lets the model through under this policy."""
        verdict = self.verdict
        return verdict is Verdict.PASS or (
            verdict is Verdict.INSUFFICIENT and not self.insufficient_fails
        )

    def failing(self) -> list[CheckResult]:
        """Checks that block the gate, failures first."""
        blocking = [c for c in self.checks if c.outcome is Outcome.FAIL]
        if self.insufficient_fails:
            blocking += [c for c in self.checks if c.outcome is Outcome.INSUFFICIENT]
        return blocking


# ---------------------------------------------------------------- decisions


def decide(kind: LimitKind, limit: float, ci_low: float, ci_high: float) -> Outcome:
    """Three-state decision of an interval against a limit.

    ``MIN`` (and the drop limits) need ``value >= limit``; ``MAX`` (and the rise limits)
    need ``value <= limit``. An interval touching the limit from the good side passes.
    """
    if kind.needs_at_least:
        if ci_low >= limit:
            return Outcome.PASS
        return Outcome.FAIL if ci_high < limit else Outcome.INSUFFICIENT
    if ci_high <= limit:
        return Outcome.PASS
    return Outcome.FAIL if ci_low > limit else Outcome.INSUFFICIENT


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _judge(
    check: Check,
    *,
    name: str,
    metric_triplet: tuple[float | None, float | None, float | None],
    limit: float,
    kind: LimitKind,
    attribute: str | None,
    group: str | None,
    reason_if_undefined: str = "",
) -> CheckResult:
    value, low, high = metric_triplet
    comparison = ">=" if kind.needs_at_least else "<="
    base: dict[str, Any] = {
        "check_id": check.id,
        "name": name,
        "metric": check.metric,
        "scope": check.scope,
        "attribute": attribute,
        "group": group,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "limit": limit,
        "comparison": comparison,
        "description": check.description,
    }
    where = f"{attribute}={group}" if group is not None else (attribute or "overall")
    if value is None:
        why = reason_if_undefined or "the metric is undefined or absent in the results"
        return CheckResult(outcome=Outcome.INSUFFICIENT, message=f"{where}: {why}", **base)
    if low is None or high is None:
        message = f"{where}: {check.metric} has no confidence interval, cannot decide"
        return CheckResult(outcome=Outcome.INSUFFICIENT, message=message, **base)
    outcome = decide(kind, limit, low, high)
    shown = f"{check.metric} {_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"
    text = {
        Outcome.PASS: f"CI clears the limit {comparison} {limit:.3f}",
        Outcome.FAIL: f"CI entirely on the wrong side of {comparison} {limit:.3f}",
        Outcome.INSUFFICIENT: f"CI straddles the limit {comparison} {limit:.3f}",
    }[outcome]
    return CheckResult(outcome=outcome, message=f"{where}: {shown}: {text}", **base)


#: Metrics that need positive cases / negative cases (for the policy's minimum evidence).
NEEDS_POSITIVES: Final = frozenset(
    {"tpr", "auroc", "balanced_accuracy", "tpr_at_fixed_specificity", "ppv", "macro_auroc"}
)
NEEDS_NEGATIVES: Final = frozenset(
    {"fpr", "tnr", "auroc", "balanced_accuracy", "npv", "macro_auroc"}
)


def _evidence_problem(entry: Mapping[str, Any], policy: Policy, metric: str = "") -> str:
    status = str(entry.get("status") or "ok")
    n = finite_or_none(entry.get("n"))
    if n is not None and n < policy.min_cell_size:
        # The evaluation's reason may quote the count; small counts are never echoed.
        return f"fewer than {policy.min_cell_size} cases (count suppressed)"
    if status == "insufficient":
        return str(entry.get("reason") or "the evaluation marked the group as insufficient")
    evidence = policy.min_evidence
    if n is not None and n < evidence.min_group_size:
        return f"fewer than {evidence.min_group_size} cases (policy minimum)"
    n_pos = metric_of(entry, "n_pos")[0]
    needs_all = metric == ""
    if (
        (needs_all or metric in NEEDS_POSITIVES)
        and n_pos is not None
        and n_pos < evidence.min_positives
    ):
        return f"fewer than {evidence.min_positives} positives (policy minimum)"
    n_neg = metric_of(entry, "n_neg")[0]
    if (
        (needs_all or metric in NEEDS_NEGATIVES)
        and n_neg is not None
        and n_neg < evidence.min_negatives
    ):
        return f"fewer than {evidence.min_negatives} negatives (policy minimum)"
    return ""


def _group_checks(
    check: Check,
    policy: Policy,
    results: ResultsMapping,
    baseline: ResultsMapping | None,
) -> Iterator[CheckResult]:
    attributes = policy.attributes_for(check, attributes_in(results))
    entries: list[tuple[str | None, str | None, Mapping[str, Any]]] = []
    if check.scope is Scope.OVERALL or check.scope is Scope.CHANGE:
        entries.append((None, None, results["overall"]))
    if check.scope is not Scope.OVERALL:
        entries += [
            (str(e.get("attribute")), str(e.get("group")), e)
            for e in group_entries(results)
            if str(e.get("attribute")) in attributes
        ]
    yield from _absent_attributes(check, attributes, results)
    baseline_index: dict[tuple[str | None, str | None], Mapping[str, Any]] = {}
    if baseline is not None:
        baseline_index[(None, None)] = baseline["overall"]
        for e in group_entries(baseline):
            baseline_index[(str(e.get("attribute")), str(e.get("group")))] = e
    for attribute, group, entry in entries:
        name = f"{check.id}[{attribute}={group}]" if group is not None else f"{check.id}[overall]"
        common: dict[str, Any] = {
            "check_id": check.id,
            "name": name,
            "metric": check.metric,
            "scope": check.scope,
            "attribute": attribute,
            "group": group,
            "description": check.description,
        }
        where = f"{attribute}={group}" if group is not None else "overall"
        if str(entry.get("status")) == "missing" and not policy.check_missing_groups:
            msg = f"{where}: missing-value group, not judged (policy: missing_groups: skip)"
            yield CheckResult(outcome=Outcome.SKIPPED, message=msg, **common)
            continue
        problem = _evidence_problem(entry, policy, check.metric) if group is not None else ""
        if problem:
            msg = f"{where}: insufficient evidence: {problem}"
            yield CheckResult(outcome=Outcome.INSUFFICIENT, message=msg, **common)
            continue
        kind, limit = check.limit_kind, check.limit
        if check.scope is Scope.CHANGE:
            if baseline is None:
                msg = f"{where}: no baseline given (--baseline), change not checked"
                yield CheckResult(outcome=Outcome.SKIPPED, message=msg, **common)
                continue
            old_entry = baseline_index.get((attribute, group))
            old = metric_of(old_entry, check.metric) if old_entry is not None else None
            if old is None or old[0] is None:
                msg = f"{where}: no baseline value of {check.metric}, change not checked"
                yield CheckResult(outcome=Outcome.SKIPPED, message=msg, **common)
                continue
            yield _change_check(check, common, where, metric_of(entry, check.metric), old)
            continue
        metric = metric_of(entry, check.metric)
        raw = (entry.get("metrics") or {}).get(check.metric)
        reason = str(raw.get("reason") or "") if isinstance(raw, Mapping) else ""
        yield _judge(
            check,
            name=name,
            metric_triplet=metric,
            limit=limit,
            kind=kind,
            attribute=attribute,
            group=group,
            reason_if_undefined=reason,
        )


Triplet = tuple[float | None, float | None, float | None]


def change_interval(now: Triplet, base: Triplet) -> tuple[float, float] | None:
    """MOVER interval of ``now - base`` from the two estimates' own intervals (module doc).

    ``None`` when either side lacks a value or the current side lacks an interval; a baseline
    without an interval counts as exact (width 0 on its side).
    """
    v, lo, hi = now
    b, b_lo, b_hi = base
    if v is None or b is None or lo is None or hi is None:
        return None
    b_lo = b if b_lo is None else b_lo
    b_hi = b if b_hi is None else b_hi
    d = v - b
    return (
        d - math.hypot(v - lo, b_hi - b),
        d + math.hypot(hi - v, b - b_lo),
    )


def _change_limit(kind: LimitKind, limit: float, base: float) -> float:
    """The allowed change: ``-limit`` / ``+limit``, relative limits scaled by ``|base|``."""
    scale = abs(base) if kind in (LimitKind.MAX_DROP_RELATIVE, LimitKind.MAX_RISE_RELATIVE) else 1
    return -limit * scale if kind.needs_at_least else limit * scale


def _change_check(
    check: Check, common: dict[str, Any], where: str, now: Triplet, base: Triplet
) -> CheckResult:
    """Judge the change of one metric on the CI of the difference of the two estimates."""
    kind = check.limit_kind
    assert base[0] is not None
    allowed = _change_limit(kind, check.limit, base[0])
    comparison = ">=" if kind.needs_at_least else "<="
    fields = {**common, "limit": allowed, "comparison": comparison}
    interval = change_interval(now, base)
    if interval is None:
        why = "the metric is undefined" if now[0] is None else "it has no confidence interval"
        msg = f"{where}: change of {check.metric} cannot be decided: {why}"
        return CheckResult(outcome=Outcome.INSUFFICIENT, message=msg, value=None, **fields)
    assert now[0] is not None
    low, high = interval
    delta = now[0] - base[0]
    outcome = decide(kind, allowed, low, high)
    exact = base[1] is None or base[2] is None
    shown = (
        f"change of {check.metric} {delta:+.3f} [{low:+.3f}, {high:+.3f}] "
        f"(now {now[0]:.3f}, baseline {base[0]:.3f})"
    )
    note = " (baseline has no CI: taken as exact)" if exact else ""
    text = {
        Outcome.PASS: f"CI of the change clears {comparison} {allowed:+.3f}",
        Outcome.FAIL: f"CI of the change entirely on the wrong side of {comparison} {allowed:+.3f}",
        Outcome.INSUFFICIENT: f"CI of the change straddles {comparison} {allowed:+.3f}",
    }[outcome]
    return CheckResult(
        outcome=outcome,
        message=f"{where}: {shown}: {text}{note}",
        value=delta,
        ci_low=low,
        ci_high=high,
        **fields,
    )


def _absent_attributes(
    check: Check, attributes: tuple[str, ...], results: ResultsMapping
) -> Iterator[CheckResult]:
    # Only the policy-wide default selection can name an absent attribute here (a check's
    # own attributes were validated); say so visibly instead of skipping in silence.
    if check.scope is Scope.OVERALL:
        return
    present = set(attributes_in(results))
    for attribute in attributes:
        if attribute not in present:
            yield CheckResult(
                check_id=check.id,
                name=f"{check.id}[{attribute}]",
                metric=check.metric,
                scope=check.scope,
                outcome=Outcome.SKIPPED,
                message=f"{attribute}: attribute not in the results, not checked",
                attribute=attribute,
                description=check.description,
            )


def _disparity_checks(
    check: Check, policy: Policy, results: ResultsMapping
) -> Iterator[CheckResult]:
    attributes = policy.attributes_for(check, attributes_in(results))
    yield from _absent_attributes(check, attributes, results)
    attributes = tuple(a for a in attributes if a in set(attributes_in(results)))
    disparities = results.get("disparities", []) or []
    for attribute in attributes:
        found = [
            d
            for d in disparities
            if str(d.get("attribute")) == attribute and d.get("metric") == check.metric
        ]
        name = f"{check.id}[{attribute}]"
        if not found:
            yield CheckResult(
                check_id=check.id,
                name=name,
                metric=check.metric,
                scope=check.scope,
                outcome=Outcome.INSUFFICIENT,
                message=f"{attribute}: no {check.metric} in the results (fewer than two groups "
                "with sufficient evidence?)",
                attribute=attribute,
                limit=check.limit,
                description=check.description,
            )
            continue
        entry = found[0]
        triplet = (
            finite_or_none(entry.get("value")),
            finite_or_none(entry.get("ci_low")),
            finite_or_none(entry.get("ci_high")),
        )
        yield _judge(
            check,
            name=name,
            metric_triplet=triplet,
            limit=check.limit,
            kind=check.limit_kind,
            attribute=attribute,
            group=None,
            reason_if_undefined=str(entry.get("reason") or ""),
        )


def run_gate(
    results: ResultsMapping, policy: Policy, *, baseline: ResultsMapping | None = None
) -> GateResult:
    """Judge ``results`` against ``policy`` (both already in memory).

    Parameters
    ----------
    results
        A RESULTS.json mapping (see :func:`auditkit.results.load_results`).
    policy
        A validated policy (:func:`auditkit.gate.load_policy`).
    baseline
        An earlier RESULTS.json for change limits; change checks are skipped without one.

    Raises
    ------
    UnknownAttributeError
        If a check selects an attribute the results do not contain.
    """
    check_results(results)
    if baseline is not None:
        check_results(baseline, name="baseline")
    policy.validate_attributes(attributes_in(results))
    decided: list[CheckResult] = []
    for check in policy.checks:
        decided.extend(_checks(check, policy, results, baseline))
    for point in results.get("operating_points") or []:
        decided.extend(_operating_point_checks(policy, results, point))
    return GateResult(policy=policy, checks=tuple(decided), baseline_used=baseline is not None)


#: Metrics that depend on the operating threshold: checked once per threshold.
THRESHOLD_METRICS: Final = frozenset(
    {
        "selection_rate",
        "tpr",
        "fpr",
        "tnr",
        "ppv",
        "npv",
        "accuracy",
        "balanced_accuracy",
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equal_opportunity_difference",
        "worst_group_tpr",
    }
)


def _checks(
    check: Check, policy: Policy, results: ResultsMapping, baseline: ResultsMapping | None
) -> Iterator[CheckResult]:
    if check.scope is Scope.DISPARITY:
        return _disparity_checks(check, policy, results)
    return _group_checks(check, policy, results, baseline)


def _operating_point_checks(
    policy: Policy, results: ResultsMapping, point: Mapping[str, Any]
) -> Iterator[CheckResult]:
    """The threshold-dependent absolute checks again at one further threshold.

    Change checks compare the first threshold only (a baseline's further thresholds need not
    match).
    """
    threshold = finite_or_none((point.get("threshold") or {}).get("value"))
    if threshold is None:
        return
    view = {**results, **point}
    tag = f"@t={threshold:.3f}"
    for check in policy.checks:
        if check.metric not in THRESHOLD_METRICS or check.scope is Scope.CHANGE:
            continue
        for result in _checks(check, policy, view, None):
            yield dataclasses.replace(
                result,
                name=check.id + tag + result.name[len(check.id) :],
                message=f"t={threshold:.3f}: {result.message}",
                threshold=threshold,
            )


def gate_from_files(
    results: str | Path, policy: str | Path, *, baseline: str | Path | None = None
) -> GateResult:
    """Load a policy and RESULTS.json file(s) and judge them: the call behind ``auditkit gate``.

    Raises
    ------
    PolicyError
        The policy is unreadable or invalid (checked first).
    ResultsFormatError
        A results file is unreadable or breaks the schema.
    UnknownAttributeError
        A check selects an attribute the results do not contain.
    """
    loaded_policy = load_policy(policy)
    current = load_results(results)
    old = load_results(baseline, what="baseline") if baseline is not None else None
    return run_gate(current, loaded_policy, baseline=old)


def gate_to_dict(result: GateResult) -> dict[str, Any]:
    """A JSON-ready view of a gate result (``auditkit gate --json``)."""
    return {
        "verdict": result.verdict.value,
        "passed": result.passed,
        "policy": result.policy.name,
        "insufficient_evidence": result.policy.insufficient.value,
        "baseline_used": result.baseline_used,
        "counts": {o.value: result.count(o) for o in Outcome},
        "checks": [
            {
                "id": c.check_id,
                "name": c.name,
                "metric": c.metric,
                "scope": c.scope.value,
                "attribute": c.attribute,
                "group": c.group,
                "outcome": c.outcome.value,
                "value": c.value,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "limit": c.limit,
                "comparison": c.comparison,
                "message": c.message,
                **({"threshold": c.threshold} if c.threshold is not None else {}),
            }
            for c in result.checks
        ],
    }
