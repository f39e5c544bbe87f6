"""auditkit predict --vendor-table: manifest and header spellings through the user's table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from imaging_samples import write_nifti
from typer.testing import CliRunner

from auditkit.cli import app

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")


class Mean(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3, 4)).unsqueeze(1) / 100.0


def test_vendor_table_flag(tmp_path: Path) -> None:
    torch.jit.save(torch.jit.script(Mean()), str(tmp_path / "m.ts"))
    write_nifti(tmp_path / "a.nii", np.ones((6, 6, 4)), np.eye(4))
    pd.DataFrame(
        {
            "image": ["a.nii"] * 4,
            "label": [0, 1, 0, 1],
            "manufacturer": ["Acme Imaging Ltd", "G.E. Medical Systems", "GEMS", None],
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    (tmp_path / "vendors.yaml").write_text("vendors:\n  Acme:\n    - ACME IMAGING\n")
    args = ["predict", "--model", str(tmp_path / "m.ts"), "--data", str(tmp_path / "m.csv")]
    args += ["--device", "cpu", "--no-progress", "--json"]
    result = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "p"), "--vendor-table", str(tmp_path / "vendors.yaml")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dicom_seg"] is None
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(table["manufacturer"]) == ["Acme", "GE", "GE", ""]
    provenance = json.loads((tmp_path / "p.provenance.json").read_text())
    assert provenance["settings"]["vendor_table"] == "vendors.yaml"
    missing = CliRunner().invoke(
        app, [*args, "--out", str(tmp_path / "q"), "--vendor-table", str(tmp_path / "no.yaml")]
    )
    assert missing.exit_code == 2 and "no.yaml" in missing.output
