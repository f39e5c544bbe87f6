"""``auditkit predict`` through the CLI: outputs, JSON summary, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from imaging_samples import write_nifti
from typer.testing import CliRunner

from auditkit.cli import app

runner = CliRunner()

# Teams still ship TorchScript; torch >= 2.9 deprecates writing it.
JIT_DEPRECATED = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")
pytestmark = JIT_DEPRECATED


class MeanLogit(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3)).unsqueeze(1) - 0.5


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(3):
        write_nifti(tmp_path / f"img{i}.nii", rng.random((8, 8, 1)).astype(np.float32), np.eye(4))
    pd.DataFrame(
        {"image": ["img0.nii", "img1.nii", "img2.nii", "gone.nii"], "label": [0, 1, 1, 0]}
    ).to_csv(tmp_path / "manifest.csv", index=False)
    torch.jit.save(torch.jit.script(MeanLogit()), str(tmp_path / "model.ts"))
    return tmp_path


def base_args(workdir: Path, out: str) -> list[str]:
    return [
        "predict",
        "--model",
        str(workdir / "model.ts"),
        "--data",
        str(workdir / "manifest.csv"),
        "--out",
        str(workdir / out),
        "--device",
        "cpu",
        "--spatial-size",
        "8,8",
        "--no-progress",
    ]


def test_help_has_an_example() -> None:
    result = runner.invoke(app, ["predict", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "--device" in result.output


def test_json_summary_and_failed_rows_exit_1(workdir: Path) -> None:
    result = runner.invoke(app, [*base_args(workdir, "preds"), "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 4 and summary["ok"] == 3 and summary["failed"] == 1
    assert summary["device"] == "cpu"
    frame = pd.read_csv(summary["predictions_csv"])
    assert frame["status"].tolist() == ["ok", "ok", "ok", "failed"]
    assert Path(summary["provenance"]).is_file()
    again = runner.invoke(app, [*base_args(workdir, "preds"), "--allow-failures", "--force"])
    assert again.exit_code == 0, again.output
    assert "3 ok, 1 failed" in again.stdout


def test_refuses_to_overwrite_without_force(workdir: Path) -> None:
    runner.invoke(app, [*base_args(workdir, "preds"), "--allow-failures"])
    result = runner.invoke(app, [*base_args(workdir, "preds"), "--allow-failures"])
    assert result.exit_code == 2
    assert "--force" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "ranking"], "unknown task"),
        (["--image-column", "path"], "no column 'path'"),
        (["--spatial-size", "8,x"], "comma-separated integers"),
        (["--intensity", "gamma"], "unknown intensity"),
    ],
)
def test_usage_errors_exit_2(workdir: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, [*base_args(workdir, "p"), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")


def test_missing_onnxruntime_exits_1_naming_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditkit.inference.models import OnnxLoader

    monkeypatch.setattr(OnnxLoader, "is_available", lambda self: False)  # as without [onnx]
    result = runner.invoke(app, [*base_args(workdir, "p"), "--model-kind", "onnx"])
    assert result.exit_code == 1
    assert "onnxruntime" in result.output and "[onnx]" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda(workdir: Path) -> None:
    args = base_args(workdir, "p")
    args[args.index("cpu")] = "cuda"
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "CUDA is not available" in result.output.replace("\n", " ")


def test_no_label_is_a_single_flag(workdir: Path) -> None:
    # QA: a bool option without a flag name rendered as --no-label / --no-no-label.
    help_text = runner.invoke(app, ["predict", "--help"]).output
    assert "--no-label" in help_text and "--no-no-label" not in help_text
    unlabelled = workdir / "unlabelled.csv"
    pd.DataFrame({"image": ["img0.nii"]}).to_csv(unlabelled, index=False)
    args = base_args(workdir, "nolabel")
    args[args.index(str(workdir / "manifest.csv"))] = str(unlabelled)
    result = runner.invoke(app, [*args, "--no-label"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(workdir / "nolabel.csv")["status"].tolist() == ["ok"]


def test_site_note_only_without_key_and_cohort(workdir: Path) -> None:
    # QA: the "site column is left empty" note was printed although --cohort filled it.
    # Issue 16: the note is now a warning on stderr and in the provenance record.
    frame = pd.read_csv(workdir / "manifest.csv").iloc[:1].assign(series_uid="2.25.1")
    frame.to_csv(workdir / "joined.csv", index=False)
    pd.DataFrame({"series_uid": ["2.25.1"], "site": ["SITEAAAAAAAA"]}).to_csv(
        workdir / "cohort.csv", index=False
    )
    args = base_args(workdir, "joined_preds")
    args[args.index(str(workdir / "manifest.csv"))] = str(workdir / "joined.csv")
    result = runner.invoke(app, [*args, "--cohort", str(workdir / "cohort.csv")])
    assert result.exit_code == 0, result.output
    assert "'site' is empty" not in result.output
    assert pd.read_csv(workdir / "joined_preds.csv")["site"].tolist() == ["SITEAAAAAAAA"]
    plain = runner.invoke(
        app, [*base_args(workdir, "plain"), "--allow-failures"], env={"DEIDKIT_KEY": ""}
    )
    assert "warning: 'site' is empty for 4 of 4 rows" in plain.output
    provenance = json.loads((workdir / "plain.provenance.json").read_text())
    assert [w["code"] for w in provenance["warnings"]] == ["site_without_key"]


def test_text_labels_beside_numbers_do_not_crash(workdir: Path) -> None:
    # QA: a binary manifest with "yes" beside 0/1 labels crashed writing Parquet (traceback).
    frame = pd.read_csv(workdir / "manifest.csv").assign(label=["yes", "", "1", "0"])
    frame.to_csv(workdir / "mixed.csv", index=False)
    args = base_args(workdir, "mixed_preds")
    args[args.index(str(workdir / "manifest.csv"))] = str(workdir / "mixed.csv")
    result = runner.invoke(app, [*args, "--allow-failures"])
    assert result.exit_code == 0, result.output
    labels = pd.read_parquet(workdir / "mixed_preds.parquet")["label"].tolist()
    assert labels[0] == "yes" and pd.isna(labels[1]) and labels[2:] == ["1", "0"]


class FixedSize(torch.nn.Module):
    """Built for 10x10 inputs: fails on the 8x8 images unless they are resized."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(100, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def _without_size(workdir: Path, out: str) -> list[str]:
    args = base_args(workdir, out)
    del args[args.index("--spatial-size") : args.index("--spatial-size") + 2]
    torch.jit.save(torch.jit.script(FixedSize()), str(workdir / "fixed.ts"))
    args[args.index(str(workdir / "model.ts"))] = str(workdir / "fixed.ts")
    return args


def test_failed_rows_name_the_cause_and_verbose_logs_one_traceback(workdir: Path) -> None:
    # Issue 16 (11): every row said "model failed on this input (RuntimeError)", --verbose too.
    quiet = runner.invoke(app, [*_without_size(workdir, "quiet"), "--json"])
    assert quiet.exit_code == 1
    errors = pd.read_csv(workdir / "quiet.csv")["error"].tolist()
    assert all("expects 100 input features and this input gives 64" in e for e in errors[:3])
    assert all("no --spatial-size was given" in e for e in errors[:3])
    stderr = " ".join(quiet.stderr.split())
    assert "--verbose logs the first model failure's traceback" in stderr
    assert "Traceback" not in quiet.output
    verbose = subprocess.run(
        [sys.executable, "-m", "auditkit", *_without_size(workdir, "loud"), "--verbose"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DEIDKIT_KEY": ""},
    )
    assert verbose.returncode == 1, verbose.stderr[-2000:]
    assert verbose.stderr.count("first model failure") == 1
    assert "first model failure (row 1): model failed on this input (RuntimeError" in (
        verbose.stderr
    )
    assert "Traceback (most recent call last)" in verbose.stderr
    assert "mat1 and mat2 shapes cannot be multiplied (1x64 and 100x1)" in verbose.stderr


def test_cohort_matching_no_row_is_a_warning(workdir: Path) -> None:
    frame = pd.read_csv(workdir / "manifest.csv").assign(series_uid=["1", "2", "3", "4"])
    frame.to_csv(workdir / "uids.csv", index=False)
    pd.DataFrame({"series_uid": ["2.25.7"], "site": ["SITEAAAAAAAA"]}).to_csv(
        workdir / "other-release.csv", index=False
    )
    args = base_args(workdir, "joined")
    args[args.index(str(workdir / "manifest.csv"))] = str(workdir / "uids.csv")
    cohort = ["--cohort", str(workdir / "other-release.csv"), "--allow-failures", "--json"]
    result = runner.invoke(app, [*args, *cohort], env={"DEIDKIT_KEY": ""})
    assert result.exit_code == 0, result.output
    stderr = " ".join(result.stderr.split())
    assert (
        "warning: cohort manifest other-release.csv matched none of the 4 manifest rows on "
        "'series_uid'" in stderr
    )
    codes = [w["code"] for w in json.loads(result.stdout)["warnings"]]
    assert codes == ["cohort_unmatched", "site_without_key"]
