"""Text that does not run left to right: turned a quarter, upside down or slanted.

Tesseract reads lines that run left to right, give or take a few degrees. Text drawn at an
angle is found by its shape: the strokes of a line of text, joined, make a long narrow
component whose long side gives the angle (:func:`slanted_candidates`). Each such crop is
turned upright before it is read (:func:`turned`), and the boxes of the words read in it
are turned back (:func:`box_back`) to the frame, as the upright box that holds the turned
word. Which end of a line is its start cannot be told from its shape: a crop whose reading
explains little of it is read again turned half a turn (upside-down text, and a quarter
turn the other way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = ["Piece", "box_back", "corners_back", "slanted_candidates", "turned"]

_STROKE: Final = 96  # as the upright candidates (a contrasty stroke on the 0-255 rendering)
_CELL: Final = 15
_MIN_PIXELS: Final = 40
_MIN_THICK, _MAX_THICK = 7, 80  # a line's height once its letters are joined
_ELONGATION: Final = 2.5  # a line of text is this many times longer than high, at least
_UPRIGHT: Final = 4.0  # degrees within which the upright reading serves
_PAD: Final = 6
_MAX_PIECES: Final = 24  # more slanted lines than this: texture, not annotations


@dataclass(frozen=True)
class Piece:
    """A crop of the frame, ``(left, top, right, bottom)``, read turned by ``angle``.

    ``angle`` is in degrees, counter-clockwise as the image is shown.
    """

    box: tuple[int, int, int, int]
    angle: float = 0.0


def _strokes(gray: np.ndarray) -> np.ndarray:
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_CELL, _CELL))
    strokes = np.maximum(
        cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel),
        cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel),
    )
    out: np.ndarray = (strokes >= _STROKE).astype(np.uint8)
    return out


def _line_angle(points: np.ndarray) -> tuple[float, float, float]:
    """The long side's angle (degrees, (-90, 90], counter-clockwise as shown), length, width."""
    import cv2

    corners = cv2.boxPoints(cv2.minAreaRect(points.astype(np.float32)))
    first, second = corners[1] - corners[0], corners[2] - corners[1]
    long, short = (first, second) if np.hypot(*first) >= np.hypot(*second) else (second, first)
    # rows grow downwards: a line rising to the right has a negative dy
    angle = math.degrees(math.atan2(-float(long[1]), float(long[0])))
    if angle <= -90:
        angle += 180
    elif angle > 90:
        angle -= 180
    return angle, float(np.hypot(*long)), float(np.hypot(*short))


def slanted_candidates(gray: np.ndarray) -> list[Piece]:
    """Crops holding a line of text that runs more than a few degrees off the horizontal.

    Each comes turned so that its text runs left to right (for a quarter turn, one of the
    two ways; :func:`~deidkit.pixels.ocr.read_frame` tries the other when it reads little).
    Empty without OpenCV, and on texture (too many such lines to be annotations).
    """
    try:
        import cv2
    except ImportError:
        return []
    mask = _strokes(gray)
    joined = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    rows, columns = gray.shape
    pieces = []
    for index in range(1, count):
        left, top, width, height, pixels = (int(v) for v in stats[index])
        if pixels < _MIN_PIXELS or max(width, height) < _ELONGATION * _MIN_THICK:
            continue
        window = labels[top : top + height, left : left + width] == index
        ys, xs = np.nonzero(window & (mask[top : top + height, left : left + width] > 0))
        if len(xs) < _MIN_PIXELS // 2:
            continue
        angle, length, thick = _line_angle(np.stack([xs, ys], axis=1))
        if not _MIN_THICK <= thick <= _MAX_THICK or length < _ELONGATION * thick:
            continue
        if abs(angle) <= _UPRIGHT:
            continue  # the upright candidates read it
        box = (max(0, left - _PAD), max(0, top - _PAD), min(columns, left + width + _PAD),
               min(rows, top + height + _PAD))  # fmt: skip
        pieces.append(Piece(box, -angle))
        if len(pieces) > _MAX_PIECES:
            return []
    return pieces


def turned(patch: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``patch`` turned by ``angle`` degrees on a canvas that holds all of it.

    Returns the turned image and the 2x3 affine map from its pixels back to ``patch``'s.
    Quarter turns are exact; other angles are interpolated, the corners filled with the
    patch's edge (no new edges for the reader to see).
    """
    rows, columns = patch.shape
    quarter = round(angle / 90.0) % 4
    if abs(angle - 90.0 * round(angle / 90.0)) < 1e-6:
        out = np.ascontiguousarray(np.rot90(patch, quarter))
        back = {
            0: [[1, 0, 0], [0, 1, 0]],
            1: [[0, -1, columns - 1], [1, 0, 0]],
            2: [[-1, 0, columns - 1], [0, -1, rows - 1]],
            3: [[0, 1, 0], [-1, 0, rows - 1]],
        }[quarter]
        return out, np.asarray(back, dtype=np.float64)
    import cv2

    forward = cv2.getRotationMatrix2D((columns / 2.0, rows / 2.0), angle, 1.0)
    cos, sin = abs(forward[0, 0]), abs(forward[0, 1])
    width = int(math.ceil(rows * sin + columns * cos))
    height = int(math.ceil(rows * cos + columns * sin))
    forward[0, 2] += width / 2.0 - columns / 2.0
    forward[1, 2] += height / 2.0 - rows / 2.0
    out = cv2.warpAffine(patch, forward, (width, height), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return out, cv2.invertAffineTransform(forward)


def box_back(
    box: tuple[int, int, int, int], back: np.ndarray, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The upright box, in the unturned patch (``shape``), that holds a turned word's box."""
    left, top, right, bottom = box
    corners = np.array([[left, top, 1], [right, top, 1], [left, bottom, 1], [right, bottom, 1]],
                       dtype=np.float64)  # fmt: skip
    mapped = corners @ back.T
    rows, columns = shape
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int)
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int) + 1
    return (max(0, int(x0)), max(0, int(y0)), min(columns, int(x1)), min(rows, int(y1)))


def corners_back(box: tuple[int, int, int, int], back: np.ndarray) -> tuple[int, ...]:
    """A turned word's box as its four corners in the unturned patch: ``x0, y0, ... x3, y3``.

    In drawing order (top-left, top-right, bottom-right, bottom-left of the turned box).
    """
    left, top, right, bottom = box
    corners = np.array([[left, top, 1], [right, top, 1], [right, bottom, 1], [left, bottom, 1]],
                       dtype=np.float64)  # fmt: skip
    mapped = np.rint(corners @ back.T).astype(int)
    return tuple(int(v) for v in mapped.reshape(-1))
