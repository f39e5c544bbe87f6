"""The demo finds its planted scanner bias through the real pipeline (reduced size, CPU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom
import pytest
from typer.testing import CliRunner

from auditkit.cli import app
from auditkit.demo import SCANNERS, Case, dicom_bytes, render, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return run_demo(tmp_path_factory.mktemp("demo"), size="tiny", device="cpu", make_report=False)


def _entry(results: dict[str, Any], attribute: str, group: str) -> dict[str, Any]:
    return next(e for e in results["groups"] if e["attribute"] == attribute and e["group"] == group)


def test_biased_model_fails_on_the_underrepresented_scanner(demo: Any) -> None:
    biased = {r.name: r for r in demo.runs}["biased"]
    assert biased.verdict == "fail" and not biased.passed
    results = json.loads(biased.results.read_text(encoding="utf-8"))
    philips = _entry(results, "manufacturer", "Philips")["metrics"]["tpr"]
    siemens = _entry(results, "manufacturer", "Siemens")["metrics"]["tpr"]
    assert philips["ci_high"] < siemens["ci_low"]  # the planted sensitivity gap, with CIs
    gap = next(
        d
        for d in results["disparities"]
        if d["attribute"] == "manufacturer" and d["metric"] == "equal_opportunity_difference"
    )
    assert gap["ci_low"] > 0 and gap["significant_holm"]
    assert "worst-group-sensitivity[manufacturer=Philips]" in biased.summary
    junit = biased.junit.read_text(encoding="utf-8")
    assert 'name="worst-group-sensitivity[manufacturer=Philips]"' in junit


def test_balanced_model_passes(demo: Any) -> None:
    balanced = {r.name: r for r in demo.runs}["balanced"]
    assert balanced.passed, balanced.summary
    assert balanced.markdown.read_text(encoding="utf-8").startswith("## ✅")


def test_attributes_come_from_dicom_headers(demo: Any) -> None:
    run = demo.runs[0]
    table = pd.read_parquet(run.predictions)
    assert set(table["manufacturer"]) == {"Siemens", "GE", "Philips"}  # normalised spellings
    assert set(table["field_strength"].astype(str)) == {"1.5", "3"}
    assert table["site"].nunique() == 5 and not table["site"].str.contains("Hospital").any()
    assert set(table["sex"]) == {"F", "M"}
    assert (table["status"] == "ok").all()


def test_dicom_round_trip_and_determinism(tmp_path: Path) -> None:
    case = Case(index=3, scanner=2, site=SCANNERS[2].sites[0], sex="F", age=58, finding=True)
    pixels = render(case, size=32, seed=0)
    assert np.array_equal(pixels, render(case, size=32, seed=0))
    data = dicom_bytes(case, pixels, seed=0)
    assert data == dicom_bytes(case, pixels, seed=0)
    path = tmp_path / "x.dcm"
    path.write_bytes(data)
    ds = pydicom.dcmread(path)
    assert ds.Manufacturer == "Philips Medical Systems" and ds.PatientAge == "058Y"
    assert np.array_equal(ds.pixel_array, pixels)


def test_cli_rejects_unknown_size(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", str(tmp_path / "d"), "--size", "huge"])
    assert result.exit_code == 2
    assert "--size must be one of" in result.output
