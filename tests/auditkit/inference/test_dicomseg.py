"""--dicom-seg: predicted masks as DICOM SEG objects referencing the source series."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import torch
from imaging_samples import write_dicom_series, write_nifti
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from auditkit.cli import app
from auditkit.errors import UsageError
from auditkit.inference.run import predict

pytest.importorskip("highdicom", reason="--dicom-seg needs highdicom (the [audit] extra)")
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")

SERIES_DIR = "Canary^Alice_CT_series"  # an input name that must not reach an output name


class Threshold(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - 200.0


def volume() -> np.ndarray:
    data = np.zeros((12, 10, 6), dtype=np.float32)
    data[3:8, 2:6, 1:4] = 400.0  # off-centre, so any axis swap or flip shows
    data[9, 8, 5] = 400.0
    return data


@pytest.fixture()
def cases(tmp_path: Path) -> Path:
    write_dicom_series(
        tmp_path / "data" / SERIES_DIR,
        volume(),
        spacing=(0.8, 0.9, 2.5),
        attrs={
            "PatientID": "CANARY-4711",
            "PatientName": "Canary^Alice",
            "Manufacturer": "GEMS",
            "FrameOfReferenceUID": generate_uid(),
        },
    )
    write_nifti(tmp_path / "data" / "same.nii", volume(), np.eye(4))
    pd.DataFrame({"image": [SERIES_DIR, "same.nii"], "label": [None, None]}).to_csv(
        tmp_path / "data" / "manifest.csv", index=False
    )
    torch.jit.save(torch.jit.script(Threshold()), str(tmp_path / "seg.ts"))
    return tmp_path


def run(cases: Path, out: str, **options: object) -> object:
    return predict(
        model=cases / "seg.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / out,
        task="segmentation",
        device="cpu",
        progress=False,
        dicom_seg=True,
        **options,  # type: ignore[arg-type]
    )


def source_masks(cases: Path) -> dict[str, np.ndarray]:
    """Source SOP Instance UID -> the thresholded stored pixels of that slice."""
    out = {}
    for path in (cases / "data" / SERIES_DIR).iterdir():
        ds = pydicom.dcmread(path)
        out[str(ds.SOPInstanceUID)] = ds.pixel_array > 200
    return out


def read_seg(path: Path) -> tuple[pydicom.Dataset, dict[str, np.ndarray]]:
    import highdicom as hd

    seg = hd.seg.segread(path)
    frames = {}
    for item in seg.PerFrameFunctionalGroupsSequence:
        derivation = item.DerivationImageSequence[0].SourceImageSequence[0]
        frames[str(derivation.ReferencedSOPInstanceUID)] = None
    uids = list(frames)
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[1])
    return seg, {uid: pixels[i, ..., 0] > 0 for i, uid in enumerate(uids)}


@pytest.mark.parametrize("spacing", [None, (1.5, 1.5, 1.5)])
def test_seg_references_the_source_series_voxel_for_voxel(
    cases: Path, spacing: tuple[float, ...] | None
) -> None:
    result = run(cases, "preds", spacing=spacing)
    frame = result.frame  # type: ignore[attr-defined]
    assert list(frame["status"]) == ["ok", "ok"]
    assert frame.loc[0, "seg_path"] == "preds_seg/case-00001.dcm"
    assert pd.isna(frame.loc[1, "seg_path"])  # NIfTI input: no source series to reference
    path = cases / frame.loc[0, "seg_path"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["case-00001.dcm"]
    seg, frames = read_seg(path)
    source = source_masks(cases)
    any_source = pydicom.dcmread(next((cases / "data" / SERIES_DIR).iterdir()))
    assert seg.Modality == "SEG"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == any_source.SeriesInstanceUID
    assert set(frames) == set(source)  # every source image has its frame
    assert seg.PatientID == any_source.PatientID  # a SEG belongs to its patient, by the standard
    if spacing is None:
        for uid, mask in frames.items():
            np.testing.assert_array_equal(mask, source[uid])
    else:  # the model ran on a 1.5 mm grid: back on the source grid, nearly the same voxels
        agree = np.mean([np.mean(m == source[u]) for u, m in frames.items()])
        assert agree > 0.9 and any(m.any() for m in frames.values())


def test_seg_passes_dciodvfy(cases: Path) -> None:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) is not installed; .ci/sysdeps.sh installs it")
    result = run(cases, "preds")
    path = cases / result.frame.loc[0, "seg_path"]  # type: ignore[attr-defined]
    checked = subprocess.run(
        ["dciodvfy", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    errors = [
        line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("Error")
    ]
    assert "Segmentation" in checked.stdout + checked.stderr
    assert errors == []


def test_dicom_seg_needs_segmentation(cases: Path) -> None:
    with pytest.raises(UsageError, match="--dicom-seg"):
        predict(
            model=cases / "seg.ts",
            manifest=cases / "data" / "manifest.csv",
            out=cases / "p",
            device="cpu",
            progress=False,
            dicom_seg=True,
        )
    cli = CliRunner().invoke(
        app,
        [
            "predict",
            "--model",
            str(cases / "seg.ts"),
            "--data",
            str(cases / "data" / "manifest.csv"),
            "--out",
            str(cases / "q"),
            "--device",
            "cpu",
            "--no-progress",
            "--dicom-seg",
        ],
    )
    assert cli.exit_code == 2 and "--dicom-seg" in cli.output


def test_force_replaces_our_segs_but_never_foreign_dicom(cases: Path) -> None:
    from auditkit.errors import OutputPathError

    run(cases, "preds")
    rerun = run(cases, "preds", overwrite=True)  # the earlier run's SEG is ours: replaced
    assert list(rerun.frame["status"]) == ["ok", "ok"]  # type: ignore[attr-defined]
    assert sorted(p.name for p in (cases / "preds_seg").iterdir()) == ["case-00001.dcm"]
    foreign = next((cases / "data" / SERIES_DIR).iterdir())
    (cases / "preds_seg" / "case-00002.dcm").write_bytes(foreign.read_bytes())
    with pytest.raises(OutputPathError, match="DICOM"):
        run(cases, "preds", overwrite=True)
    assert sorted(p.name for p in (cases / "preds_seg").iterdir()) == [
        "case-00001.dcm",
        "case-00002.dcm",
    ]
