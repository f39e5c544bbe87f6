"""The gate stage: judge RESULTS.json against a policy, deciding on confidence intervals.

* :func:`load_policy` / :func:`parse_policy` -> :class:`Policy`: a validated policy YAML,
  shipped (by name: :func:`list_policies`, :func:`resolve_policy`) or a file (``policy``);
  :func:`policy_to_dict` is the ``auditkit policies show --json`` view.
* :func:`run_gate` -> :class:`GateResult` (:class:`CheckResult` per check, a :class:`Verdict`):
  the decisions (``judge``); :func:`gate_from_files` loads the policy and results first, the
  call behind ``auditkit gate``. :func:`gate_to_dict` is the ``--json`` view.
* :func:`text_summary`, :func:`markdown_summary` (``summary``) and :func:`junit_xml`,
  :func:`write_junit` (``junit``) render a gate result for terminals, PR comments and CI.

Light: PyYAML and numpy only, never torch or the inference stage.
"""

from auditkit.gate.judge import (
    CheckResult,
    GateResult,
    Outcome,
    Verdict,
    decide,
    gate_from_files,
    gate_to_dict,
    run_gate,
)
from auditkit.gate.junit import junit_xml, write_junit
from auditkit.gate.policy import (
    Check,
    InsufficientAction,
    LimitKind,
    MinimumEvidence,
    Policy,
    Scope,
    list_policies,
    load_policy,
    parse_policy,
    policy_to_dict,
    resolve_policy,
    shipped_policy_dir,
)
from auditkit.gate.summary import markdown_summary, text_summary, verdict_line

__all__ = [
    "Check",
    "CheckResult",
    "GateResult",
    "InsufficientAction",
    "LimitKind",
    "MinimumEvidence",
    "Outcome",
    "Policy",
    "Scope",
    "Verdict",
    "decide",
    "gate_from_files",
    "gate_to_dict",
    "junit_xml",
    "list_policies",
    "load_policy",
    "markdown_summary",
    "parse_policy",
    "policy_to_dict",
    "resolve_policy",
    "run_gate",
    "shipped_policy_dir",
    "text_summary",
    "verdict_line",
    "write_junit",
]
