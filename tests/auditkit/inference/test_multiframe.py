"""Enhanced multi-frame DICOM (geometry from functional groups, DICOM SEG per source frame) and
2D MONAI bundles scoring single slices.

The enhanced CT is highdicom's legacy conversion of a single-frame series (frames in shuffled
order, rescale and geometry only in the functional groups); its reference is the single-frame
series itself, read the ordinary way. The 2D bundle's reference is a hand run of its config
through MONAI, LoadImaged reading the 2D NIfTI file itself.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
import torch
from imaging_samples import asymmetric_volume, write_dicom_series

from auditkit.imaging import load_volume
from auditkit.inference.run import predict

hd = pytest.importorskip("highdicom", reason="--dicom-seg needs highdicom (the [audit] extra)")
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")
sys.path.insert(0, str(Path(__file__).parent))
from test_bundle import hand_run, write_bundle  # noqa: E402

SPACING = (0.8, 0.9, 2.5)


class Threshold(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - 200.0


def enhanced_ct(series: Path, path: Path, *, seed: int = 3) -> Path:
    """One enhanced CT object holding the series' slices as frames, in shuffled order."""
    legacy = [pydicom.dcmread(p) for p in sorted(series.iterdir())]
    random.Random(seed).shuffle(legacy)
    for ds in legacy:  # highdicom wants the Type 2 attributes an export may lack
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
            setattr(ds, keyword, getattr(ds, keyword, ""))
        for keyword in ("StudyDate", "StudyTime", "AccessionNumber", "StudyID"):
            setattr(ds, keyword, getattr(ds, keyword, ""))
        ds.ReferringPhysicianName = ""
        ds.FrameOfReferenceUID = legacy[0].get("FrameOfReferenceUID") or "1.2.3.4"
    image = hd.legacy.LegacyConvertedEnhancedCTImage(
        legacy_datasets=legacy,
        series_instance_uid=pydicom.uid.generate_uid(),
        series_number=7,
        sop_instance_uid=pydicom.uid.generate_uid(),
        instance_number=1,
    )
    image.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture()
def ct(tmp_path: Path) -> tuple[Path, Path]:
    volume = asymmetric_volume((12, 10, 6))
    series = write_dicom_series(
        tmp_path / "data" / "series",
        volume,
        spacing=SPACING,
        origin=(-5.0, 3.0, 11.0),
        intercept=-1024.0,
    )
    return series, enhanced_ct(series, tmp_path / "data" / "enhanced.dcm")


def test_enhanced_frames_load_as_their_series(ct: tuple[Path, Path]) -> None:
    series, enhanced = ct
    ds = pydicom.dcmread(enhanced, stop_before_pixels=True)
    assert "ImagePositionPatient" not in ds and "RescaleIntercept" not in ds  # only per frame
    single, multi = load_volume(series), load_volume(enhanced)
    np.testing.assert_array_equal(multi.data, single.data)  # HU, frames sorted by position
    np.testing.assert_allclose(multi.affine, single.affine, atol=1e-6)  # mm, not 1 mm guesses
    assert sorted(multi.frame_order) == list(range(6))
    assert list(multi.frame_order) != list(range(6))  # shuffled frames were reordered


def read_seg_frames(path: Path) -> np.ndarray:
    seg = pydicom.dcmread(path)
    pixels = seg.pixel_array
    return pixels if pixels.ndim == 3 else pixels[None]


def test_dicom_seg_of_an_enhanced_source_follows_its_frames(
    ct: tuple[Path, Path], tmp_path: Path
) -> None:
    _, enhanced = ct
    pd.DataFrame({"image": ["enhanced.dcm"], "label": [None]}).to_csv(
        tmp_path / "data" / "m.csv", index=False
    )
    torch.jit.save(torch.jit.script(Threshold()), str(tmp_path / "seg.ts"))
    for spacing in (None, (1.6, 1.8, 2.5)):
        run = predict(
            model=tmp_path / "seg.ts",
            manifest=tmp_path / "data" / "m.csv",
            out=tmp_path / "p",
            task="segmentation",
            device="cpu",
            progress=False,
            dicom_seg=True,
            spacing=spacing,
            overwrite=True,
        )
        assert list(run.frame["status"]) == ["ok"], list(run.frame["error"])
        seg_path = tmp_path / run.frame.loc[0, "seg_path"]
        seg = pydicom.dcmread(seg_path)
        assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[
            0
        ].ReferencedSOPInstanceUID == (
            pydicom.dcmread(enhanced, stop_before_pixels=True).SOPInstanceUID
        )
        source = pydicom.dcmread(enhanced)
        hu = source.pixel_array.astype(np.float32) - 1024.0  # stored + intercept, per frame
        expected = hu > 200.0
        frames = read_seg_frames(seg_path).astype(bool)
        referenced = [
            int(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
            for item in seg.PerFrameFunctionalGroupsSequence
        ]
        assert sorted(referenced) == list(range(1, 7))
        for frame, number in zip(frames, referenced, strict=True):
            if spacing is None:  # the model's grid is the source's: the same voxels exactly
                np.testing.assert_array_equal(frame, expected[number - 1])
            else:  # resampled and back: nearly the same voxels, frame by frame
                assert np.mean(frame == expected[number - 1]) > 0.85
        if shutil.which("dciodvfy") is not None:
            checked = subprocess.run(
                ["dciodvfy", str(seg_path)], capture_output=True, text=True, timeout=60
            )
            text = checked.stdout + checked.stderr
            assert [line for line in text.splitlines() if line.startswith("Error")] == []


CLASSIFIER_2D: dict[str, Any] = {
    "network_def": {
        "_target_": "Classifier",
        "in_shape": [1, 16, 16],
        "classes": 2,
        "channels": [4, 8],
        "strides": [2, 2],
    },
    "preprocessing": {
        "_target_": "Compose",
        "transforms": [
            {"_target_": "LoadImaged", "keys": "image"},
            {"_target_": "EnsureChannelFirstd", "keys": "image"},
            {"_target_": "ScaleIntensityd", "keys": "image"},
            {"_target_": "Resized", "keys": "image", "spatial_size": [16, 16]},
            {"_target_": "EnsureTyped", "keys": "image"},
        ],
    },
    "inferer": {"_target_": "SimpleInferer"},
    "postprocessing": {
        "_target_": "Compose",
        "transforms": [{"_target_": "Activationsd", "keys": "pred", "softmax": True}],
    },
}
META_2D: dict[str, Any] = {
    "version": "0.1.0",
    "network_data_format": {
        "inputs": {"image": {"type": "image", "num_channels": 1, "spatial_shape": [16, 16]}},
        "outputs": {"pred": {"type": "probabilities", "format": "classes", "num_channels": 2}},
    },
}


def test_2d_bundle_scores_a_single_slice_as_monai_does(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", CLASSIFIER_2D, META_2D, seed=0)
    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 30.0, (20, 14)).astype(np.float32)
    image[:6] += 80.0
    nib.save(nib.Nifti1Image(image, np.diag([0.8, 0.7, 1.0, 1.0])), str(tmp_path / "a.nii"))
    # The same slice stored as (20, 1, 14): a coronal one-voxel axis, not the last.
    coronal = np.diag([0.8, 1.0, 0.7, 1.0])
    nib.save(nib.Nifti1Image(image[:, None, :], coronal), str(tmp_path / "c.nii"))
    pd.DataFrame({"image": ["a.nii", "c.nii"], "label": [1, 0]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    run = predict(
        model=bundle,
        manifest=tmp_path / "m.csv",
        out=tmp_path / "p",
        device="cpu",
        progress=False,
        task="multiclass",
    )
    assert list(run.frame["status"]) == ["ok", "ok"], list(run.frame["error"])
    reference = hand_run(bundle, tmp_path / "a.nii", segmentation=False)
    for row in range(2):
        scores = run.frame.loc[row, ["score_0", "score_1"]].to_numpy(dtype=float)
        np.testing.assert_allclose(scores, reference.numpy(), rtol=1e-5, atol=1e-6)
    assert run.provenance["settings"]["spatial_dims"] == 2


def test_2d_bundle_refuses_a_volume_with_a_coded_reason(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", CLASSIFIER_2D, META_2D, seed=0)
    nib.save(nib.Nifti1Image(np.ones((8, 8, 4), np.float32), np.eye(4)), str(tmp_path / "v.nii"))
    pd.DataFrame({"image": ["v.nii"], "label": [1]}).to_csv(tmp_path / "m.csv", index=False)
    run = predict(
        model=bundle,
        manifest=tmp_path / "m.csv",
        out=tmp_path / "p",
        device="cpu",
        progress=False,
        task="multiclass",
    )
    assert run.frame.loc[0, "error_code"] == "volume_for_2d_model"
