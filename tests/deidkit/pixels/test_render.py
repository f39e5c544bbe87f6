"""pixels.render: the window of a frame, from robust percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from deidkit.pixels.render import _percentiles, render_frame


@pytest.mark.parametrize(
    ("dtype", "low", "high"),
    [(np.uint8, 0, 256), (np.uint16, 0, 4096), (np.int16, -1024, 3000), (np.uint8, 7, 9)],
)
@pytest.mark.parametrize("shape", [(480, 640), (31, 7), (1, 1)])
def test_histogram_percentiles_are_numpys(dtype, low: int, high: int, shape) -> None:
    plane = np.random.default_rng(1).integers(low, high, shape).astype(dtype)
    expected = np.percentile(plane.astype(np.float32), (0.5, 99.9))
    assert np.allclose(_percentiles(plane, (0.5, 99.9)), expected, atol=1e-3)


def test_a_hot_pixel_does_not_flatten_a_16_bit_frame() -> None:
    frame = np.full((100, 100, 1), 1000, dtype=np.uint16)
    frame[40:60, 10:90, 0] = 1400  # the "text"
    frame[0, 0, 0] = 65535
    gray = render_frame(frame, photometric="MONOCHROME2")
    assert gray[50, 50] >= 250 and gray[5, 5] <= 5  # the hot pixel took no range
