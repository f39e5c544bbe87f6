"""JUnit XML for the gate: one ``<testcase>`` per check, so CI systems list them natively.

The layout follows the common JUnit schema (Jenkins/GitLab/GitHub test reporters):
``<testsuites>`` holding one ``<testsuite>`` with ``tests``/``failures``/``errors``/``skipped``
counts; a failed check carries ``<failure>``; an insufficient-evidence check carries
``<failure type="insufficient-evidence">`` when the policy treats it as a failure and
``<skipped>`` otherwise; a check that does not apply carries ``<skipped>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from auditkit.gate.judge import CheckResult, GateResult, Outcome
from deidkit.core.io import atomic_write_bytes


def _case(suite: ET.Element, check: CheckResult, *, insufficient_fails: bool) -> str:
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": f"auditkit.gate.{check.check_id}", "name": check.name, "time": "0"},
    )
    if check.outcome is Outcome.FAIL:
        ET.SubElement(
            case, "failure", {"type": "limit-violated", "message": check.message}
        ).text = check.description or check.message
        return "failure"
    if check.outcome is Outcome.INSUFFICIENT:
        if insufficient_fails:
            ET.SubElement(
                case, "failure", {"type": "insufficient-evidence", "message": check.message}
            ).text = "insufficient evidence counts as a failure under this policy"
            return "failure"
        ET.SubElement(case, "skipped", {"message": f"insufficient evidence: {check.message}"})
        return "skipped"
    if check.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", {"message": check.message})
        return "skipped"
    ET.SubElement(case, "system-out").text = check.message
    return "pass"


def junit_xml(result: GateResult, *, suite_name: str = "auditkit-gate") -> bytes:
    """Render ``result`` as JUnit XML (UTF-8 bytes with an XML declaration)."""
    root = ET.Element("testsuites", {"name": suite_name})
    suite = ET.SubElement(
        root, "testsuite", {"name": f"{suite_name}: {result.policy.name}", "time": "0"}
    )
    kinds = [_case(suite, c, insufficient_fails=result.insufficient_fails) for c in result.checks]
    counts = {
        "tests": str(len(kinds)),
        "failures": str(kinds.count("failure")),
        "errors": "0",
        "skipped": str(kinds.count("skipped")),
    }
    for element in (root, suite):
        for key, value in counts.items():
            if element is root and key == "skipped":
                continue  # the schema's <testsuites> has no skipped attribute
            element.set(key, value)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_junit(result: GateResult, path: str | Path) -> None:
    """Write :func:`junit_xml` to ``path`` atomically."""
    atomic_write_bytes(path, junit_xml(result))
