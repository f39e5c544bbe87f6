"""The HTML audit report: one self-contained file (inline CSS and SVG, no network, no JS needed).

:func:`build_report` turns a RESULTS.json mapping (plus, optionally, a policy, a baseline and
per-group curves) into HTML; :func:`write_report` writes it atomically; :func:`report_from_files`
loads every input first (``auditkit report``). ROC curves and reliability diagrams need per-case
scores, which RESULTS.json does not carry: pass the predictions table
(:func:`~auditkit.report.curves.curves_for_results`, CLI ``--predictions``) or give each
group entry optional ``roc`` (``{"fpr": [...], "tpr": [...]}``) and ``reliability``
(``{"mean_score": [...], "observed": [...], "count": [...]}``) fields.

Privacy: a group with fewer cases than ``min_cell_size`` is shown as counts-suppressed: no
count, no rate, no point in any plot and no curve, since small cells can re-identify people.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jinja2

from auditkit import __version__
from auditkit.gate.judge import CheckResult, GateResult, Outcome, change_interval, run_gate
from auditkit.gate.policy import LimitKind, Policy, Scope, load_policy
from auditkit.report.curves import CurveMap, GroupCurves, curves_for_results, curves_from_results
from auditkit.report.plots import (
    Curve,
    ForestPlot,
    ForestRow,
    HeatCell,
    forest_svg,
    heat_scale,
    heatmap_svg,
    metric_label,
    reliability_svg,
    roc_svg,
)
from auditkit.results import (
    ResultsMapping,
    attributes_in,
    finite_or_none,
    group_entries,
    load_results,
    metric_of,
)
from deidkit.core.io import atomic_write_text
from deidkit.core.resources import shipped_dir

#: Metrics drawn in forest plots and shown in group tables, in this order.
FOREST_METRICS: Final = ("auroc", "tpr", "tnr", "ppv", "ece")
TABLE_METRICS: Final = ("auroc", "tpr", "fpr", "tnr", "ppv", "npv", "balanced_accuracy", "ece")
THRESHOLD_TABLE_METRICS: Final = ("selection_rate", "tpr", "fpr", "ppv", "npv")
HEATMAP_METRIC_ORDER: Final = ("tpr", "auroc", "dice", "mae")
DEFAULT_TITLE: Final = "Subgroup performance and fairness audit"


# ---------------------------------------------------------------- formatting helpers


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ci(entry: Mapping[str, Any], metric: str) -> dict[str, Any]:
    value, low, high = metric_of(entry, metric)
    raw = (entry.get("metrics") or {}).get(metric)
    reason = str(raw.get("reason") or "") if isinstance(raw, Mapping) else ""
    return {
        "value": _fmt(value),
        "ci": f"{_fmt(low)}–{_fmt(high)}" if low is not None and high is not None else "",
        "sort": "" if value is None else f"{value:.6f}",
        "reason": reason if value is None else "",
    }


def _is_suppressed(entry: Mapping[str, Any], min_cell_size: int) -> bool:
    n = entry.get("n")
    return isinstance(n, int | float) and n < min_cell_size


def _size_label(entry: Mapping[str, Any], min_cell_size: int) -> str:
    if _is_suppressed(entry, min_cell_size):
        return f"{entry.get('group')}  (n<{min_cell_size}, suppressed)"
    prevalence = metric_of(entry, "prevalence")[0]
    base = f", {prevalence:.0%} pos" if prevalence is not None else ""
    return f"{entry.get('group')}  (n={entry.get('n')}{base})"


def _group_row(entry: Mapping[str, Any], min_cell_size: int) -> dict[str, Any]:
    suppressed = _is_suppressed(entry, min_cell_size)
    n_pos = metric_of(entry, "n_pos")[0]
    prevalence = metric_of(entry, "prevalence")[0]
    return {
        "group": str(entry.get("group")),
        "status": str(entry.get("status") or "ok"),
        "reason": str(entry.get("reason") or ""),
        "suppressed": suppressed,
        "n": f"<{min_cell_size}" if suppressed else str(entry.get("n")),
        "n_sort": -1 if suppressed else entry.get("n") or 0,
        "n_pos": "" if suppressed or n_pos is None else str(int(n_pos)),
        "prevalence": "" if suppressed or prevalence is None else f"{prevalence:.1%}",
        "metrics": {m: _ci(entry, m) for m in TABLE_METRICS},
    }


def _policy_limits(policy: Policy | None, attribute: str) -> dict[str, list[float]]:
    limits: dict[str, list[float]] = {}
    if policy is None:
        return limits
    for check in policy.checks:
        if check.scope is not Scope.GROUP or check.limit_kind not in (LimitKind.MIN, LimitKind.MAX):
            continue
        if attribute in policy.attributes_for(check, [attribute]):
            limits.setdefault(check.metric, []).append(check.limit)
    return limits


# ---------------------------------------------------------------- sections


def _attribute_section(
    attribute: str,
    entries: list[Mapping[str, Any]],
    overall: Mapping[str, Any],
    *,
    curves: Mapping[str, GroupCurves],
    policy: Policy | None,
    min_cell_size: int,
) -> dict[str, Any]:
    metrics = tuple(
        m for m in FOREST_METRICS if any(metric_of(e, m)[0] is not None for e in entries)
    )
    rows = []
    for e in entries:
        suppressed = _is_suppressed(e, min_cell_size)
        values = {} if suppressed else {m: metric_of(e, m) for m in metrics}
        rows.append(
            ForestRow(
                label=_size_label(e, min_cell_size),
                values=values,
                judged=str(e.get("status")) == "ok",
            )
        )
    plot = ForestPlot(
        attribute=attribute,
        metrics=metrics or ("auroc",),
        rows=tuple(rows),
        overall={m: metric_of(overall, m)[0] for m in metrics},
        limits=_policy_limits(policy, attribute),
    )
    shown = {
        str(e.get("group")): e
        for e in entries
        if not _is_suppressed(e, min_cell_size) and str(e.get("group")) in curves
    }
    roc_curves: list[Curve] = []
    reliability: list[Curve] = []
    for group, entry in shown.items():
        c = curves[group]
        value, low, high = metric_of(entry, "auroc")
        auc = f" AUROC {_fmt(value, 2)}" + (
            f" [{_fmt(low, 2)}, {_fmt(high, 2)}]" if low is not None else ""
        )
        roc_curves.append(Curve(label=f"{group}{auc}", x=c.fpr, y=c.tpr))
        if c.mean_score:
            reliability.append(
                Curve(
                    label=f"{group} (n={entry.get('n')})",
                    x=c.mean_score,
                    y=c.observed,
                    sizes=c.count,
                )
            )
    return {
        "name": attribute,
        "forest": forest_svg(plot),
        "rows": [_group_row(e, min_cell_size) for e in entries],
        "roc": roc_svg(attribute, roc_curves) if roc_curves else "",
        "reliability": reliability_svg(attribute, reliability) if reliability else "",
    }


def _heat_metric(entries: list[Mapping[str, Any]]) -> str | None:
    return next(
        (m for m in HEATMAP_METRIC_ORDER if any(metric_of(e, m)[0] is not None for e in entries)),
        None,
    )


def _heat_shown(entry: Mapping[str, Any], min_cell_size: int) -> bool:
    return not _is_suppressed(entry, min_cell_size) and str(entry.get("status")) == "ok"


def _heatmaps(
    by_attribute: Mapping[str, list[Mapping[str, Any]]], min_cell_size: int
) -> list[dict[str, Any]]:
    """One heat map per two-attribute intersection, one colour scale per metric."""
    chosen = {
        attribute: metric
        for attribute, entries in by_attribute.items()
        if attribute.count(" | ") == 1 and (metric := _heat_metric(entries)) is not None
    }
    scales = {
        metric: heat_scale(
            [
                metric_of(e, metric)[0]
                for attribute, m in chosen.items()
                if m == metric
                for e in by_attribute[attribute]
                if _heat_shown(e, min_cell_size)
            ]
        )
        for metric in set(chosen.values())
    }
    return [
        _heatmap(attribute, by_attribute[attribute], min_cell_size, metric, scales[metric])
        for attribute, metric in chosen.items()
    ]


def _heatmap(
    attribute: str,
    entries: list[Mapping[str, Any]],
    min_cell_size: int,
    metric: str,
    scale: tuple[float, float],
) -> dict[str, Any]:
    pairs = [(str(e.get("group")).partition(" | "), e) for e in entries]
    rows = sorted({p[0] for p, _ in pairs})
    cols = sorted({p[2] for p, _ in pairs})
    lookup = {(p[0], p[2]): e for p, e in pairs}
    cells: list[list[HeatCell]] = []
    for r in rows:
        line = []
        for c in cols:
            e = lookup.get((r, c))
            if e is None:
                line.append(HeatCell(None, "no cases"))
            elif _is_suppressed(e, min_cell_size):
                line.append(HeatCell(None, f"n<{min_cell_size}"))
            elif str(e.get("status")) != "ok":
                line.append(HeatCell(None, "insufficient"))
            else:
                value, low, high = metric_of(e, metric)
                if value is None:
                    line.append(HeatCell(None, f"undefined\nn={e.get('n')}"))
                    continue
                text = f"{_fmt(value, 2)}\n[{_fmt(low, 2)}, {_fmt(high, 2)}]\nn={e.get('n')}"
                line.append(HeatCell(value, text))
        cells.append(line)
    svg = heatmap_svg(attribute, metric=metric, rows=rows, cols=cols, cells=cells, scale=scale)
    return {"name": attribute, "metric": metric_label(metric), "svg": svg}


def _judged_changes(gate: GateResult | None) -> dict[tuple[str, str, str], CheckResult]:
    """Change checks the gate decided, by (attribute, group, metric)."""
    if gate is None:
        return {}
    return {
        (c.attribute or "overall", c.group or "all", c.metric): c
        for c in gate.checks
        if c.scope is Scope.CHANGE and c.outcome is not Outcome.SKIPPED
    }


def _baseline_changes(
    results: ResultsMapping,
    baseline: ResultsMapping,
    min_cell_size: int,
    gate: GateResult | None = None,
) -> list[dict[str, Any]]:
    """Every metric's change with the CI of the difference of the two estimates (MOVER,
    :func:`auditkit.gate.judge.change_interval`); only rows the gate judged are highlighted."""
    old_index = {(str(e.get("attribute")), str(e.get("group"))): e for e in group_entries(baseline)}
    old_index[("overall", "all")] = baseline["overall"]
    pairs = [(("overall", "all"), results["overall"])]
    pairs += [((str(e.get("attribute")), str(e.get("group"))), e) for e in group_entries(results)]
    judged = _judged_changes(gate)
    changes = []
    for key, entry in pairs:
        old = old_index.get(key)
        if (
            old is None
            or _is_suppressed(entry, min_cell_size)
            or _is_suppressed(old, min_cell_size)
        ):
            continue
        for metric in sorted(set(entry.get("metrics") or {}) & set(old.get("metrics") or {})):
            now, then = metric_of(entry, metric), metric_of(old, metric)
            if now[0] is None or then[0] is None or metric in ("n_pos", "n_neg"):
                continue
            delta = now[0] - then[0]
            interval = change_interval(now, then)
            check = judged.get((key[0], key[1], metric))
            changes.append(
                {
                    "attribute": key[0],
                    "group": key[1],
                    "metric": metric_label(metric),
                    "old": _fmt(then[0]),
                    "new": _fmt(now[0]),
                    "delta": f"{delta:+.3f}",
                    "delta_sort": f"{delta:.6f}",
                    "ci": "" if interval is None else f"{interval[0]:+.3f} to {interval[1]:+.3f}",
                    "outcome": "" if check is None else check.outcome.value,
                    "limit": "" if check is None else f"{check.comparison} {check.limit:+.3f}",
                }
            )
    # Judged rows first (failures first), then the rest in document order.
    rank = {"fail": 0, "insufficient": 1, "pass": 2, "": 3}
    return sorted(changes, key=lambda c: rank[c["outcome"]])


def _provenance_rows(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows += _provenance_rows(item, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
        return rows
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value[:12]) + (" …" if len(value) > 12 else "")
        return [(prefix, text)]
    return [(prefix, "" if value is None else str(value))]


def _verdict(gate: GateResult | None) -> dict[str, str]:
    if gate is None:
        return {
            "state": "none",
            "title": "No policy",
            "text": "No gate policy was given; the numbers below are not judged.",
        }
    state = gate.verdict.value
    counts = ", ".join(f"{gate.count(o)} {o.value}" for o in Outcome)
    title = {"pass": "PASS", "fail": "FAIL", "insufficient": "INSUFFICIENT EVIDENCE"}[state]
    extra = ""
    if state == "insufficient":
        extra = (
            " Treated as a failure by this policy."
            if gate.insufficient_fails
            else " A warning under this policy."
        )
    return {"state": state, "title": title, "text": f"Policy {gate.policy.name}: {counts}.{extra}"}


def build_report(
    results: ResultsMapping,
    *,
    policy: Policy | None = None,
    baseline: ResultsMapping | None = None,
    curves: CurveMap | None = None,
    min_cell_size: int | None = None,
    title: str = DEFAULT_TITLE,
) -> str:
    """Render the audit report as one self-contained HTML string.

    Parameters
    ----------
    results
        A RESULTS.json mapping.
    policy
        Gate policy for the verdict banner and limit lines; without one the banner says so.
    baseline
        Earlier RESULTS.json: adds the change of every metric (and feeds change limits).
    curves
        Per attribute and group ROC / reliability points
        (:func:`~auditkit.report.curves.curves_for_results`);
        ``roc``/``reliability`` fields in the results are used when this is ``None``.
    min_cell_size
        Groups with fewer cases are counts-suppressed (default: the policy's, else 10).
    """
    k = min_cell_size if min_cell_size is not None else (policy.min_cell_size if policy else 10)
    gate = run_gate(results, policy, baseline=baseline) if policy is not None else None
    curve_map = curves if curves is not None else curves_from_results(results)
    overall = results["overall"]
    by_attribute: dict[str, list[Mapping[str, Any]]] = {}
    for entry in group_entries(results):
        by_attribute.setdefault(str(entry.get("attribute")), []).append(entry)
    attributes = []
    heatmaps = _heatmaps(by_attribute, k)
    for attribute in attributes_in(results):
        entries = by_attribute.get(attribute, [])
        if not entries or " | " in attribute:
            continue
        attributes.append(
            _attribute_section(
                attribute,
                entries,
                overall,
                curves=curve_map.get(attribute, {}),
                policy=policy,
                min_cell_size=k,
            )
        )
    insufficient = _insufficient_rows(results, k)
    disparities = [_disparity_row(d) for d in results.get("disparities", []) or []]
    overall_metrics = [
        {"name": metric_label(m), **_ci(overall, m)}
        for m in (overall.get("metrics") or {})
        if m not in ("n_pos", "n_neg")
    ]
    context = {
        "title": title,
        "css": (shipped_dir("reports") / "assets" / "audit.css").read_text(encoding="utf-8"),
        "version": __version__,
        "verdict": _verdict(gate),
        "checks": [] if gate is None else [_check_row(c) for c in gate.checks],
        "threshold": _threshold_text(results.get("threshold")),
        "schema_version": results.get("schema_version"),
        "overall_n": overall.get("n"),
        "overall_prevalence": _fmt(metric_of(overall, "prevalence")[0]),
        "overall_metrics": overall_metrics,
        "provenance": _provenance_rows(results.get("provenance") or {}),
        "attributes": attributes,
        "has_curves": any(a["roc"] for a in attributes),
        "heatmaps": heatmaps,
        "disparities": [d for d in disparities if " | " not in d["attribute"]],
        "pairwise": [_pairwise_row(p) for p in results.get("pairwise", []) or []],
        "adjustment": _adjustment_text(results),
        "operating_points": [
            _operating_point(results, point, k) for point in results.get("operating_points") or []
        ],
        "intersection_disparities": [d for d in disparities if " | " in d["attribute"]],
        "insufficient": insufficient,
        "min_cell_size": k,
        "baseline": _baseline_changes(results, baseline, k, gate) if baseline is not None else None,
        "baseline_exact": baseline is not None and _lacks_intervals(baseline),
        "warnings": [
            suppress_small_counts(_warning_text(w), k) for w in results.get("warnings", []) or []
        ],
        "table_metrics": [(m, metric_label(m)) for m in TABLE_METRICS],
        "threshold_metrics": [(m, metric_label(m)) for m in THRESHOLD_TABLE_METRICS],
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(shipped_dir("reports")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("audit_report.html.j2").render(**context)


_COUNT_RE: Final = re.compile(r"\bn\s*=\s*(\d+)")


def suppress_small_counts(text: str, min_cell_size: int) -> str:
    """Replace ``n=<count>`` below ``min_cell_size`` in free text by ``n<min_cell_size``."""

    def replace(match: re.Match[str]) -> str:
        small = int(match.group(1)) < min_cell_size
        return f"n<{min_cell_size}" if small else match.group(0)

    return _COUNT_RE.sub(replace, text)


def _insufficient_rows(results: ResultsMapping, k: int) -> list[dict[str, str]]:
    rows = []
    for e in group_entries(results):
        suppressed = _is_suppressed(e, k)
        if str(e.get("status") or "ok") == "ok" and not suppressed:
            continue
        reason = str(e.get("reason") or "marked insufficient by the evaluation")
        rows.append(
            {
                "attribute": str(e.get("attribute")),
                "group": str(e.get("group")),
                "status": str(e.get("status")),
                "reason": f"fewer than {k} cases (counts suppressed for privacy)"
                if suppressed
                else suppress_small_counts(reason, k),
            }
        )
    return rows


def _disparity_row(d: Mapping[str, Any]) -> dict[str, Any]:
    value, low, high = (
        finite_or_none(d.get("value")),
        finite_or_none(d.get("ci_low")),
        finite_or_none(d.get("ci_high")),
    )
    used = [str(g) for g in d.get("groups_used") or []]
    compared = [str(g) for g in d.get("groups_compared") or []]
    worst = d.get("group")
    if worst is not None:
        groups = str(worst)  # a level: the worst group only
    else:
        groups = " vs ".join(compared) if compared else ", ".join(used)
    flag = d.get("significant", d.get("significant_holm"))
    p_adj = finite_or_none(d.get("p_value_adjusted", d.get("p_value_holm")))
    return {
        "attribute": str(d.get("attribute")),
        "metric": str(d.get("metric")).replace("_", " "),
        "value": _fmt(value),
        "ci": f"{_fmt(low)}–{_fmt(high)}" if low is not None and high is not None else "",
        "sort": "" if value is None else f"{value:.6f}",
        # None: not a test (worst-group levels) or not tested; never shown as "no".
        "significant": None if flag is None else bool(flag),
        "worst": worst is not None,
        "p_adjusted": "" if p_adj is None else f"{p_adj:.3g}",
        "test": str(d.get("test") or ""),
        "excludes_zero": low is not None and high is not None and (low > 0 or high < 0),
        "groups": groups,
        "n_groups": len(used),
    }


def _pairwise_row(p: Mapping[str, Any]) -> dict[str, Any]:
    value, low, high = (
        finite_or_none(p.get("value")),
        finite_or_none(p.get("ci_low")),
        finite_or_none(p.get("ci_high")),
    )
    p_adj = finite_or_none(p.get("p_value_adjusted"))
    return {
        "attribute": str(p.get("attribute")),
        "metric": metric_label(str(p.get("metric"))),
        "group": str(p.get("group")),
        "reference": str(p.get("reference")),
        "value": "–" if value is None else f"{value:+.3f}",
        "ci": f"{low:+.3f} to {high:+.3f}" if low is not None and high is not None else "",
        "p_adjusted": "" if p_adj is None else f"{p_adj:.3g}",
        "significant": bool(p.get("significant")),
    }


def _lacks_intervals(results: ResultsMapping) -> bool:
    overall = results.get("overall") or {}
    return all(metric_of(overall, m)[1] is None for m in (overall.get("metrics") or {}))


def _check_row(check: CheckResult) -> dict[str, Any]:
    # The message repeats value and CI; the table shows them in columns, so keep the why.
    why = check.message.rsplit(": ", 1)[-1]
    value = "–" if check.value is None else f"{check.value:.3f}"
    ci = ""
    change = check.scope is Scope.CHANGE
    if check.ci_low is not None and check.ci_high is not None:
        ci = (
            f"{check.ci_low:+.3f} to {check.ci_high:+.3f}"
            if change
            else f"{check.ci_low:.3f}–{check.ci_high:.3f}"
        )
    if change and check.value is not None:
        value = f"{check.value:+.3f}"
    limit = "" if check.limit is None else f"{check.comparison} {check.limit:.3f}"
    return {
        "outcome": check.outcome.value,
        "name": check.name,
        "metric": check.metric,
        "value": value,
        "ci": ci,
        "limit": limit,
        "why": why,
        "major": check.outcome in (Outcome.FAIL, Outcome.INSUFFICIENT),
    }


def _adjustment_text(results: ResultsMapping) -> str:
    bootstrap = results.get("bootstrap") or {}
    if bootstrap.get("adjustment") == "bh":
        return "Benjamini-Hochberg (false discovery rate)"
    return "Holm (family-wise error)"


def _operating_point(
    results: ResultsMapping, point: Mapping[str, Any], min_cell_size: int
) -> dict[str, Any]:
    """A further threshold: its per-group rates and its disparities."""
    rows = []
    for entry in point.get("groups") or []:
        if " | " in str(entry.get("attribute")):
            continue
        row = _group_row(entry, min_cell_size)
        row["attribute"] = str(entry.get("attribute"))
        row["metrics"] = {m: _ci(entry, m) for m in THRESHOLD_TABLE_METRICS}
        rows.append(row)
    disparities = [_disparity_row(d) for d in point.get("disparities") or []]
    return {
        "threshold": _threshold_text(point.get("threshold")) or "",
        "rows": rows,
        "disparities": [d for d in disparities if " | " not in d["attribute"]],
    }


def _threshold_text(threshold: Any) -> str | None:
    # RESULTS.json 1.0 stores {"value", "method", ...}; accept a bare number too.
    if isinstance(threshold, Mapping):
        value = finite_or_none(threshold.get("value"))
        method = threshold.get("method")
        if value is None:
            return None
        return f"{value:.3f}" + (f" ({method})" if method and method != "fixed" else "")
    value = finite_or_none(threshold)
    return None if value is None else f"{value:.3f}"


def _warning_text(warning: Any) -> str:
    if isinstance(warning, Mapping):
        return str(warning.get("message") or warning.get("code") or warning)
    return str(warning)


def write_report(path: str | Path, html: str) -> None:
    """Write the report atomically (never a half-written file)."""
    atomic_write_text(path, html)


def report_from_files(
    results: str | Path,
    *,
    baseline: str | Path | None = None,
    policy: str | Path | None = None,
    predictions: str | Path | None = None,
    label: str = "label",
    score: str | None = None,
    min_cell_size: int | None = None,
    title: str = DEFAULT_TITLE,
) -> str:
    """Load the inputs and render the report: the one library call behind ``auditkit report``.

    Parameters
    ----------
    results, baseline
        RESULTS.json files (validated by :func:`auditkit.results.load_results`).
    policy
        Policy YAML for the verdict banner (:func:`auditkit.gate.load_policy`).
    predictions
        The predictions table the results came from: ROC and reliability curves by group
        (:func:`~auditkit.report.curves.curves_for_results` with ``label`` and ``score``).
    min_cell_size, title
        As :func:`build_report`.
    """
    data = load_results(results)
    old = load_results(baseline, what="baseline") if baseline is not None else None
    loaded_policy = load_policy(policy) if policy is not None else None
    curves = None
    if predictions is not None:
        curves = curves_for_results(data, predictions, label=label, score=score)
    return build_report(
        data,
        policy=loaded_policy,
        baseline=old,
        curves=curves,
        min_cell_size=min_cell_size,
        title=title,
    )
