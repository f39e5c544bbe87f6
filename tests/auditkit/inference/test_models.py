"""Model loaders: TorchScript, MONAI bundle, factory + state dict, ONNX (optional)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch
from monai.networks.nets import Classifier

from auditkit.errors import MissingDependencyError, ModelLoadError, UsageError
from auditkit.inference.models import OnnxLoader, available_kinds, detect_kind, load_model

CPU = torch.device("cpu")
NET_ARGS = {"in_shape": [1, 8, 8, 8], "classes": 2, "channels": [4, 8], "strides": [2, 2]}

# Teams still ship TorchScript; torch >= 2.9 deprecates writing it.
JIT_DEPRECATED = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")
pytestmark = JIT_DEPRECATED


def make_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return Classifier(**NET_ARGS).eval()  # type: ignore[arg-type]


def reference_output(net: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(0, 1, 2 * 512).reshape(2, 1, 8, 8, 8)
    with torch.inference_mode():
        return x, net(x)


def write_bundle(root: Path, net: torch.nn.Module, *, metadata: bool = True) -> Path:
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    config = {
        "network_def": {"_target_": "monai.networks.nets.Classifier", **NET_ARGS},
        "pixdim": [1.0, 1.0, 1.0],
        "intensity": "window:-100,300",
        "class_names": ["healthy", "lesion"],
    }
    (root / "configs" / "inference.json").write_text(json.dumps(config))
    if metadata:
        meta = {
            "version": "0.1.0",
            "network_data_format": {
                "inputs": {
                    "image": {"type": "image", "num_channels": 1, "spatial_shape": [8, 8, 8]}
                },
                "outputs": {"pred": {"type": "probabilities", "num_channels": 2}},
            },
        }
        (root / "configs" / "metadata.json").write_text(json.dumps(meta))
    torch.save(net.state_dict(), root / "models" / "model.pt")
    return root


def test_torchscript(tmp_path: Path) -> None:
    net = make_net()
    path = tmp_path / "net.ts"
    torch.jit.save(torch.jit.script(net), str(path))
    loaded = load_model(path, device=CPU)
    assert loaded.kind == "torchscript" and len(loaded.sha256) == 64
    x, expected = reference_output(net)
    torch.testing.assert_close(loaded.network(x), expected)


def test_monai_bundle_with_metadata(tmp_path: Path) -> None:
    net = make_net(1)
    bundle = write_bundle(tmp_path / "bundle", net)
    assert detect_kind(str(bundle)) == "bundle"
    loaded = load_model(bundle, device=CPU)
    x, expected = reference_output(net)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.network(x), expected)
    assert loaded.hints["spatial_size"] == (8, 8, 8)
    assert loaded.hints["spacing"] == (1.0, 1.0, 1.0)
    assert loaded.hints["intensity"] == "window:-100,300"
    assert loaded.hints["class_names"] == ["healthy", "lesion"]
    assert loaded.hints["channels"] == 1


def test_bundle_hash_changes_with_weights(tmp_path: Path) -> None:
    a = load_model(write_bundle(tmp_path / "a", make_net(1)), device=CPU).sha256
    b = load_model(write_bundle(tmp_path / "b", make_net(2)), device=CPU).sha256
    assert a != b


def test_bundle_errors(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", make_net(), metadata=False)
    (bundle / "models" / "model.pt").unlink()
    with pytest.raises(ModelLoadError, match="model.pt"):
        load_model(bundle, device=CPU)
    torch.save({"wrong": torch.zeros(1)}, bundle / "models" / "model.pt")
    with pytest.raises(ModelLoadError, match="failed to load"):
        load_model(bundle, device=CPU)


def test_factory_with_state_dict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "mymodels_h7.py"
    module.write_text(
        textwrap.dedent(
            f"""
            from monai.networks.nets import Classifier

            def build():
                return Classifier(**{NET_ARGS!r})
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    net = make_net(3)
    weights = tmp_path / "weights.pt"
    torch.save(net.state_dict(), weights)
    assert detect_kind("mymodels_h7:build") == "factory"
    loaded = load_model("mymodels_h7:build", device=CPU, weights=weights)
    x, expected = reference_output(net)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.network(x), expected)
    with pytest.raises(UsageError, match="--weights"):
        load_model("mymodels_h7:build", device=CPU)
    with pytest.raises(ModelLoadError, match="could not be imported"):
        load_model("mymodels_h7:absent", device=CPU, weights=weights)


def test_onnx_without_onnxruntime_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OnnxLoader, "is_available", lambda self: False)  # as without [onnx]
    path = tmp_path / "net.onnx"
    path.write_bytes(b"onnx")
    assert available_kinds()["onnx"] is False
    with pytest.raises(MissingDependencyError, match=r"onnxruntime.*deidkit-auditkit\[onnx\]"):
        load_model(path, device=CPU)


def test_not_a_model(tmp_path: Path) -> None:
    state_dict_file = tmp_path / "weights.pt"
    torch.save(make_net().state_dict(), state_dict_file)
    with pytest.raises(ModelLoadError, match="not a TorchScript") as caught:
        load_model(state_dict_file, device=CPU)
    # QA: the hint named a --factory flag that predict does not have.
    assert "--weights" in str(caught.value) and "--factory" not in str(caught.value)
    with pytest.raises(UsageError):
        load_model(tmp_path / "absent.bin", device=CPU)
    with pytest.raises(UsageError, match="unknown model kind"):
        load_model(state_dict_file, device=CPU, kind="tensorflow")


def test_missing_model_and_weight_files_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="^model file 'gone.ts' not found$") as caught:
        load_model(tmp_path / "gone.ts", device=CPU)
    assert isinstance(caught.value, UsageError)  # exit 2
    with pytest.raises(ModelLoadError, match="^weights file 'w.pt' not found$"):
        load_model("json:loads", device=CPU, weights=tmp_path / "w.pt")
    bundle = write_bundle(tmp_path / "bundle", make_net())
    with pytest.raises(ModelLoadError, match="^weights file 'other.pt' not found$"):
        load_model(bundle, device=CPU, weights=tmp_path / "other.pt")


def test_bundle_metadata_that_is_not_utf8(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", make_net())
    (bundle / "configs" / "metadata.json").write_bytes(b'{"name": "M\xfcnster"}')
    with pytest.raises(ModelLoadError, match="'metadata.json' is not valid UTF-8 text"):
        load_model(bundle, device=CPU)


def test_onnx_file_onnxruntime_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("onnxruntime")
    fake.__spec__ = importlib.machinery.ModuleSpec("onnxruntime", None)

    def refuse(path: str, providers: list[str]) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF")

    fake.InferenceSession = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "onnxruntime", fake)
    path = tmp_path / "net.onnx"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(ModelLoadError, match="net.onnx is not a loadable ONNX model"):
        load_model(path, device=CPU)
