"""Turned text: found by its shape, read upright, cleaned where it is in the frame."""

from __future__ import annotations

import numpy as np
import pytest
from pixel_builders import PATIENT_ID, mono_picture, reread, tesseract_missing, to_bytes

from deidkit.pixels.clean import (
    SOURCE_TURNED,
    STATUS_CLEANED,
    apply_result,
    clean_dataset,
    scan_dataset,
)
from deidkit.pixels.frames import decode_frames, layout_of
from deidkit.pixels.orient import box_back, corners_back, slanted_candidates, turned
from deidkit.pixels.render import render_frame

needs_tesseract = pytest.mark.skipif(
    tesseract_missing() is not None, reason=str(tesseract_missing())
)
pytest.importorskip("cv2")


def _gray(picture) -> np.ndarray:
    layout = layout_of(picture.ds)
    return render_frame(decode_frames(picture.ds, layout)[0], photometric=layout.photometric)


@pytest.mark.parametrize("angle", [90.0, 180.0, 270.0, -90.0, 15.0, -12.0])
def test_a_turned_pixel_maps_back_to_where_it_was(angle: float) -> None:
    patch = np.zeros((30, 80), dtype=np.uint8)
    patch[7, 61] = 255
    image, back = turned(patch, angle)
    ys, xs = np.nonzero(image > 60)
    y, x = int(ys.mean()), int(xs.mean())
    left, top, right, bottom = box_back((x, y, x + 1, y + 1), back, patch.shape)
    assert left - 2 <= 61 < right + 2 and top - 2 <= 7 < bottom + 2
    quad = np.asarray(corners_back((x, y, x + 1, y + 1), back), dtype=float).reshape(4, 2)
    assert np.abs(quad.mean(axis=0) - (61.5, 7.5)).max() <= 2.5


@pytest.mark.parametrize(("drawn", "expected"), [(15, -15.0), (-10, 10.0), (90, -90.0)])
def test_a_line_at_an_angle_is_found_with_the_turn_that_sets_it_upright(
    drawn: int, expected: float
) -> None:
    picture = mono_picture(rows=240, columns=320, items=[(PATIENT_ID, (60, 50), 16, 235, True, drawn)])  # noqa: E501
    pieces = slanted_candidates(_gray(picture))
    assert len(pieces) == 1
    turn = pieces[0].angle
    assert min(abs(turn - expected), abs(turn - expected - 180), abs(turn - expected + 180)) < 3
    left, top, right, bottom = pieces[0].box
    item = picture.planted[0].box
    assert left <= item[0] and top <= item[1] and right >= item[2] and bottom >= item[3]


def test_upright_text_is_no_slanted_candidate() -> None:
    assert slanted_candidates(_gray(mono_picture())) == []


@needs_tesseract
@pytest.mark.parametrize("angle", [90, 180, 270, 15, -12])
def test_turned_phi_is_cleaned_and_read_no_more(angle: int) -> None:
    items = [
        (PATIENT_ID, (110, 70), 16, 235, True, angle),
        ("TIS 0.4", (250, 8), 13, 230, False),
    ]
    picture = mono_picture(rows=240, columns=320, items=items, kind="anatomy", seed=5)
    result = clean_dataset(picture.ds)
    assert result.status == STATUS_CLEANED
    assert SOURCE_TURNED in {d.source for d in result.detections}
    ds = reread(to_bytes(picture.ds))
    apply_result(ds, result)
    ds = reread(to_bytes(ds))
    before = decode_frames(picture.ds, layout_of(picture.ds))[0, ..., 0]
    after = decode_frames(ds, layout_of(ds))[0, ..., 0]
    item = picture.planted[0]
    left, top, right, bottom = item.box
    changed = (before != after)[top:bottom, left:right]
    assert changed[item.ink].mean() >= 0.9  # the glyphs are gone
    label = picture.planted[1].box
    assert np.array_equal(before[label[1] : label[3], label[0] : label[2]],
                          after[label[1] : label[3], label[0] : label[2]])  # fmt: skip
    assert scan_dataset(ds).detections == ()  # read turned: nothing left
