"""Human summaries of a gate result: one screen of text, and Markdown for PR comments."""

from __future__ import annotations

from auditkit.gate.judge import CheckResult, GateResult, Outcome, Verdict

_SYMBOL = {
    Outcome.PASS: "PASS",
    Outcome.FAIL: "FAIL",
    Outcome.INSUFFICIENT: "INSUF",
    Outcome.SKIPPED: "SKIP",
}
_EMOJI = {
    Outcome.PASS: "✅",
    Outcome.FAIL: "❌",
    Outcome.INSUFFICIENT: "⚠️",
    Outcome.SKIPPED: "➖",
}


def verdict_line(result: GateResult) -> str:
    """One line: the verdict and what it means for the pipeline."""
    verdict = result.verdict
    if verdict is Verdict.PASS:
        return f"GATE PASSED: every check clears its limit (policy {result.policy.name})"
    if verdict is Verdict.FAIL:
        n = result.count(Outcome.FAIL)
        return (
            f"GATE FAILED: {n} check{'s' if n != 1 else ''} violate the policy "
            f"{result.policy.name} with confidence (CI entirely on the wrong side)"
        )
    n = result.count(Outcome.INSUFFICIENT)
    effect = "counts as failure" if result.insufficient_fails else "warning only, gate passes"
    return (
        f"GATE INSUFFICIENT EVIDENCE: {n} check{'s' if n != 1 else ''} cannot be decided "
        f"({effect}; policy {result.policy.name})"
    )


def _counts(result: GateResult) -> str:
    return ", ".join(f"{result.count(o)} {o.value}" for o in Outcome)


def _ordered(result: GateResult) -> list[CheckResult]:
    rank = {Outcome.FAIL: 0, Outcome.INSUFFICIENT: 1, Outcome.PASS: 2, Outcome.SKIPPED: 3}
    return sorted(result.checks, key=lambda c: rank[c.outcome])


def text_summary(result: GateResult, *, max_lines: int = 20) -> str:
    """A one-screen plain-text summary: verdict, counts, then the checks that matter most."""
    lines = [verdict_line(result), f"checks: {_counts(result)}", ""]
    shown = _ordered(result)
    for check in shown[:max_lines]:
        lines.append(f"  {_SYMBOL[check.outcome]:<5} {check.name}: {check.message}")
    if len(shown) > max_lines:
        lines.append(f"  ... {len(shown) - max_lines} more (see --junit / --json)")
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_summary(result: GateResult) -> str:
    """Markdown for a pull-request comment: verdict, counts and a table of the checks."""
    verdict = result.verdict
    icon = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.INSUFFICIENT: "⚠️"}[verdict]
    lines = [
        f"## {icon} auditkit gate: {verdict.value.upper()}",
        "",
        _md_escape(verdict_line(result)),
        "",
        f"**Policy:** `{result.policy.name}` · **Checks:** {_counts(result)}"
        + (" · compared with a baseline" if result.baseline_used else ""),
        "",
        "| | Check | Metric | Value [95% CI] | Limit | Decision |",
        "|---|---|---|---|---|---|",
    ]
    for c in _ordered(result):
        value = "n/a" if c.value is None else f"{c.value:.3f}"
        if c.ci_low is not None and c.ci_high is not None:
            value += f" [{c.ci_low:.3f}, {c.ci_high:.3f}]"
        limit = "" if c.limit is None else f"{c.comparison} {c.limit:.3f}"
        lines.append(
            f"| {_EMOJI[c.outcome]} | `{_md_escape(c.name)}` | {c.metric} | {value} | {limit} | "
            f"{_md_escape(c.message)} |"
        )
    lines += [
        "",
        "<sub>Decisions use confidence intervals: pass when the CI clears the limit, fail when "
        "it lies entirely on the wrong side, insufficient evidence otherwise.</sub>",
        "",
    ]
    return "\n".join(lines)
