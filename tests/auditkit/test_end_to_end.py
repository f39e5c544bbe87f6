"""Train a tiny MONAI network in seconds, ship it two ways, predict + evaluate via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from imaging_samples import write_dicom_series, write_nifti
from monai.networks.nets import Classifier
from typer.testing import CliRunner

from auditkit.cli import app

# Teams still ship TorchScript; torch >= 2.9 deprecates writing it.
JIT_DEPRECATED = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")
pytestmark = [pytest.mark.slow, JIT_DEPRECATED]

SIZE = 16
NET_ARGS = {"in_shape": [1, SIZE, SIZE], "classes": 1, "channels": [4, 8], "strides": [2, 2]}
VENDORS = ["GE MEDICAL SYSTEMS", "SIEMENS"]


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer images (0..100): positives carry a bright 4x4 square somewhere."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(n, SIZE, SIZE)).astype(np.float32)
    labels = (np.arange(n) % 2).astype(np.float32)
    for i in np.flatnonzero(labels):
        x, y = rng.integers(0, SIZE - 4, size=2)
        images[i, x : x + 4, y : y + 4] += 60
    return images, labels


def train() -> torch.nn.Module:
    torch.manual_seed(0)
    net = Classifier(**NET_ARGS)  # type: ignore[arg-type]
    images, labels = synthetic(128, seed=1)
    x = torch.from_numpy(images / 100.0)[:, None]  # the window:0,100 the model declares
    y = torch.from_numpy(labels)[:, None]
    optimiser = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        optimiser.step()
    return net.eval()


def write_cases(root: Path) -> Path:
    """Half the cases as single-slice DICOM with scanner headers, half as NIfTI."""
    images, labels = synthetic(64, seed=2)
    rows = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        volume = image[:, :, None]
        if i % 2 == 0:
            vendor = VENDORS[(i // 2) % 2]
            attrs = {"Manufacturer": vendor, "PatientSex": "MF"[(i // 4) % 2], "PatientAge": "045Y"}
            write_dicom_series(root / "cases" / f"s{i}", volume, attrs=attrs, seed=i)
            path = f"cases/s{i}"
        else:
            write_nifti(root / "cases" / f"n{i}.nii.gz", volume, np.eye(4))
            path = f"cases/n{i}.nii.gz"
        rows.append({"image": path, "label": int(label), "patient_id": f"pt{i // 2}"})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def write_bundle(root: Path, net: torch.nn.Module) -> Path:
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    config = {
        "network_def": {"_target_": "monai.networks.nets.Classifier", **NET_ARGS},
        "intensity": "window:0,100",
    }
    metadata = {
        "version": "0.1.0",
        "network_data_format": {
            "inputs": {"image": {"num_channels": 1, "spatial_shape": [SIZE, SIZE]}},
            "outputs": {"pred": {"num_channels": 1, "type": "probabilities"}},
        },
    }
    (root / "configs" / "inference.json").write_text(json.dumps(config))
    (root / "configs" / "metadata.json").write_text(json.dumps(metadata))
    torch.save(net.state_dict(), root / "models" / "model.pt")
    return root


def test_train_predict_evaluate(tmp_path: Path) -> None:
    net = train()
    torchscript = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(net), str(torchscript))
    bundle = write_bundle(tmp_path / "bundle", net)
    manifest = write_cases(tmp_path)
    runner = CliRunner()

    common = ["--data", str(manifest), "--device", "cpu", "--no-progress", "--batch-size", "16"]
    by_script = runner.invoke(
        app,
        ["predict", "--model", str(torchscript), "--out", str(tmp_path / "ts"), *common]
        + ["--spatial-size", f"{SIZE},{SIZE}", "--intensity", "window:0,100"],
    )
    assert by_script.exit_code == 0, by_script.output
    # The bundle declares its own input size and intensity window.
    by_bundle = runner.invoke(
        app, ["predict", "--model", str(bundle), "--out", str(tmp_path / "bundle_preds"), *common]
    )
    assert by_bundle.exit_code == 0, by_bundle.output
    script_frame = pd.read_parquet(tmp_path / "ts.parquet")
    bundle_frame = pd.read_parquet(tmp_path / "bundle_preds.parquet")
    np.testing.assert_allclose(script_frame["score"], bundle_frame["score"], atol=1e-6)
    assert (script_frame["status"] == "ok").all()
    dicom_rows = script_frame.iloc[::2]
    assert set(dicom_rows["manufacturer"]) == {"GE", "Siemens"}
    assert set(dicom_rows["age_band"]) == {"40-49"}
    assert script_frame.iloc[1::2]["manufacturer"].isna().all()

    results = tmp_path / "results.json"
    evaluated = runner.invoke(
        app,
        [
            "evaluate",
            str(tmp_path / "ts.parquet"),
            "--out",
            str(results),
            "--group",
            "manufacturer",
            "--group",
            "sex",
            "--patient",
            "patient_id",
            "--min-group-size",
            "10",
            "--bootstrap",
            "50",
        ],
    )
    assert evaluated.exit_code in (0, 4), evaluated.output
    document = json.loads(results.read_text())
    overall_auroc = document["overall"]["metrics"]["auroc"]["value"]
    assert overall_auroc > 0.9  # an easy task, learned in seconds
    groups = {(g["attribute"], g["group"]) for g in document["groups"]}
    assert {("manufacturer", "GE"), ("manufacturer", "Siemens")} <= groups
