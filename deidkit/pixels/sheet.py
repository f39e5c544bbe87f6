"""Contact sheets: the flagged frames of a scan as thumbnails with their boxes, in PNG.

For an officer to look at what the scan found. A sheet shows patient pixels: it is written
only where ``deidkit pixels scan --report DIR`` is told to (owner-only files), and is named
by number, never by an input name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from deidkit.core.io import atomic_write_bytes

__all__ = ["Tile", "write_sheets"]

_THUMB: Final = 320
_PER_SHEET: Final = 12
_COLUMNS: Final = 3
_LABEL: Final = 16
_COLOURS: Final = {"region": (0, 160, 255)}


@dataclass(frozen=True)
class Tile:
    """One frame: its 8-bit rendering, the boxes found and a caption (numbers only)."""

    gray: np.ndarray
    boxes: tuple[tuple[tuple[int, int, int, int], str], ...]
    caption: str


def _tile_image(tile: Tile) -> object:
    from PIL import Image, ImageDraw

    image = Image.fromarray(tile.gray).convert("RGB")
    scale = min(1.0, _THUMB / max(image.width, image.height))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size)
    canvas = Image.new("RGB", (_THUMB, _THUMB + _LABEL), (32, 32, 32))
    canvas.paste(image, (0, 0))
    pen = ImageDraw.Draw(canvas)
    for (left, top, right, bottom), kind in tile.boxes:
        colour = _COLOURS.get(kind, (255, 40, 40))
        pen.rectangle(
            [left * scale, top * scale, right * scale, bottom * scale], outline=colour, width=2
        )
    pen.text((4, _THUMB + 2), tile.caption, fill=(230, 230, 230))
    return canvas


def write_sheets(tiles: Sequence[Tile], folder: Path) -> list[Path]:
    """Write ``sheet-001.png``, ... (12 frames each) into ``folder``; return their paths."""
    import io

    from PIL import Image

    written = []
    for number, start in enumerate(range(0, len(tiles), _PER_SHEET), start=1):
        chunk = tiles[start : start + _PER_SHEET]
        rows = -(-len(chunk) // _COLUMNS)
        sheet = Image.new("RGB", (_COLUMNS * _THUMB, rows * (_THUMB + _LABEL)), (0, 0, 0))
        for index, tile in enumerate(chunk):
            x, y = (index % _COLUMNS) * _THUMB, (index // _COLUMNS) * (_THUMB + _LABEL)
            sheet.paste(_tile_image(tile), (x, y))  # type: ignore[arg-type]
        buffer = io.BytesIO()
        sheet.save(buffer, format="PNG")
        path = folder / f"sheet-{number:03d}.png"
        atomic_write_bytes(path, buffer.getvalue(), permissions=0o600)
        written.append(path)
    return written
