"""Cleaning pixel data in every layout: PHI boxes filled, everything else bit-identical.

An OCR stand-in (:class:`pixel_builders.FakeReader`) reads the planted items, so these
tests run without Tesseract; ``test_ocr.py`` runs the real engine.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pixel_builders import FakeReader, Picture, mono_picture, reread, to_bytes, us_rgb_picture
from pydicom.uid import JPEGBaseline8Bit, RLELossless

from deidkit.core.errors import PixelDataError
from deidkit.pixels.clean import (
    MARGIN,
    STATUS_CLEANED,
    STATUS_NO_TEXT,
    STATUS_RESIDUAL,
    apply_result,
    clean_dataset,
    filled_box,
)
from deidkit.pixels.frames import decode_frames, layout_of
from deidkit.pixels.regions import RegionRule


def _frames(ds: pydicom.Dataset) -> np.ndarray:
    return decode_frames(ds, layout_of(ds))


def _clean(picture: Picture, **kw):
    reader = FakeReader(picture, frame_rows=int(picture.ds.Rows))
    result = clean_dataset(picture.ds, reader=reader, **kw)
    return result, reader


def _outside(detections, layout) -> np.ndarray:
    mask = np.ones((layout.rows, layout.columns), dtype=bool)
    for detection in detections:
        left, top, right, bottom = filled_box(detection, layout)
        assert right - left <= detection.box[2] - detection.box[0] + 2 * max(MARGIN, 12)
        mask[top:bottom, left:right] = 0
    return mask


def _check_clean(picture: Picture, *, exact: bool = True) -> pydicom.Dataset:
    before = _frames(picture.ds)
    result, _ = _clean(picture)
    assert result.status == STATUS_CLEANED
    ds = reread(to_bytes(picture.ds))
    apply_result(ds, result)
    ds = reread(to_bytes(ds))
    after = _frames(ds)
    assert after.shape == before.shape
    for item in picture.phi:  # every planted PHI box has lost its strokes
        left, top, right, bottom = item.box
        old = before[item.frame, top:bottom, left:right].astype(float)
        new = after[item.frame, top:bottom, left:right].astype(float)
        assert np.ptp(new) <= np.ptp(old) * (0.25 if exact else 0.35), item.text
    for item in picture.controls:  # controls are left as drawn
        left, top, right, bottom = item.box
        patch = after[item.frame, top:bottom, left:right].astype(float)
        assert patch.max() - patch.min() > 40, item.text
    if exact:
        outside = _outside(result.detections, layout_of(picture.ds))
        assert np.array_equal(before[:, outside], after[:, outside])
    assert ds.BurnedInAnnotation == "NO"
    codes = [str(i.CodeValue) for i in ds.DeidentificationMethodCodeSequence]
    assert "113101" in codes
    return ds


@pytest.mark.parametrize(
    ("bits", "signed", "photometric"),
    [(8, False, "MONOCHROME2"), (16, False, "MONOCHROME2"), (16, True, "MONOCHROME1")],
)
def test_monochrome_boxes_filled_rest_bit_identical(bits, signed, photometric) -> None:
    picture = mono_picture(bits=bits, signed=signed, photometric=photometric, kind="anatomy")
    ds = _check_clean(picture)
    assert ds.file_meta.TransferSyntaxUID == picture.ds.file_meta.TransferSyntaxUID


def test_rgb_planar_configuration_one_stays_planar() -> None:
    picture = us_rgb_picture()
    array = _frames(picture.ds)
    picture.ds.PlanarConfiguration = 1
    picture.ds.PixelData = array.transpose(0, 3, 1, 2).tobytes()
    ds = _check_clean(picture)
    assert ds.PlanarConfiguration == 1


def test_multi_frame_every_frame_cleaned() -> None:
    picture = us_rgb_picture(frames=3)
    _check_clean(picture)
    assert {p.frame for p in picture.phi} == {0, 1, 2}


def test_rle_stays_rle_and_lossless() -> None:
    picture = us_rgb_picture(frames=2)
    picture.ds.compress(RLELossless, _frames(picture.ds), generate_instance_uid=False)
    ds = _check_clean(picture)
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    assert "LossyImageCompression" not in ds


def test_jpeg_baseline_reencoded_and_marked_lossy() -> None:
    pytest.importorskip("PIL")
    picture = us_rgb_picture()
    from io import BytesIO

    from PIL import Image
    from pydicom.encaps import encapsulate

    buffer = BytesIO()
    Image.fromarray(_frames(picture.ds)[0]).save(buffer, format="JPEG", quality=97)
    picture.ds.PixelData = encapsulate([buffer.getvalue()])
    picture.ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    picture.ds.PhotometricInterpretation = "YBR_FULL_422"
    picture.ds["PixelData"].VR = "OB"
    ds = _check_clean(picture, exact=False)
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert ds.LossyImageCompression == "01"
    methods = ds["LossyImageCompressionMethod"].value
    assert (methods if isinstance(methods, str) else methods[-1]) == "ISO_10918_1"


def test_palette_colour_is_rendered_and_cleaned() -> None:
    picture = mono_picture()
    lut = np.arange(256, dtype=np.uint16) * 257
    picture.ds.PhotometricInterpretation = "PALETTE COLOR"
    for colour in ("Red", "Green", "Blue"):
        setattr(picture.ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(picture.ds, f"{colour}PaletteColorLookupTableData", lut.tobytes())
    _check_clean(picture)


def test_no_text_means_no_change() -> None:
    picture = mono_picture(items=[("TIS 0.4", (10, 10), 12, 230, False)])
    result, reader = _clean(picture)
    assert result.status == STATUS_NO_TEXT
    assert result.pixel_data is None and reader.calls == 1
    with pytest.raises(PixelDataError):
        apply_result(picture.ds, result)


def test_text_still_read_after_cleaning_is_residual() -> None:
    picture = mono_picture()

    words = FakeReader(picture, frame_rows=int(picture.ds.Rows))(_render(picture))
    result = clean_dataset(picture.ds, reader=lambda gray: words)  # reads it, whatever
    assert result.status == STATUS_RESIDUAL and result.residual
    assert result.pixel_data is None


def _render(picture: Picture) -> np.ndarray:
    from deidkit.pixels.render import both_polarities, render_frame

    return both_polarities(render_frame(_frames(picture.ds)[0], photometric="MONOCHROME2"))


def test_region_rules_clean_without_ocr() -> None:
    picture = mono_picture(items=[])
    rule = RegionRule(label="banner", boxes=((0, 0, 320, 20),), manufacturer="acme")
    before = _frames(picture.ds)
    result = clean_dataset(picture.ds, regions=[rule], reader=lambda gray: [])
    assert result.status == STATUS_CLEANED
    assert {d.source for d in result.detections} == {"region"}
    ds = reread(to_bytes(picture.ds))
    apply_result(ds, result)
    after = _frames(ds)
    assert np.ptp(after[0, :20]) == 0
    assert np.array_equal(before[0, 20:], after[0, 20:])  # a rule's box is exact


def test_a_region_rule_for_another_device_does_nothing() -> None:
    picture = mono_picture(items=[])
    rule = RegionRule(label="other", boxes=((0, 0, 320, 20),), manufacturer="Elsewhere")
    result = clean_dataset(picture.ds, regions=[rule], reader=lambda gray: [])
    assert result.status == STATUS_NO_TEXT


def test_margin_fills_the_cut_strokes_and_keeps_the_background_bits() -> None:
    from deidkit.pixels.ocr import Word

    picture = mono_picture(items=[("MRN48213977", (40, 60), 14, 235, True)], kind="noise")
    item = picture.planted[0]
    left, top, right, bottom = item.box
    rows = int(picture.ds.Rows)

    def reader(gray: np.ndarray) -> list[Word]:  # a word box that cuts both ends short
        if (gray[top:bottom, left:right] > 200).sum() < 20:  # the stretched noise's peaks
            return []
        return [Word(item.text, left + 4, top, right - left - 8, bottom - top, 90.0, (1, 1, 1, 1))]

    before = _frames(picture.ds)[0, ..., 0]
    result = clean_dataset(picture.ds, reader=reader)
    assert result.status == STATUS_CLEANED
    ds = reread(to_bytes(picture.ds))
    apply_result(ds, result)
    after = _frames(ds)[0, ..., 0]
    changed = before != after
    ink = np.zeros_like(changed)
    ink[top:bottom, left:right] = item.ink
    assert changed[ink].all()  # the ends the box cut are filled too
    near_ink = ink.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near_ink |= np.roll(np.roll(ink, dy, axis=0), dx, axis=1)
    core = np.zeros_like(changed)
    core[top:bottom, left + 4 : right - 4] = True
    margin = np.zeros_like(changed)
    fl, ft, fr, fb = filled_box(result.detections[0], layout_of(picture.ds))
    margin[ft:fb, fl:fr] = True
    margin &= ~core & ~near_ink
    assert margin.sum() > 200 and changed[margin].mean() < 0.02  # background noise kept
    assert rows == after.shape[0]
