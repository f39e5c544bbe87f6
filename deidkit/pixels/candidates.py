"""Where text may be in a frame, found cheaply, so that OCR reads crops, not whole frames.

Text is thin strokes that stand out from their surroundings: a morphological top-hat (and
black-hat, for dark text) keeps what is narrower than a character cell, a threshold keeps
the strong strokes, a horizontal dilation joins letters into words and lines, and connected
components of text-like size and density are the candidates. Tesseract then reads a
mosaic of the candidate crops (each beside its negative) in one call, a fraction of the
pixels of the frame. Where the frame does not allow it (OpenCV missing; strokes all over
the frame, as in a page of text; texture such as ultrasound speckle, into which a line of
text would merge) :func:`text_candidates` returns None and the whole frame is read: a
missed word costs more than a slow frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = ["Crop", "find_candidates", "mosaic", "mosaic_of", "smoothed", "text_candidates"]

_CELL: Final = 15  # wider than a stroke, narrower than a word
_STROKE: Final = 96  # top-hat response of a stroke on the 0-255 rendering (text is contrasty)
_MIN_HEIGHT, _MAX_HEIGHT = 5, 72
_PAD: Final = 6
_MAX_SHARE: Final = 0.35  # candidates covering more of the frame: read it whole
_GAP: Final = 12
_TEXTURE: Final = 0.01  # one joined component this large is texture, not a line of text
_FILLED: Final = 0.4  # ... when it fills this much of its box


@dataclass(frozen=True)
class Crop:
    """A candidate box ``(left, top, right, bottom)`` and where it sits in the mosaic."""

    box: tuple[int, int, int, int]
    top: int  # its row's top in the mosaic
    negative_left: int  # where its negative starts in the mosaic


def text_candidates(gray: np.ndarray) -> list[tuple[int, int, int, int]] | None:
    """Boxes that may hold text (padded, within the frame), or None: read the whole frame."""
    return find_candidates(gray)[0]


def find_candidates(gray: np.ndarray) -> tuple[list[tuple[int, int, int, int]] | None, bool]:
    """:func:`text_candidates` and whether the frame is textured (speckle, bone)."""
    try:
        import cv2
    except ImportError:
        return None, False
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_CELL, _CELL))
    strokes = np.maximum(
        cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel),
        cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel),
    )
    mask = (strokes >= _STROKE).astype(np.uint8)
    joined = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    rows, columns = gray.shape
    boxes = []
    area = 0
    for left, top, width, height, pixels in stats[1:count]:
        # texture spreads both ways and fills its box (speckle: 0.55-0.65); lines of text,
        # one turned upright beside another, are tall, narrow or hollow (0.3)
        big = min(width, height) > _MAX_HEIGHT and pixels > _TEXTURE * rows * columns
        if big and pixels >= _FILLED * width * height:
            return None, True  # texture (speckle, trabecular bone) text may touch: read all
        if not _MIN_HEIGHT <= height <= _MAX_HEIGHT or width < 4:
            continue
        right, bottom = int(left + width) + _PAD, int(top + height) + _PAD
        box = (max(0, int(left) - _PAD), max(0, int(top) - _PAD), min(columns, right),
               min(rows, bottom))  # fmt: skip
        boxes.append(box)
        area += (box[2] - box[0]) * (box[3] - box[1])
    if area > _MAX_SHARE * rows * columns:
        return None, False
    return _merge(boxes), False


def smoothed(gray: np.ndarray) -> np.ndarray:
    """A 3x3 binomial blur: grains of speckle melt into their neighbours, strokes stay.

    Text drawn on speckle is read far more surely this way (planted dates on ultrasound
    speckle: 8 of 8 read as dates, against 7 of 8 unblurred, with fewer broken words).
    """
    wide = np.pad(gray.astype(np.uint16), 1, mode="edge")
    rows = wide[:-2] + 2 * wide[1:-1] + wide[2:]
    both = rows[:, :-2] + 2 * rows[:, 1:-1] + rows[:, 2:]
    out: np.ndarray = ((both + 8) // 16).astype(np.uint8)
    return out


def _merge(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Overlapping boxes as one (a word is never cut in two crops)."""
    merged: list[list[int]] = []
    for box in sorted(boxes, key=lambda b: (b[1], b[0])):
        for other in merged:
            if box[0] <= other[2] and other[0] <= box[2] and box[1] <= other[3] and other[1] <= box[3]:  # noqa: E501
                other[:] = [min(box[0], other[0]), min(box[1], other[1]),
                            max(box[2], other[2]), max(box[3], other[3])]  # fmt: skip
                break
        else:
            merged.append(list(box))
    return [(a, b, c, d) for a, b, c, d in merged]


def mosaic(gray: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, list[Crop]]:  # noqa: E501
    """The crops one under the other, each with its negative to the right, on white."""
    image, places = mosaic_of([gray[b[1] : b[3], b[0] : b[2]] for b in boxes])
    return image, [Crop(box, top, negative) for box, (top, negative) in zip(boxes, places, strict=True)]  # noqa: E501


def mosaic_of(
    patches: list[np.ndarray], sides: list[str] | None = None
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """``patches`` one under the other, each beside its negative, on white.

    ``sides`` (per patch: ``both``, ``positive`` or ``negative``) keeps one of the two
    where the polarity of the text is known. Returns the image and, per patch, its top row
    and where its negative starts (past the image's width where it stands alone).
    """
    sides = sides or ["both"] * len(patches)
    width = max(p.shape[1] for p in patches)
    paired = "both" in sides
    height = sum(p.shape[0] + _GAP for p in patches) + _GAP
    columns = 2 * width + 3 * _GAP if paired else width + 2 * _GAP
    image = np.full((height, columns), 255, dtype=np.uint8)
    places = []
    y = _GAP
    for patch, side in zip(patches, sides, strict=True):
        h, w = patch.shape
        # each half on its own background: light text reads on the negative, dark on the crop
        image[y : y + h, _GAP : _GAP + w] = 255 - patch if side == "negative" else patch
        if side == "both":
            image[y : y + h, 2 * _GAP + width : 2 * _GAP + width + w] = 255 - patch
            places.append((y, 2 * _GAP + width))
        else:
            places.append((y, columns + 1))
        y += h + _GAP
    return image, places
