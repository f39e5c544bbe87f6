"""``auditkit predict --shard i/n`` + ``auditkit merge``: the table and audit of one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from imaging_samples import write_nifti
from typer.testing import CliRunner

from auditkit.cli import app

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")

_ROWS = 10  # not a multiple of the shard count: shards of unequal length


class MeanLogit(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3)).unsqueeze(1) - 0.5


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    for i in range(_ROWS):
        write_nifti(tmp_path / f"img{i}.nii", rng.random((8, 8, 1)).astype(np.float32), np.eye(4))
    images = [f"img{i}.nii" for i in range(_ROWS)]
    images[4] = "gone.nii"  # a failed row stays in its place
    pd.DataFrame(
        {
            "image": images,
            "label": [i % 2 for i in range(_ROWS)],
            "sex": ["F" if i % 3 else "M" for i in range(_ROWS)],
            "patient_id": [f"p{i // 2}" for i in range(_ROWS)],
        }
    ).to_csv(tmp_path / "manifest.csv", index=False)
    torch.jit.save(torch.jit.script(MeanLogit()), str(tmp_path / "model.ts"))
    return tmp_path


def _predict(workdir: Path, out: str, *extra: str) -> None:
    args = ["predict", "--model", str(workdir / "model.ts"), "--data",
            str(workdir / "manifest.csv"), "--out", str(workdir / out), "--device", "cpu",
            "--spatial-size", "8,8", "--no-progress", "--allow-failures", *extra]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def _evaluate(workdir: Path, table: str) -> dict[str, Any]:
    out = workdir / f"{table}.results.json"
    args = ["evaluate", str(workdir / f"{table}.parquet"), "--score", "score", "--patient",
            "patient_id", "--group", "sex", "--bootstrap", "30", "--seed", "3", "--out",
            str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _without_inputs(doc: dict[str, Any]) -> dict[str, Any]:
    # Where a results document names or hashes its input file (merged vs unsharded table).
    text = json.dumps(doc, sort_keys=True)
    return {k: v for k, v in json.loads(text).items() if k not in ("provenance", "created_utc")}


def test_merged_shards_evaluate_like_one_run(workdir: Path) -> None:
    _predict(workdir, "full")
    for i in (1, 2, 3):
        _predict(workdir, f"part{i}", "--shard", f"{i}/3")
    shard_rows = [len(pd.read_parquet(workdir / f"part{i}.parquet")) for i in (1, 2, 3)]
    assert shard_rows == [4, 3, 3]
    parts = [str(workdir / f"part{i}") for i in (3, 1, 2)]  # any order
    result = runner.invoke(app, ["merge", *parts, "--out", str(workdir / "merged"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["failed"], summary["shards"]) == (_ROWS, 1, 3)

    full = pd.read_parquet(workdir / "full.parquet")
    merged = pd.read_parquet(workdir / "merged.parquet")
    pd.testing.assert_frame_equal(merged, full, check_dtype=False)
    assert merged["case_id"].tolist() == [f"case-{i + 1:05d}" for i in range(_ROWS)]
    assert _without_inputs(_evaluate(workdir, "merged")) == _without_inputs(
        _evaluate(workdir, "full")
    )
    provenance = json.loads((workdir / "merged.provenance.json").read_text())
    assert "shard" not in provenance["settings"] and len(provenance["merged_from"]) == 3


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((1, 2), "shard(s) 3/3 missing"),
        ((1, 1, 2, 3), "given twice"),
    ],
)
def test_an_incomplete_set_of_shards_is_a_usage_error(
    workdir: Path, parts: tuple[int, ...], message: str
) -> None:
    for i in sorted(set(parts)):
        _predict(workdir, f"part{i}", "--shard", f"{i}/3")
    args = ["merge", *(str(workdir / f"part{i}") for i in parts), "--out", str(workdir / "m")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (workdir / "m.parquet").exists()


def test_a_bad_shard_option_is_a_usage_error(workdir: Path) -> None:
    args = ["predict", "--model", str(workdir / "model.ts"), "--data",
            str(workdir / "manifest.csv"), "--out", str(workdir / "p"),
            "--shard", "4/3"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--shard must be i/n" in result.stderr
