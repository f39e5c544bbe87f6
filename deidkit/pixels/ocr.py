"""Words and their boxes from the Tesseract OCR engine (the ``tesseract`` program).

The program is called directly (what ``pytesseract`` does) with the image on stdin as a
PGM and TSV on stdout: no temporary file holds a rendering of patient pixels. Sparse-text
page segmentation suits annotations scattered over an image. When Tesseract is missing or
fails, :class:`~deidkit.core.errors.OcrUnavailableError` is raised: a check that cannot
read text never passes silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np

from deidkit.core.errors import OcrUnavailableError

__all__ = ["Word", "read_words", "tesseract_path", "tesseract_version"]

#: Environment variable naming the tesseract program (default: ``tesseract`` on PATH).
TESSERACT_ENV: Final = "DEIDKIT_TESSERACT"
_TIMEOUT_S: Final = 120
_MIN_HEIGHT: Final = 600  # smaller renderings are enlarged: Tesseract wants tall glyphs


@dataclass(frozen=True)
class Word:
    """One recognised word: its text and box in frame pixels, and the line it sits on."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float
    line: tuple[int, int, int, int]

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``, right and bottom exclusive."""
        return (self.left, self.top, self.left + self.width, self.top + self.height)


def tesseract_path() -> str:
    """The tesseract program to run, or :class:`OcrUnavailableError`."""
    name = os.environ.get(TESSERACT_ENV) or "tesseract"
    found = shutil.which(name)
    if found is None:
        raise OcrUnavailableError()
    return found


@lru_cache(maxsize=4)
def _version(program: str) -> str:
    try:
        done = subprocess.run(
            [program, "--version"], capture_output=True, timeout=30, check=True, text=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrUnavailableError() from exc
    first = (done.stdout or done.stderr).splitlines()
    return first[0].strip() if first else "tesseract"


def tesseract_version() -> str:
    """The engine's version line (``tesseract 5.3.0``), for reports."""
    return _version(tesseract_path())


def _pgm(gray: np.ndarray) -> bytes:
    rows, columns = gray.shape
    return f"P5 {columns} {rows} 255\n".encode("ascii") + np.ascontiguousarray(gray).tobytes()


def _scale_for(gray: np.ndarray) -> int:
    rows = int(gray.shape[0])
    return max(1, min(4, -(-_MIN_HEIGHT // max(1, rows))))


def _parse(tsv: str, scale: int) -> list[Word]:
    words: list[Word] = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        try:
            conf = float(cells[10])
            block, par, line = int(cells[2]), int(cells[3]), int(cells[4])
            left, top, width, height = (int(c) for c in cells[6:10])
        except ValueError:
            continue
        words.append(
            Word(
                text=cells[11].strip(),
                left=left // scale,
                top=top // scale,
                width=-(-width // scale),
                height=-(-height // scale),
                confidence=conf,
                line=(int(cells[1]), block, par, line),
            )
        )
    return words


def read_words(gray: np.ndarray, *, psm: int = 11) -> list[Word]:
    """Recognise the words of an 8-bit grey image, with boxes in its own pixels.

    Parameters
    ----------
    gray
        ``(rows, columns)`` uint8 image.
    psm
        Tesseract page segmentation mode (11: sparse text, no order assumed).
    """
    program = tesseract_path()
    _version(program)
    scale = _scale_for(gray)
    image = np.repeat(np.repeat(gray, scale, axis=0), scale, axis=1) if scale > 1 else gray
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    try:
        done = subprocess.run(
            [program, "stdin", "stdout", "--psm", str(psm), "-l", "eng", "tsv"],
            input=_pgm(image),
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=False,
            env=env,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise OcrUnavailableError(
            f"the Tesseract OCR engine could not run ({type(exc).__name__})"
        ) from exc
    if done.returncode != 0:
        raise OcrUnavailableError(
            f"the Tesseract OCR engine failed (exit {done.returncode}); is the 'eng' "
            "language data installed (tesseract-ocr-eng)?"
        )
    return _parse(done.stdout.decode("utf-8", "replace"), scale)
