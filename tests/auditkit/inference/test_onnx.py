"""ONNX models through onnxruntime: the same preprocessing and scores as the TorchScript export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from imaging_samples import asymmetric_volume, ras_affine, write_dicom_series, write_nifti
from monai.networks.nets import Classifier

from auditkit.inference.models import detect_kind
from auditkit.inference.run import predict

pytest.importorskip("onnxruntime", reason="needs the [onnx] extra (onnxruntime)")
pytest.importorskip("onnx", reason="exporting a torch model to ONNX needs the onnx package")

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning"),
    # The legacy exporter warns about MONAI's instance norm and its own deprecation.
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def export_both(tmp_path: Path) -> tuple[Path, Path]:
    torch.manual_seed(7)
    net = Classifier(in_shape=[1, 8, 8, 8], classes=2, channels=[4, 8], strides=[2, 2]).eval()
    scripted = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(net), str(scripted))
    exported = tmp_path / "model.onnx"
    torch.onnx.export(
        net,
        (torch.zeros(2, 1, 8, 8, 8),),
        str(exported),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    return scripted, exported


def test_onnx_scores_equal_the_torchscript_export(tmp_path: Path) -> None:
    scripted, exported = export_both(tmp_path)
    assert detect_kind(str(exported)) == "onnx"
    data = tmp_path / "data"
    names = []
    for i in range(5):
        volume = asymmetric_volume((12, 10, 8), seed=i)
        write_nifti(data / f"v{i}.nii", volume, ras_affine((1.0, 1.5, 2.0), (0.0, 0.0, 0.0)))
        names.append(f"v{i}.nii")
    write_dicom_series(data / "series", asymmetric_volume((12, 10, 8), seed=9))
    names.append("series")
    pd.DataFrame({"image": names, "label": [0, 1] * 3}).to_csv(data / "m.csv", index=False)
    frames = {}
    for model in (scripted, exported):
        run = predict(
            model=model,
            manifest=data / "m.csv",
            out=tmp_path / model.suffix[1:],
            device="cpu",
            progress=False,
            batch_size=4,  # a full batch and a partial one: the ONNX batch axis is dynamic
            spatial_size=(8, 8, 8),
            spacing=(1.5, 1.5, 1.5),
            intensity="window:0,450",
        )
        frames[model.suffix] = run.frame
        assert run.provenance["model"]["kind"] == ("onnx" if model == exported else "torchscript")
    ts, onnx = frames[".ts"], frames[".onnx"]
    assert list(onnx["status"]) == ["ok"] * 6
    np.testing.assert_allclose(onnx["score"], ts["score"], atol=1e-5, rtol=0)
    assert ts["score"].std() > 1e-4  # the images do reach the model
