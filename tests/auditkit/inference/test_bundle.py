"""MONAI bundles run as their authors meant: their own preprocessing, inferer, postprocessing.

The bundles are written the way the MONAI model zoo writes them (a spleen-CT-style
``configs/inference.json``: LoadImaged, EnsureChannelFirstd, Orientationd, Spacingd,
ScaleIntensityRanged, a SlidingWindowInferer, Activationsd/Invertd/AsDiscreted/SaveImaged), with
tiny networks and random weights. The reference is a hand run of the same config through MONAI
(LoadImaged reading the file itself), so what is checked is that predict ran the bundle's
pipeline, not that the model is any good.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from imaging_samples import write_nifti
from monai.bundle.config_parser import ConfigParser

from auditkit.errors import BundleFormatError
from auditkit.inference.run import predict

SPACING = (1.5, 1.5, 1.5)
PREPROCESSING: list[dict[str, Any]] = [
    {"_target_": "LoadImaged", "keys": "image"},
    {"_target_": "EnsureChannelFirstd", "keys": "image"},
    {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
    {"_target_": "Spacingd", "keys": "image", "pixdim": [2.0, 2.0, 2.0], "mode": "bilinear"},
    {
        "_target_": "ScaleIntensityRanged",
        "keys": "image",
        "a_min": -57,
        "a_max": 164,
        "b_min": 0.0,
        "b_max": 1.0,
        "clip": True,
    },
    {"_target_": "EnsureTyped", "keys": "image"},
]
COMMON: dict[str, Any] = {
    "imports": ["$import glob", "$import os"],
    "bundle_root": ".",
    "output_dir": "$@bundle_root + '/eval'",
    "dataset_dir": "/workspace/data/Task09_Spleen",
    "datalist": "$list(sorted(glob.glob(@dataset_dir + '/imagesTs/*.nii.gz')))",
    "device": "$torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')",
    "network": "$@network_def.to(@device)",
    "dataset": {
        "_target_": "Dataset",
        "data": "$[{'image': i} for i in @datalist]",
        "transform": "@preprocessing",
    },
}
SEGMENTATION: dict[str, Any] = {
    **COMMON,
    "network_def": {
        "_target_": "UNet",
        "spatial_dims": 3,
        "in_channels": 1,
        "out_channels": 2,
        "channels": [4, 8],
        "strides": [2],
        "num_res_units": 1,
    },
    "preprocessing": {"_target_": "Compose", "transforms": PREPROCESSING},
    "inferer": {
        "_target_": "SlidingWindowInferer",
        "roi_size": [16, 16, 16],
        "sw_batch_size": 2,
        "overlap": 0.5,
    },
    "postprocessing": {
        "_target_": "Compose",
        "transforms": [
            {"_target_": "Activationsd", "keys": "pred", "softmax": True},
            {
                "_target_": "Invertd",
                "keys": "pred",
                "transform": "@preprocessing",
                "orig_keys": "image",
                "meta_key_postfix": "meta_dict",
                "nearest_interp": False,
                "to_tensor": True,
            },
            {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
            {
                "_target_": "SaveImaged",
                "keys": "pred",
                "output_dir": "@output_dir",
                "resample": False,
                "squeeze_end_dims": True,
            },
        ],
    },
}
CLASSIFICATION: dict[str, Any] = {
    **COMMON,
    "network_def": {
        "_target_": "Classifier",
        "in_shape": [1, 16, 16, 16],
        "classes": 2,
        "channels": [4, 8],
        "strides": [2, 2],
    },
    "preprocessing": {
        "_target_": "Compose",
        "transforms": [
            *PREPROCESSING[:-1],
            {"_target_": "Resized", "keys": "image", "spatial_size": [16, 16, 16]},
            PREPROCESSING[-1],
        ],
    },
    "inferer": {"_target_": "SimpleInferer"},
    "postprocessing": {
        "_target_": "Compose",
        "transforms": [
            {"_target_": "Activationsd", "keys": "pred", "softmax": True},
            {"_target_": "AsDiscreted", "keys": "pred", "argmax": True, "to_onehot": 2},
        ],
    },
}


def metadata(*, channels: int = 1, fmt: str = "segmentation") -> dict[str, Any]:
    return {
        "version": "0.1.0",
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "hounsfield",
                    "modality": "CT",
                    "num_channels": channels,
                    "spatial_shape": [16, 16, 16],
                    "dtype": "float32",
                    "value_range": [0, 1],
                }
            },
            "outputs": {"pred": {"type": "image", "format": fmt, "num_channels": 2}},
        },
    }


def write_bundle(root: Path, config: dict[str, Any], meta: dict[str, Any], seed: int) -> Path:
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "configs" / "inference.json").write_text(json.dumps(config, indent=2))
    (root / "configs" / "metadata.json").write_text(json.dumps(meta, indent=2))
    parser = ConfigParser(copy.deepcopy(config))
    torch.manual_seed(seed)
    net = parser.get_parsed_content("network_def")
    torch.save(net.state_dict(), root / "models" / "model.pt")
    return root


def hand_run(bundle: Path, image: Path, *, segmentation: bool) -> torch.Tensor:
    """The bundle's pipeline as MONAI runs it, LoadImaged reading the file; nothing saved."""
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.parse()
    net = parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True))
    net.eval()
    post = parser.get_parsed_content("postprocessing")
    drop = ("SaveImaged",) if segmentation else ("SaveImaged", "AsDiscreted")
    post.transforms = tuple(t for t in post.transforms if type(t).__name__ not in drop)
    data = parser.get_parsed_content("preprocessing")({"image": str(image)})
    with torch.no_grad():
        data["pred"] = parser.get_parsed_content("inferer")(data["image"][None], net)[0]
    return torch.as_tensor(post(data)["pred"])


@pytest.fixture()
def ct(tmp_path: Path) -> Path:
    """A CT-like volume in HU (air, soft tissue, a bright organ) and its manifest."""
    rng = np.random.default_rng(0)
    volume = rng.normal(40.0, 30.0, size=(22, 20, 18)).astype(np.float32)
    volume[:3] = -1000.0
    volume[8:15, 6:13, 5:12] += 120.0
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = (-10.0, 4.0, 7.0)
    write_nifti(tmp_path / "data" / "ct.nii", np.rint(volume), affine)
    write_nifti(tmp_path / "data" / "truth.nii", (volume > 120).astype(np.float32), affine)
    pd.DataFrame({"image": ["ct.nii"], "label": ["truth.nii"]}).to_csv(
        tmp_path / "data" / "manifest.csv", index=False
    )
    return tmp_path


def run(ct: Path, bundle: Path, out: str, **options: Any) -> Any:
    return predict(
        model=bundle,
        manifest=ct / "data" / "manifest.csv",
        out=ct / out,
        device="cpu",
        progress=False,
        **options,
    )


def test_segmentation_bundle_runs_its_own_pipeline(ct: Path) -> None:
    bundle = write_bundle(ct / "spleen", SEGMENTATION, metadata(), seed=3)
    result = run(ct, bundle, "seg")
    assert result.task == "segmentation"  # from metadata.json's output format
    row = result.frame.loc[0]
    assert row["status"] == "ok", row["error"]
    mask = nib.load(ct / row["mask_path"])
    expected = hand_run(bundle, ct / "data" / "ct.nii", segmentation=True)
    # Invertd brought the prediction back to the image's own grid, voxel for voxel.
    assert mask.shape == (22, 20, 18)
    np.testing.assert_allclose(mask.affine, nib.load(ct / "data" / "ct.nii").affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(mask.dataobj) > 0, expected[0].numpy() > 0)
    assert 0.0 <= row["dice"] <= 1.0 and row["label"] == "truth.nii"
    pipeline = result.provenance["settings"]["bundle_pipeline"]
    assert pipeline["inferer"] == "SlidingWindowInferer"
    assert "ScaleIntensityRanged" in pipeline["preprocessing"]
    assert "LoadImaged" not in pipeline["preprocessing"]
    assert any(s.startswith("SaveImaged") for s in pipeline["skipped"])
    assert pipeline["settings"]["roi_size"] == {"value": [16, 16, 16], "source": "bundle"}
    assert pipeline["settings"]["spacing"] == {"value": [2.0, 2.0, 2.0], "source": "bundle"}
    assert not (bundle / "eval").exists() and not (ct / "eval").exists()  # SaveImaged never ran


def test_classification_bundle_scores_equal_a_hand_run(ct: Path) -> None:
    bundle = write_bundle(ct / "cls", CLASSIFICATION, metadata(fmt="classification"), seed=5)
    result = run(ct, bundle, "cls")
    score = float(result.frame.loc[0, "score"])
    expected = hand_run(bundle, ct / "data" / "ct.nii", segmentation=False)
    assert score == pytest.approx(float(expected[1]), abs=1e-6)  # softmax ran once, not twice
    pipeline = result.provenance["settings"]["bundle_pipeline"]
    assert any(s.startswith("AsDiscreted") for s in pipeline["skipped"])
    assert pipeline["settings"]["intensity"]["source"] == "bundle"
    # Without the bundle's window the same network sees HU and scores differently.
    unscaled = run(ct, bundle, "cls_none", intensity="none")
    assert float(unscaled.frame.loc[0, "score"]) != pytest.approx(score, abs=1e-4)
    sources = unscaled.provenance["settings"]["bundle_pipeline"]["settings"]
    assert sources["intensity"] == {"value": "none", "source": "flag"}
    assert sources["spacing"]["source"] == "bundle"  # only what the user set is overridden


def test_explicit_spacing_overrides_only_the_spacing(ct: Path) -> None:
    bundle = write_bundle(ct / "cls", CLASSIFICATION, metadata(fmt="classification"), seed=5)
    result = run(ct, bundle, "cls", spacing=(3.0, 3.0, 3.0))
    sources = result.provenance["settings"]["bundle_pipeline"]["settings"]
    assert sources["spacing"] == {"value": [3.0, 3.0, 3.0], "source": "flag"}
    assert sources["intensity"]["source"] == "bundle"
    assert result.provenance["settings"]["sources"]["spacing"] == "flag"


def test_data_format_mismatch_is_a_typed_error(ct: Path) -> None:
    bundle = write_bundle(
        ct / "cls", CLASSIFICATION, metadata(channels=3, fmt="classification"), seed=5
    )
    with pytest.raises(BundleFormatError, match="3 input channel"):
        run(ct, bundle, "cls")
