"""Failed rows you can split by subgroup: header attributes kept, coded reasons, decoders named.

Real files nobody here wrote (pydicom's own test data: JPEG-LS, 12-bit JPEG Extended, palette
ultrasound) and single slices in every orientation scored by a 2D model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from imaging_samples import write_nifti
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGExtended12Bit,
    JPEGLSLossless,
    MRImageStorage,
    generate_uid,
)

from auditkit.inference.failures import ERROR_CODES
from auditkit.inference.run import predict

JIT_DEPRECATED = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")
pytestmark = JIT_DEPRECATED

#: Row and column direction cosines (LPS) of single slices.
ORIENTATIONS = {
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
}


class RightMinusLeft2D(torch.nn.Module):
    """Asymmetric along the first image axis, so a flipped slice scores differently."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.linspace(-1.0, 1.0, x.shape[2]).reshape(1, 1, -1, 1)
        return (x * ramp).mean(dim=(1, 2, 3)).unsqueeze(1) / 50.0


class Threshold(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - 200.0


def save_script(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


def single_slice(path: Path, pixels: np.ndarray, cosines: tuple[float, ...]) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.Manufacturer, ds.PatientSex = "MR", "SIEMENS", "F"
    ds.ImagePositionPatient = ["0", "0", "0"]
    ds.ImageOrientationPatient = [f"{v:g}" for v in cosines]
    ds.PixelSpacing = ["1", "1"]
    ds.SliceThickness = "5"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def run_2d(tmp_path: Path, images: list[str], **options: object) -> pd.DataFrame:
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"image": images, "label": [1] * len(images)}).to_csv(manifest, index=False)
    model = save_script(RightMinusLeft2D(), tmp_path / "m2d.ts")
    settings: dict[str, object] = {"spatial_dims": 2, "spatial_size": (16, 16)}
    settings.update(options)
    run = predict(
        model=model,
        manifest=manifest,
        out=tmp_path / "preds",
        device="cpu",
        progress=False,
        **settings,  # type: ignore[arg-type]
    )
    return run.frame


def test_single_slices_in_every_orientation_score_with_a_2d_model(tmp_path: Path) -> None:
    # Rows run towards the feet (coronal, sagittal) or posterior (axial), columns to the
    # patient's left or posterior: in RAS all three become the same 2D array.
    pixels = np.add.outer(np.arange(24) * 3, np.arange(20) * 7).astype(np.uint16)
    names = []
    for name, cosines in ORIENTATIONS.items():
        single_slice(tmp_path / f"{name}.dcm", pixels, cosines)
        names.append(f"{name}.dcm")
    frame = run_2d(tmp_path, names)
    assert list(frame["status"]) == ["ok"] * 3, list(frame["error"])
    scores = frame["score"].to_numpy(dtype=float)
    np.testing.assert_allclose(scores, scores[0], rtol=1e-6)
    assert abs(scores[0] - 0.5) > 1e-3  # the model is not blind to the image


def test_a_3d_volume_for_a_2d_model_is_a_coded_failure(tmp_path: Path) -> None:
    write_nifti(tmp_path / "vol.nii", np.ones((8, 8, 4)), np.eye(4))
    frame = run_2d(tmp_path, ["vol.nii"])
    assert frame.loc[0, "error_code"] == "volume_for_2d_model"


def test_empty_image_cell_gets_a_coded_reason(tmp_path: Path) -> None:
    single_slice(tmp_path / "a.dcm", np.ones((8, 8), dtype=np.uint16), ORIENTATIONS["axial"])
    frame = run_2d(tmp_path, ["a.dcm", "", "  "])
    assert list(frame["status"]) == ["ok", "failed", "failed"]
    assert list(frame["error_code"][1:]) == ["no_image", "no_image"]
    assert frame.loc[1, "error"] == "no image path in the manifest row"


def pydicom_file(tmp_path: Path, name: str) -> str:
    source = Path(str(get_testdata_file(name)))
    (tmp_path / name).write_bytes(source.read_bytes())
    return name


def test_jpeg_ls_decodes_with_the_audit_extra(tmp_path: Path) -> None:
    frame = run_2d(tmp_path, [pydicom_file(tmp_path, "MR_small_jpeg_ls_lossless.dcm")])
    assert frame.loc[0, "status"] == "ok", frame.loc[0, "error"]
    assert frame.loc[0, "manufacturer"] == "Canon"  # TOSHIBA_MEC


def test_missing_decoder_names_the_plugin_and_keeps_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoder = get_decoder(JPEGLSLossless)
    monkeypatch.setattr(decoder, "_available", {})  # as on an install without the plugins
    frame = run_2d(tmp_path, [pydicom_file(tmp_path, "MR_small_jpeg_ls_lossless.dcm")])
    row = frame.loc[0]
    assert row["status"] == "failed" and row["error_code"] == "decoder_missing"
    assert "JPEG-LS Lossless" in row["error"] and "pip install pylibjpeg" in row["error"]
    # The header was read before the pixels: the failure shows up in its subgroups.
    assert (row["manufacturer"], row["modality"]) == ("Canon", "MR")
    assert row["sex"] in {"F", "M"}


def test_jpeg_extended_12bit_failure_is_a_decoder_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = pydicom_file(tmp_path, "JPEG-lossy.dcm")
    frame = run_2d(tmp_path, [name])
    # pydicom's 12-bit JPEG Extended sample defeats every installed plugin: it says so.
    assert frame.loc[0, "error_code"] == "decode_failed"
    assert "JPEG Extended" in frame.loc[0, "error"] and "pylibjpeg" in frame.loc[0, "error"]
    assert frame.loc[0, "manufacturer"] == "GE" and frame.loc[0, "modality"] == "NM"
    monkeypatch.setattr(get_decoder(JPEGExtended12Bit), "_available", {})
    frame = run_2d(tmp_path, [name], overwrite=True)
    assert frame.loc[0, "error_code"] == "decoder_missing"
    assert "pylibjpeg-libjpeg" in frame.loc[0, "error"]


def test_palette_colour_is_refused_with_a_reason(tmp_path: Path) -> None:
    frame = run_2d(tmp_path, [pydicom_file(tmp_path, "examples_palette.dcm")])
    row = frame.loc[0]
    assert row["error_code"] == "palette_colour" and "palette indices" in row["error"]
    assert row["modality"] == "US"


def test_every_code_a_run_writes_is_documented(tmp_path: Path) -> None:
    (tmp_path / "broken.dcm").write_bytes(b"\x00" * 300)
    frame = run_2d(
        tmp_path, ["broken.dcm", "absent.dcm", "", pydicom_file(tmp_path, "examples_palette.dcm")]
    )
    codes = set(frame["error_code"].dropna())
    assert codes == {"image_unreadable", "image_missing", "no_image", "palette_colour"}
    assert codes <= set(ERROR_CODES)


def test_segmentation_rows_carry_the_truth_mask_path(tmp_path: Path) -> None:
    volume = np.zeros((8, 8, 4), dtype=np.float32)
    volume[2:5, 2:6, 1:3] = 400.0
    write_nifti(tmp_path / "img.nii", volume, np.eye(4))
    write_nifti(tmp_path / "masks" / "truth.nii", (volume > 0).astype(np.float32), np.eye(4))
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"image": ["img.nii"], "label": ["masks/truth.nii"]}).to_csv(manifest, index=False)
    run = predict(
        model=save_script(Threshold(), tmp_path / "seg.ts"),
        manifest=manifest,
        out=tmp_path / "preds",
        task="segmentation",
        device="cpu",
        progress=False,
    )
    row = run.frame.loc[0]
    assert row["label"] == "masks/truth.nii"
    assert row["dice"] == pytest.approx(1.0)
