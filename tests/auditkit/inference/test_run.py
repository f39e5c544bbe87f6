"""The predict loop: geometry end to end, failed rows, determinism, tasks, attributes."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from imaging_samples import asymmetric_volume, ras_affine, write_dicom_series, write_nifti

from auditkit.errors import DeviceUnavailableError, UsageError
from auditkit.imaging import ERR_MISSING, ERR_UNREADABLE
from auditkit.inference.failures import NOTE_NO_SIZE
from auditkit.inference.outputs import output_paths
from auditkit.inference.run import ERR_NOT_FINITE, predict, select_device
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import site_pseudonym

SPACING = (1.5, 1.0, 2.0)
ORIGIN = (3.0, -7.0, 11.0)
SIZE = (12, 10, 8)
INSTITUTION = "Canary Royal Infirmary"
KEY = ProjectKey(secret=bytes(range(1, 33)), source="test")

# Teams still ship TorchScript; torch >= 2.9 deprecates writing it.
JIT_DEPRECATED = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")
pytestmark = JIT_DEPRECATED


class RightMinusLeft(torch.nn.Module):
    """Asymmetric on purpose: the logit grows with brightness on the patient's right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-1.0, 1.0, x.shape[2]).reshape(1, 1, -1, 1, 1)
        return (x * ramp).mean(dim=(1, 2, 3, 4)).unsqueeze(1) / 50.0


class ThreeWay(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3, 4))
        return torch.stack([m / 100.0, -m / 100.0, m / 300.0], dim=1)


class NotANumber(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.mean(dim=(1, 2, 3, 4)) * float("nan")).unsqueeze(1)


class Threshold(torch.nn.Module):
    """Segmentation: foreground logit where the voxel is above 200."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - 200.0


def save_script(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


@pytest.fixture()
def cases(tmp_path: Path) -> Path:
    """Manifest: DICOM series, same volume as NIfTI, its mirror, a broken and a missing file."""
    volume = asymmetric_volume(SIZE)
    attrs = {
        "Manufacturer": "GE MEDICAL SYSTEMS",
        "PatientAge": "058Y",
        "PatientSex": "F",
        "InstitutionName": INSTITUTION,
        "KVP": "120",
        "PatientName": "Canary^Alice",
        "PatientID": "CANARY-4711",
    }
    write_dicom_series(
        tmp_path / "data" / "series", volume, spacing=SPACING, origin=ORIGIN, attrs=attrs
    )
    affine = ras_affine(SPACING, ORIGIN)
    write_nifti(tmp_path / "data" / "same.nii.gz", volume, affine)
    write_nifti(tmp_path / "data" / "mirror.nii.gz", volume[::-1].copy(), affine)
    (tmp_path / "data" / "broken.dcm").write_bytes(b"\x00" * 200)
    manifest = pd.DataFrame(
        {
            "image": ["series", "same.nii.gz", "mirror.nii.gz", "broken.dcm", "absent.nii.gz"],
            "label": [1, 1, 0, 0, 1],
            "patient_id": ["p1", "p1", "p2", "p3", "p4"],
            "sex": [None, "M", "M", "F", None],
        }
    )
    manifest.to_csv(tmp_path / "data" / "manifest.csv", index=False)
    save_script(RightMinusLeft(), tmp_path / "asym.ts")
    return tmp_path


def run(cases: Path, out: str, **options: object) -> pd.DataFrame:
    settings: dict[str, object] = {"spacing": (1.0, 1.0, 1.0), "spatial_size": (16, 10, 16)}
    settings.update(options)
    result = predict(
        model=cases / "asym.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / out,
        device="cpu",
        progress=False,
        **settings,  # type: ignore[arg-type]
    )
    return result.frame


def test_select_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    assert select_device("CPU").type == "cpu"
    with pytest.raises(UsageError):
        select_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_explicit_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(DeviceUnavailableError, match="CUDA is not available"):
        select_device("cuda")


def test_geometry_and_failed_rows(cases: Path) -> None:
    frame = run(cases, "preds")
    scores = frame["score"].tolist()
    # DICOM series (LPS) and NIfTI (RAS) of one volume: one prediction.
    assert scores[0] == pytest.approx(scores[1], abs=1e-5)
    # Its mirror image: a different prediction (the model is asymmetric).
    assert abs(scores[0] - scores[2]) > 0.05
    assert frame["status"].tolist() == ["ok", "ok", "ok", "failed", "failed"]
    assert frame["error"].tolist()[3:] == [ERR_UNREADABLE, ERR_MISSING]
    assert frame["score"].iloc[3:].isna().all()
    assert frame["label"].tolist() == [1, 1, 0, 0, 1]
    assert frame["patient_id"].tolist() == ["p1", "p1", "p2", "p3", "p4"]
    assert "image" not in frame.columns  # paths may carry identifiers


def test_manifest_columns_never_overwrite_predictions(cases: Path) -> None:
    manifest = cases / "data" / "manifest.csv"
    table = pd.read_csv(manifest)
    table["score"] = 0.123
    table["status"] = "ok"
    table["scanner_room"] = "B"
    table.to_csv(manifest, index=False)
    frame = run(cases, "clash")
    assert 0.123 not in frame["score"].tolist()
    assert frame["status"].tolist()[3:] == ["failed", "failed"]
    assert frame["scanner_room"].tolist() == ["B"] * 5  # other columns pass through


def test_non_finite_output_fails_the_row(cases: Path) -> None:
    save_script(NotANumber(), cases / "nan.ts")
    frame = predict(
        model=cases / "nan.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / "nan",
        spatial_size=(12, 10, 8),
        device="cpu",
        progress=False,
    ).frame
    assert frame["status"].tolist() == ["failed"] * 5
    assert frame["error"].tolist()[:3] == [ERR_NOT_FINITE] * 3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_with_amp_matches_cpu(cases: Path) -> None:
    cpu = run(cases, "cpu")
    gpu = predict(
        model=cases / "asym.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / "gpu",
        device="cuda",
        amp=True,
        spacing=(1.0, 1.0, 1.0),
        spatial_size=(16, 10, 16),
        progress=False,
    )
    assert gpu.device.startswith("cuda")
    np.testing.assert_allclose(gpu.frame["score"], cpu["score"], atol=5e-3)


def test_attributes_from_header_and_manifest(cases: Path) -> None:
    frame = run(cases, "preds", key=KEY)
    dicom_row = frame.iloc[0]
    assert dicom_row["manufacturer"] == "GE"
    assert dicom_row["age_band"] == "50-59"
    assert dicom_row["sex"] == "F"  # from the header: the manifest cell is empty
    assert dicom_row["kvp"] == "120"
    assert dicom_row["modality"] == "CT"
    assert dicom_row["site"] == site_pseudonym(KEY, INSTITUTION)
    assert frame["sex"].tolist()[1:4] == ["M", "M", "F"]  # manifest values
    assert pd.isna(frame["manufacturer"].iloc[1])  # NIfTI has no header: missing
    for path in output_paths(cases / "preds")[:3]:
        for canary in (INSTITUTION, "Canary^Alice", "CANARY-4711"):
            assert canary.encode() not in path.read_bytes()
    no_key = run(cases, "nokey")
    assert no_key["site"].isna().all()


def test_outputs_and_determinism(cases: Path) -> None:
    first = run(cases, "one.parquet")
    second = run(cases, "two.csv", workers=1, batch_size=2)
    assert first["score"].equals(second["score"])
    parquet, csv, provenance, _ = output_paths(cases / "one.parquet")
    assert parquet.name == "one.parquet" and csv.name == "one.csv"

    def plain(df: pd.DataFrame) -> pd.DataFrame:  # string dtypes differ across pandas versions
        return df.astype(object).where(df.notna(), None)

    pd.testing.assert_frame_equal(plain(pd.read_parquet(parquet)), plain(first))
    pd.testing.assert_frame_equal(
        plain(pd.read_csv(csv, dtype={"kvp": str})).iloc[:, :5],
        plain(first).iloc[:, :5],
        check_dtype=False,
    )
    # Same input, same model: byte-identical tables (provenance differs only in time).
    assert (cases / "two.csv").read_bytes() == csv.read_bytes()
    assert (cases / "two.parquet").read_bytes() == parquet.read_bytes()
    record = provenance.read_text()
    assert '"sha256"' in record and '"torch"' in record and '"type": "cpu"' in record
    with pytest.raises(UsageError, match="exists"):
        run(cases, "one.parquet")


def test_multiclass_and_regression(cases: Path) -> None:
    save_script(ThreeWay(), cases / "three.ts")
    result = predict(
        model=cases / "three.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / "multi",
        task="multiclass",
        class_names=["a", "b", "c"],
        spatial_size=(12, 10, 8),
        device="cpu",
        progress=False,
    )
    ok = result.frame[result.frame["status"] == "ok"]
    probs = ok[["score_a", "score_b", "score_c"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert set(ok["prediction"]) <= {"a", "b", "c"}
    regression = predict(
        model=cases / "asym.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / "reg",
        task="regression",
        spatial_size=(12, 10, 8),
        device="cpu",
        progress=False,
    )
    assert regression.frame["prediction"].notna().sum() == 3
    with pytest.raises(UsageError, match="expects 1"):
        predict(
            model=cases / "three.ts",
            manifest=cases / "data" / "manifest.csv",
            out=cases / "bad",
            task="regression",
            spatial_size=(12, 10, 8),
            device="cpu",
            progress=False,
        )


def test_segmentation_masks_and_metrics(tmp_path: Path) -> None:
    volume = np.zeros((20, 12, 9), dtype=np.float32)
    volume[4:12, 3:9, 2:7] = 500.0
    truth = (volume > 0).astype(np.float32)
    affine = ras_affine((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    write_nifti(tmp_path / "img.nii.gz", volume, affine)
    write_nifti(tmp_path / "truth.nii.gz", truth, affine)
    shifted = np.roll(truth, 2, axis=0)
    write_nifti(tmp_path / "shifted.nii.gz", shifted, affine)
    write_nifti(tmp_path / "blank.nii.gz", np.zeros_like(volume), affine)
    write_nifti(tmp_path / "empty.nii.gz", np.zeros_like(truth), affine)
    pd.DataFrame(
        {
            "image": ["img.nii.gz", "img.nii.gz", "blank.nii.gz", "img.nii.gz"],
            "mask": ["truth.nii.gz", "shifted.nii.gz", "empty.nii.gz", "empty.nii.gz"],
        }
    ).to_csv(tmp_path / "seg.csv", index=False)
    save_script(Threshold(), tmp_path / "seg.ts")
    result = predict(
        model=tmp_path / "seg.ts",
        manifest=tmp_path / "seg.csv",
        out=tmp_path / "segpred",
        task="segmentation",
        label_column="mask",
        spatial_size=(8, 8, 8),  # patch smaller than the image: sliding window
        device="cpu",
        progress=False,
    )
    frame = result.frame
    assert frame["status"].tolist() == ["ok"] * 4
    assert frame["dice"].iloc[0] == pytest.approx(1.0)
    assert frame["hd95"].iloc[0] == pytest.approx(0.0)
    assert frame["dice"].iloc[1] == pytest.approx(2 * 6 / 16)  # 8-wide box shifted by 2
    assert frame["hd95"].iloc[1] == pytest.approx(2.0)
    assert (frame["dice"].iloc[2], frame["hd95"].iloc[2]) == (1.0, 0.0)  # both empty
    assert frame["dice"].iloc[3] == 0.0 and np.isnan(frame["hd95"].iloc[3])  # one empty
    assert result.mask_dir is not None
    mask = nib.load(str(tmp_path / frame["mask_path"].iloc[0]))
    np.testing.assert_array_equal(np.asarray(mask.dataobj), truth.astype(np.uint8))
    np.testing.assert_allclose(mask.affine, affine)
    assert [p.name for p in sorted(result.mask_dir.iterdir())][0] == "case-00001.nii"


def test_missing_label_mask_names_the_mask(tmp_path: Path) -> None:
    # QA: a missing mask was reported as "image file not found" though the image was fine.
    volume = np.zeros((8, 8, 8), dtype=np.float32)
    write_nifti(tmp_path / "img.nii.gz", volume, np.eye(4))
    pd.DataFrame({"image": ["img.nii.gz"], "mask": ["gone.nii.gz"]}).to_csv(
        tmp_path / "seg.csv", index=False
    )
    save_script(Threshold(), tmp_path / "seg.ts")
    result = predict(
        model=tmp_path / "seg.ts",
        manifest=tmp_path / "seg.csv",
        out=tmp_path / "segpred",
        task="segmentation",
        label_column="mask",
        spatial_size=(8, 8, 8),
        device="cpu",
        progress=False,
    )
    assert result.frame["status"].tolist() == ["failed"]
    assert result.frame["error"].iloc[0] == f"label mask: {ERR_MISSING}"


class FixedSize(torch.nn.Module):
    """Built for (16, 10, 16) inputs, as a model trained at one size is."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(16 * 10 * 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_rows_name_why_the_model_failed(cases: Path) -> None:
    # Issue 16 (11): without --spatial-size every row said only "model failed on this input
    # (RuntimeError)"; the reason now names the framework's cause, the shape and the fix.
    save_script(FixedSize(), cases / "asym.ts")
    assert run(cases, "sized")["status"].tolist()[:3] == ["ok"] * 3
    result = predict(
        model=cases / "asym.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / "native",
        device="cpu",
        progress=False,
    )
    errors = result.frame["error"].tolist()
    assert errors[3:] == [ERR_UNREADABLE, ERR_MISSING]  # image errors stay as they were
    for reason in errors[:3]:
        assert reason.startswith(
            "model failed on this input (RuntimeError: mat1 and mat2 shapes cannot be multiplied"
        )
        assert "does not fit the model: its dense layer expects 2560 input features" in reason
        assert reason.endswith(NOTE_NO_SIZE)
    assert "input shape (1, 1, 12, 10, 8)" in errors[1]  # the NIfTI at its own size


def test_blank_site_without_key_is_a_warning(cases: Path) -> None:
    result = predict(
        model=cases / "asym.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / "nokey",
        spatial_size=(16, 10, 16),
        device="cpu",
        progress=False,
    )
    (warning,) = result.warnings
    assert warning["code"] == "site_without_key" and warning["count"] == 5
    assert "no project key" in warning["message"]
    provenance = json.loads(result.provenance_path.read_text())
    assert provenance["warnings"] == [dict(warning)]
    keyed = predict(
        model=cases / "asym.ts",
        manifest=cases / "data" / "manifest.csv",
        out=cases / "keyed",
        spatial_size=(16, 10, 16),
        device="cpu",
        progress=False,
        key=KEY,
    )
    assert keyed.warnings == ()
    assert json.loads(keyed.provenance_path.read_text())["warnings"] == []
