"""Contrast-normalised 8-bit renderings of each frame, for reading text.

Monochrome frames are windowed on their own value range (robust percentiles, so one hot
pixel does not flatten the rest; 16-bit data is windowed, never truncated); colour frames
take the brightest channel of each pixel, so coloured text on a dark screen stays bright
whatever its hue; palette colour is rendered through its lookup table. Both polarities go
to the OCR engine (:func:`both_polarities`): dark text on a light field and light text on a
dark one read equally.
"""

from __future__ import annotations

from typing import Final

import numpy as np

__all__ = ["both_polarities", "render_frame"]

_LOW_PERCENTILE: Final = 0.5
_HIGH_PERCENTILE: Final = 99.9


def _percentiles(plane: np.ndarray, points: tuple[float, ...]) -> list[float]:
    """``np.percentile``'s (linear) values; integer planes through a histogram (faster)."""
    if plane.dtype.kind not in "iu" or plane.dtype.itemsize > 2:
        return [float(v) for v in np.percentile(plane.astype(np.float32), points)]
    low = int(plane.min())
    counts = np.cumsum(np.bincount((plane.astype(np.int64) - low).ravel()))
    out = []
    for point in points:
        rank = point / 100.0 * (plane.size - 1)
        below, above = (int(np.searchsorted(counts, k, side="right")) + low
                        for k in (int(np.floor(rank)), int(np.ceil(rank))))  # fmt: skip
        out.append(below + (rank - np.floor(rank)) * (above - below))
    return out


def _stretch(plane: np.ndarray) -> np.ndarray:
    values = plane.astype(np.float32, copy=False)
    lo, hi = _percentiles(plane, (_LOW_PERCENTILE, _HIGH_PERCENTILE))
    if hi <= lo:  # a flat frame, or text that is the only bright thing in it
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(plane.shape, dtype=np.uint8)
    scaled = (values - lo) * (255.0 / (hi - lo))
    out: np.ndarray = np.clip(scaled, 0, 255).astype(np.uint8)
    return out


def render_frame(
    frame: np.ndarray, *, photometric: str, palette: np.ndarray | None = None
) -> np.ndarray:
    """One frame ``(rows, columns, samples)`` as an 8-bit grey image ``(rows, columns)``.

    Parameters
    ----------
    frame
        Stored values of one frame.
    photometric
        Photometric Interpretation; YBR takes its luminance, RGB its brightest channel.
    palette
        For PALETTE COLOR, the ``(entries, 3)`` lookup table the stored values index.
    """
    if photometric == "PALETTE COLOR" and palette is not None:
        index = np.clip(frame[..., 0].astype(np.int64), 0, len(palette) - 1)
        return _stretch(palette[index].max(axis=-1))
    if frame.shape[-1] == 1:
        return _stretch(frame[..., 0])
    if photometric.startswith("YBR"):
        return _stretch(frame[..., 0])
    return _stretch(frame.max(axis=-1))


def both_polarities(gray: np.ndarray) -> np.ndarray:
    """The rendering above its own negative, one image: one OCR call reads both.

    Words found in the lower half belong to the frame at ``row - rows``.
    """
    return np.concatenate([gray, 255 - gray], axis=0)
