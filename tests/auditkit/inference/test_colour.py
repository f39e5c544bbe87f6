"""Colour DICOM: RGB for a 3-channel model, luminance when declared, refused with a reason else.

A PALETTE COLOR image (pydicom's own ultrasound, ``examples_palette.dcm``) must score as what a
viewer shows: the same as an RGB file holding its rendering through the palette.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from pydicom.pixels.processing import apply_color_lut
from pydicom.uid import ExplicitVRLittleEndian
from typer.testing import CliRunner

from auditkit.cli import app
from auditkit.imaging import LUMA, Preprocessor, PreprocessSpec, load_volume
from auditkit.inference.run import predict

JIT_DEPRECATED = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")
pytestmark = JIT_DEPRECATED


class ChannelScore(torch.nn.Module):
    """A score that depends on each channel differently (R, G, B weigh apart) and on position."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.linspace(0.5, 1.5, x.shape[1]).reshape(1, -1, 1, 1)
        ramp = torch.linspace(-1.0, 1.0, x.shape[2]).reshape(1, 1, -1, 1)
        return ((x * weights * (1 + ramp)).mean(dim=(1, 2, 3)) / 255.0 - 0.3).unsqueeze(1)


def palette_file(tmp_path: Path) -> Path:
    path = tmp_path / "palette.dcm"
    path.write_bytes(Path(str(get_testdata_file("examples_palette.dcm"))).read_bytes())
    return path


def rgb_rendering(palette: Path, path: Path) -> Path:
    """The palette image as an 8-bit RGB file: what a viewer shows, written independently."""
    ds = pydicom.dcmread(palette)
    rgb = apply_color_lut(ds.pixel_array, ds)  # 16-bit table entries
    eight_bit = (rgb >> 8).astype(np.uint8)
    for keyword in (
        "RedPaletteColorLookupTableDescriptor",
        "GreenPaletteColorLookupTableDescriptor",
        "BluePaletteColorLookupTableDescriptor",
        "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData",
        "BluePaletteColorLookupTableData",
    ):
        if keyword in ds:
            delattr(ds, keyword)
    ds.PhotometricInterpretation = "RGB"
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = eight_bit.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def test_palette_is_its_rgb_rendering_for_a_3_channel_model(tmp_path: Path) -> None:
    palette = load_volume(palette_file(tmp_path))
    rendered = load_volume(rgb_rendering(palette_file(tmp_path), tmp_path / "rgb.dcm"))
    assert palette.colour is not None and palette.palette
    assert palette.colour.shape == (3, 800, 350, 1)
    pre = Preprocessor(PreprocessSpec(spatial_dims=2, channels=3, spatial_size=(64, 32)))
    ours, affine = pre(palette)
    expected, expected_affine = pre(rendered)
    assert ours.shape == (3, 64, 32)
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    np.testing.assert_array_equal(affine, expected_affine)
    assert float(ours[0].std()) > 0  # not a blank image


def test_grey_conversion_is_the_luminance_of_the_rgb_input(tmp_path: Path) -> None:
    volume = load_volume(palette_file(tmp_path))
    rgb, _ = Preprocessor(PreprocessSpec(spatial_dims=2, channels=3))(volume)
    grey, _ = Preprocessor(PreprocessSpec(spatial_dims=2, colour_to_grey=True))(volume)
    luma = sum(weight * rgb[i] for i, weight in enumerate(LUMA))
    torch.testing.assert_close(grey[0], luma, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(
    ("name", "code"),
    [("examples_palette.dcm", "palette_colour"), ("SC_rgb_small_odd.dcm", "colour_unsupported")],
)
def test_colour_for_a_1_channel_model_is_refused_naming_the_options(name: str, code: str) -> None:
    volume = load_volume(str(get_testdata_file(name)))
    with pytest.raises(Exception) as raised:
        Preprocessor(PreprocessSpec(spatial_dims=2))(volume)
    assert getattr(raised.value, "code", None) == code
    assert "1-channel model" in str(raised.value) and "--colour-to-grey" in str(raised.value)


def run(tmp_path: Path, images: list[str], **options: object) -> pd.DataFrame:
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"image": images, "label": [1] * len(images)}).to_csv(manifest, index=False)
    model = tmp_path / "colour.ts"
    torch.jit.save(torch.jit.script(ChannelScore()), str(model))
    result = predict(
        model=model,
        manifest=manifest,
        out=tmp_path / "preds",
        device="cpu",
        progress=False,
        spatial_dims=2,
        spatial_size=(64, 32),
        overwrite=True,
        **options,  # type: ignore[arg-type]
    )
    return result.frame


def test_predict_scores_palette_and_its_rendering_alike(tmp_path: Path) -> None:
    palette_file(tmp_path)
    rgb_rendering(tmp_path / "palette.dcm", tmp_path / "rgb.dcm")
    frame = run(tmp_path, ["palette.dcm", "rgb.dcm"], channels=3)
    assert list(frame["status"]) == ["ok", "ok"], list(frame["error"])
    assert frame.loc[0, "score"] == frame.loc[1, "score"]
    assert list(frame["modality"]) == ["US", "US"]
    grey = run(tmp_path, ["palette.dcm", "rgb.dcm"], colour_to_grey=True)
    assert list(grey["status"]) == ["ok", "ok"]
    assert grey.loc[0, "score"] != frame.loc[0, "score"]  # luminance is not RGB
    refused = run(tmp_path, ["palette.dcm", "rgb.dcm"])
    assert list(refused["error_code"]) == ["palette_colour", "colour_unsupported"]


def test_cli_channels_and_colour_to_grey(tmp_path: Path) -> None:
    palette_file(tmp_path)
    pd.DataFrame({"image": ["palette.dcm"], "label": [1]}).to_csv(tmp_path / "m.csv", index=False)
    torch.jit.save(torch.jit.script(ChannelScore()), str(tmp_path / "colour.ts"))
    base = [
        *("predict", "--model", str(tmp_path / "colour.ts"), "--data", str(tmp_path / "m.csv")),
        *("--device", "cpu", "--spatial-dims", "2", "--spatial-size", "64,32", "--no-progress"),
    ]
    refused = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert refused.exit_code == 1, refused.output
    for extra, out in ((["--channels", "3"], "b"), (["--colour-to-grey"], "c")):
        result = CliRunner().invoke(app, [*base, *extra, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        assert pd.read_csv(tmp_path / f"{out}.csv").loc[0, "status"] == "ok"
