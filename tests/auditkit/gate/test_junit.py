"""JUnit XML of the gate: one test case per check, counts right, valid against the schema."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from auditkit.gate.judge import run_gate
from auditkit.gate.junit import junit_xml, write_junit
from auditkit.gate.policy import parse_policy

# The common JUnit schema shape (Jenkins junit-10.xsd, reduced to what the gate emits).
JUNIT_XSD = b"""<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:element name="failure"><xs:complexType mixed="true">
    <xs:attribute name="type" type="xs:string"/><xs:attribute name="message" type="xs:string"/>
  </xs:complexType></xs:element>
  <xs:element name="skipped"><xs:complexType mixed="true">
    <xs:attribute name="message" type="xs:string"/>
  </xs:complexType></xs:element>
  <xs:element name="system-out" type="xs:string"/>
  <xs:element name="testcase"><xs:complexType>
    <xs:sequence>
      <xs:choice minOccurs="0" maxOccurs="unbounded">
        <xs:element ref="skipped"/><xs:element ref="failure"/>
      </xs:choice>
      <xs:element ref="system-out" minOccurs="0"/>
    </xs:sequence>
    <xs:attribute name="name" type="xs:string" use="required"/>
    <xs:attribute name="classname" type="xs:string"/>
    <xs:attribute name="time" type="xs:decimal"/>
  </xs:complexType></xs:element>
  <xs:element name="testsuite"><xs:complexType>
    <xs:sequence><xs:element ref="testcase" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
    <xs:attribute name="name" type="xs:string" use="required"/>
    <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
    <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
    <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
    <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
    <xs:attribute name="time" type="xs:decimal"/>
  </xs:complexType></xs:element>
  <xs:element name="testsuites"><xs:complexType>
    <xs:sequence><xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
    <xs:attribute name="name" type="xs:string"/>
    <xs:attribute name="tests" type="xs:nonNegativeInteger"/>
    <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
    <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
  </xs:complexType></xs:element>
</xs:schema>
"""


def _group(name: str, tpr: tuple[float, float, float], n: int = 100) -> dict[str, Any]:
    return {
        "attribute": "manufacturer",
        "group": name,
        "n": n,
        "status": "ok",
        "reason": None,
        "metrics": {"tpr": dict(zip(("value", "ci_low", "ci_high"), tpr, strict=True))},
    }


RESULTS: dict[str, Any] = {
    "schema_version": "1.0",
    "overall": {"attribute": None, "group": None, "n": 400, "status": "ok", "metrics": {}},
    "groups": [
        _group("GE", (0.9, 0.85, 0.95)),  # pass
        _group("Siemens", (0.6, 0.5, 0.7)),  # fail
        _group("Philips", (0.8, 0.7, 0.9)),  # insufficient (straddles)
        {**_group("missing", (0.1, 0.0, 0.2)), "status": "missing"},  # skipped
    ],
    "disparities": [],
}


def _result(insufficient: str) -> Any:
    policy = parse_policy(
        {
            "name": 'p <&> "q"',  # XML-special characters must be escaped
            "insufficient_evidence": insufficient,
            "checks": [{"id": "sens", "metric": "tpr", "min": 0.8}],
        }
    )
    return run_gate(RESULTS, policy)


@pytest.mark.parametrize(("insufficient", "failures", "skipped"), [("fail", 2, 1), ("warn", 1, 2)])
def test_structure_and_counts(insufficient: str, failures: int, skipped: int) -> None:
    root = ET.fromstring(junit_xml(_result(insufficient)))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 4 == int(suite.get("tests", "-1")) == int(root.get("tests", "-1"))
    assert int(suite.get("failures", "-1")) == failures == len(suite.findall("testcase/failure"))
    assert int(suite.get("skipped", "-1")) == skipped == len(suite.findall("testcase/skipped"))
    assert suite.get("errors") == "0"
    names = [c.get("name") for c in cases]
    assert names == [f"sens[manufacturer={g}]" for g in ("GE", "Siemens", "Philips", "missing")]
    siemens_failure = cases[1].find("failure")
    assert siemens_failure is not None and siemens_failure.get("type") == "limit-violated"
    assert "wrong side" in (siemens_failure.get("message") or "")
    assert cases[0].find("failure") is None and cases[0].find("skipped") is None


@pytest.mark.parametrize("insufficient", ["fail", "warn"])
def test_validates_against_junit_schema(insufficient: str) -> None:
    etree = pytest.importorskip("lxml.etree", reason="lxml is needed for XSD validation")
    schema = etree.XMLSchema(etree.fromstring(JUNIT_XSD))
    document = etree.fromstring(junit_xml(_result(insufficient)))
    assert schema.validate(document), schema.error_log


def test_write_is_atomic_and_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "gate.xml"
    write_junit(_result("fail"), out)
    assert out.read_bytes() == junit_xml(_result("fail"))
    assert [p.name for p in out.parent.iterdir()] == ["gate.xml"]
