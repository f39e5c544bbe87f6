"""auditkit evaluate --normalise-vendor: prediction files made elsewhere, spellings merged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from auditkit.cli import app

runner = CliRunner()
SPELLINGS = {
    "GE": ["G.E. Medical Systems", "GEMS", "GE MEDICAL SYSTEMS"],
    "Siemens": ["SIEMENS", "Siemens Healthineers"],
    "AGFA": ["Agfa-Gevaert", "AGFA"],
    "Philips": ["Philips Medical Systems"],
}


def table(tmp_path: Path, factory: Callable[..., pd.DataFrame]) -> Path:
    frame = factory(400, seed=3)
    frame["manufacturer"] = [
        SPELLINGS[v][i % len(SPELLINGS[v])] for i, v in enumerate(frame["manufacturer"])
    ]
    frame.loc[::50, "manufacturer"] = ""  # missing stays missing
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    return path


def groups(tmp_path: Path, factory: Callable[..., pd.DataFrame], *extra: str) -> set[str]:
    out = tmp_path / f"results{len(extra)}.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(table(tmp_path, factory)),
            "--group",
            "manufacturer",
            "--bootstrap",
            "0",
            "--min-group-size",
            "5",
            "--out",
            str(out),
            "--force",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    return {g["group"] for g in document["groups"] if g["attribute"] == "manufacturer"}


def test_spellings_form_one_group_per_vendor(
    tmp_path: Path, frame_factory: Callable[..., pd.DataFrame]
) -> None:
    assert len(groups(tmp_path, frame_factory) - {"missing"}) == 8  # as recorded: eight groups
    merged = groups(tmp_path, frame_factory, "--normalise-vendor", "manufacturer")
    assert merged - {"missing"} == {"GE", "Siemens", "Agfa", "Philips"}


def test_user_vendor_table_and_provenance(
    tmp_path: Path, frame_factory: Callable[..., pd.DataFrame]
) -> None:
    extra = tmp_path / "vendors.yaml"
    extra.write_text("vendors:\n  Gevaert:\n    - AGFA GEVAERT\n")
    merged = groups(
        tmp_path, frame_factory, "--normalise-vendor", "manufacturer", "--vendor-table", str(extra)
    )
    assert {"Gevaert", "Agfa"} <= merged
    document = json.loads((tmp_path / "results4.json").read_text())
    assert document["provenance"]["vendor_columns"] == ["manufacturer"]
    assert document["provenance"]["vendor_table"] == "vendors.yaml"


def test_unknown_column_is_a_usage_error(
    tmp_path: Path, frame_factory: Callable[..., pd.DataFrame]
) -> None:
    path = table(tmp_path, frame_factory)
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(path),
            "--group",
            "manufacturer",
            "--normalise-vendor",
            "vendor",
            "--bootstrap",
            "0",
            "--out",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 2
    assert "vendor" in result.output
    assert pd.read_csv(path)["manufacturer"].str.contains("GEMS").any()  # input untouched
