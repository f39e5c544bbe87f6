"""Words and their boxes from the Tesseract OCR engine.

Two ways to the same engine and language data: in process through ``tesserocr`` (the
``[pixels]`` extra; one engine per thread, loaded once and reused, which saves the start-up
and model load, about 0.2 s, of every call) when it is installed and the ``eng`` language
data is found, otherwise the ``tesseract`` program, called directly (what ``pytesseract``
does) with the image on stdin as a PGM and TSV on stdout. Either way no temporary file holds
a rendering of patient pixels. Naming a program in ``DEIDKIT_TESSERACT`` selects the
program; ``DEIDKIT_OCR_ENGINE=program`` does too. Sparse-text page segmentation suits
annotations scattered over an image. When Tesseract is missing or fails,
:class:`~deidkit.core.errors.OcrUnavailableError` is raised: a check that cannot read text
never passes silently.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np

from deidkit.core.errors import OcrUnavailableError
from deidkit.pixels.candidates import _CELL, find_candidates, mosaic_of, smoothed
from deidkit.pixels.candidates import _GAP as _MOSAIC_GAP
from deidkit.pixels.candidates import _PAD as _CANDIDATE_PAD
from deidkit.pixels.orient import Piece, box_back, corners_back, slanted_candidates, turned
from deidkit.pixels.render import _percentiles, both_polarities

__all__ = ["Word", "read_frame", "read_words", "tesseract_path", "tesseract_version"]

#: Environment variable naming the tesseract program (default: ``tesseract`` on PATH).
TESSERACT_ENV: Final = "DEIDKIT_TESSERACT"
#: ``program`` forces the ``tesseract`` program even where ``tesserocr`` is installed.
ENGINE_ENV: Final = "DEIDKIT_OCR_ENGINE"
#: Where Debian, Fedora and source builds put the language data (TESSDATA_PREFIX first).
_TESSDATA_DIRS: Final = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
_TIMEOUT_S: Final = 120
_MIN_HEIGHT: Final = 600  # smaller renderings are enlarged: Tesseract wants tall glyphs
_TALL: Final = 48  # crops lower than this are read twice as large
_SURE: Final = 60.0  # a word read this surely explains its width of a crop
_EXPLAINED: Final = 0.4  # a crop less explained than this is read again, upside down
_MIN_LINE: Final = 36  # pixels: three or four characters of small text


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
    #: degrees the text was turned to be read (0: it runs left to right in the frame)
    angle: float = 0.0
    #: for turned text, the word's own box as four corners in frame pixels (x0, y0, ...)
    quad: tuple[int, ...] = ()

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
    if _in_process():
        import tesserocr

        line = str(tesserocr.tesseract_version()).splitlines()[0].strip()
        return f"{line} (tesserocr)"
    return _version(tesseract_path())


def _tessdata() -> str | None:
    """The folder holding ``eng.traineddata``, or None."""
    prefix = os.environ.get("TESSDATA_PREFIX")
    folders = [prefix, os.path.join(prefix, "tessdata")] if prefix else []
    for folder in [*folders, *_TESSDATA_DIRS]:
        if os.path.isfile(os.path.join(folder, "eng.traineddata")):
            return folder
    return None


def _in_process() -> bool:
    """Whether reads go through ``tesserocr`` (installed, language data found, not vetoed)."""
    if os.environ.get(TESSERACT_ENV) or os.environ.get(ENGINE_ENV) == "program":
        return False
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return _tessdata() is not None


class _Engines:
    """Idle in-process engines by (language data, page segmentation mode).

    An engine is not thread-safe: each read takes one for itself and gives it back, so
    threads read at once (``tesserocr`` lets go of the GIL while recognising) and a pool of
    threads started per file reuses the engines of the last. A forked child starts afresh.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, int], list[Any]] = {}
        self._pid = os.getpid()

    def take(self, tessdata: str, psm: int) -> Any:
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.get((tessdata, psm))
            if idle:
                return idle.pop()
        import tesserocr

        try:
            # LSTM only (what the packaged 'fast' data holds); the inverted retry is off:
            # both polarities are always given
            api = tesserocr.PyTessBaseAPI(
                path=tessdata, lang="eng", psm=psm, oem=tesserocr.OEM.LSTM_ONLY
            )
        except RuntimeError as exc:
            raise OcrUnavailableError(
                "the Tesseract OCR engine could not load its 'eng' language data; is "
                "tesseract-ocr-eng installed?"
            ) from exc
        api.SetVariable("tessedit_do_invert", "0")
        return api

    def give(self, tessdata: str, psm: int, api: Any) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._idle.setdefault((tessdata, psm), []).append(api)


_ENGINES = _Engines()


def _read_in_process(image: np.ndarray, psm: int) -> str:
    tessdata = _tessdata()
    if tessdata is None:  # removed since _in_process() looked
        raise OcrUnavailableError()
    api = _ENGINES.take(tessdata, psm)
    try:
        rows, columns = image.shape
        api.SetImageBytes(np.ascontiguousarray(image).tobytes(), columns, rows, 1, columns)
        api.Recognize()  # tesserocr recognises without the GIL: threads read at once
        return str(api.GetTSVText(0))
    finally:
        api.Clear()
        _ENGINES.give(tessdata, psm, api)


def _pgm(gray: np.ndarray) -> bytes:
    rows, columns = gray.shape
    return f"P5 {columns} {rows} 255\n".encode("ascii") + np.ascontiguousarray(gray).tobytes()


def _scale_for(gray: np.ndarray) -> int:
    rows = int(gray.shape[0])
    return max(1, min(4, -(-_MIN_HEIGHT // max(1, rows))))


def _parse(tsv: str, scale: int) -> list[Word]:
    words: list[Word] = []
    for row in tsv.splitlines():  # the program's header row is no level-5 row
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


def read_words(gray: np.ndarray, *, psm: int = 11, scale: int | None = None) -> list[Word]:
    """Recognise the words of an 8-bit grey image, with boxes in its own pixels.

    Parameters
    ----------
    gray
        ``(rows, columns)`` uint8 image.
    psm
        Tesseract page segmentation mode (11: sparse text, no order assumed).
    scale
        Enlarge by this factor first (default: small images up to about 600 rows).
    """
    scale = _scale_for(gray) if scale is None else max(1, scale)
    image = np.repeat(np.repeat(gray, scale, axis=0), scale, axis=1) if scale > 1 else gray
    if _in_process():
        return _parse(_read_in_process(image, psm), scale)
    return _parse(_run_program(image, psm), scale)


def _options(psm: int) -> list[str]:
    # LSTM only, as the in-process engine; no inverted retry: both polarities are given
    return ["--psm", str(psm), "--oem", "1", "-l", "eng", "-c", "tessedit_do_invert=0"]


def _run_program(image: np.ndarray, psm: int) -> str:
    program = tesseract_path()
    _version(program)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    try:
        done = subprocess.run(
            [program, "stdin", "stdout", *_options(psm), "tsv"],
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
    return done.stdout.decode("utf-8", "replace")


def _shifted(word: Word, dx: int, dy: int) -> Word:
    return Word(word.text, word.left + dx, word.top + dy, word.width, word.height,
                word.confidence, word.line)  # fmt: skip


def _whole_frame(gray: np.ndarray, reader: Callable[[np.ndarray], list[Word]]) -> list[Word]:
    rows = gray.shape[0]
    words = []
    for word in reader(both_polarities(gray)):
        words.append(_shifted(word, 0, -rows) if word.top >= rows else word)
    return words


def read_frame(
    gray: np.ndarray, *, reader: Callable[[np.ndarray], list[Word]] = read_words
) -> list[Word]:
    """The words of one 8-bit frame, both polarities, with boxes in frame pixels.

    Text candidates (:func:`~deidkit.pixels.candidates.text_candidates`, and lines at an
    angle, :func:`~deidkit.pixels.orient.slanted_candidates`, turned upright) are read as
    one mosaic; a candidate whose reading explains little of it is read again turned half a
    turn (upside-down text). A frame without a fast path is read whole (it and its
    negative), smoothed first where it is textured.
    """
    boxes, textured = find_candidates(gray)
    if boxes is None:
        return _whole_frame(smoothed(gray) if textured else gray, reader)
    pieces = [Piece(box) for box in boxes] + slanted_candidates(gray)
    if not pieces:
        return []
    words, explained = _read_pieces(gray, pieces, reader, first_line=0)
    again = [Piece(p.box, p.angle + 180.0) for p, ok in zip(pieces, explained, strict=True)
             if not ok and _line_shaped(p)]  # fmt: skip
    if again:
        words += _read_pieces(gray, again, reader, first_line=len(pieces))[0]
    return words


def _line_shaped(piece: Piece) -> bool:
    """Whether a crop could hold a line of a few characters (blobs of anatomy cannot)."""
    if piece.angle != 0.0:
        return True  # found as a line already
    width = piece.box[2] - piece.box[0] - 2 * _CANDIDATE_PAD
    height = piece.box[3] - piece.box[1] - 2 * _CANDIDATE_PAD
    return width >= max(_MIN_LINE, 2 * height)


def _own_contrast(patch: np.ndarray) -> np.ndarray:
    """A crop stretched to its own range: Tesseract binarises a mosaic with one threshold."""
    lo, hi = _percentiles(patch, (1.0, 99.0))
    if hi - lo < 8:
        return patch
    out: np.ndarray = np.clip((patch.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
    return out.astype(np.uint8)


def _variants(crop: np.ndarray, *, turning: bool) -> list[tuple[np.ndarray, str]]:
    """What is read of a crop, and which side of it (``mosaic_of``'s ``sides``).

    Upright: the crop and its negative (reading only the side a crop's strokes favour lost
    9 of 48 planted items in the bench). Turned: its light and its dark strokes lifted off
    the background (white and black top-hat), each as dark on light: turned text over a
    striped or graded background reads poorly otherwise (the stripes turn with it).
    """
    if not turning:
        return [(_own_contrast(crop), "both")]
    try:
        import cv2
    except ImportError:
        return [(_own_contrast(crop), "both")]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_CELL, _CELL))
    light = cv2.morphologyEx(crop, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(crop, cv2.MORPH_BLACKHAT, kernel)
    return [(_own_contrast(light), "negative"), (_own_contrast(dark), "negative")]


@dataclass
class _Mosaic:
    """The patches read in one call: what each shows, its way back, whose it is."""

    patches: list[np.ndarray]
    backs: list[np.ndarray]
    owners: list[int]
    sides: list[str]


def _lay_out(gray: np.ndarray, pieces: list[Piece], *, enlarge: bool) -> _Mosaic:
    laid = _Mosaic([], [], [], [])
    for number, piece in enumerate(pieces):
        left, top, right, bottom = piece.box
        for variant, side in _variants(gray[top:bottom, left:right], turning=piece.angle != 0.0):
            patch, back = turned(variant, piece.angle)
            # small glyphs read better twice as large; the mosaic is small, so it costs little
            if enlarge and patch.shape[0] < _TALL:
                patch = np.repeat(np.repeat(patch, 2, axis=0), 2, axis=1)
                back = np.concatenate([back[:, :2] / 2.0, back[:, 2:]], axis=1)
            laid.patches.append(patch)
            laid.backs.append(back)
            laid.owners.append(number)
            laid.sides.append(side)
    return laid


def _read_pieces(
    gray: np.ndarray,
    pieces: list[Piece],
    reader: Callable[[np.ndarray], list[Word]],
    *,
    first_line: int,
) -> tuple[list[Word], list[bool]]:
    """Read ``pieces`` as one mosaic: the words in frame pixels, and which pieces they explain."""
    laid = _lay_out(gray, pieces, enlarge=reader is read_words)
    image, places = mosaic_of(laid.patches, laid.sides)
    read = reader(image) if reader is not read_words else read_words(image, scale=1)
    words: list[Word] = []
    sure = [0] * len(pieces)
    for word in read:
        middle = word.top + word.height // 2
        for index, (top, negative) in enumerate(places):
            if top <= middle < top + laid.patches[index].shape[0]:
                owner = laid.owners[index]
                x0 = negative if word.left >= negative else _MOSAIC_GAP
                placed = _placed(word, pieces[owner], laid.backs[index], (x0, top),
                                 line=first_line + owner)  # fmt: skip
                if placed is not None:
                    words.append(placed)
                    if word.confidence >= _SURE and len(re.sub(r"\W", "", word.text)) >= 2:
                        sure[owner] += word.width
                break
    widths = [0] * len(pieces)
    for owner, patch in zip(laid.owners, laid.patches, strict=True):
        widths[owner] = max(widths[owner], patch.shape[1])
    explained = [n >= _EXPLAINED * w for n, w in zip(sure, widths, strict=True)]
    return words, explained


def _placed(
    word: Word, piece: Piece, back: np.ndarray, origin: tuple[int, int], *, line: int
) -> Word | None:
    """A word read in a mosaic patch, in frame pixels (None: it maps to nothing)."""
    x0, y0 = origin
    local = (word.left - x0, word.top - y0, word.left - x0 + word.width,
             word.top - y0 + word.height)  # fmt: skip
    shape = (piece.box[3] - piece.box[1], piece.box[2] - piece.box[0])
    left, top, right, bottom = box_back(local, back, shape)
    if right <= left or bottom <= top:
        return None
    key = (word.line[0], line, word.line[2] + 1000 * (x0 != _MOSAIC_GAP), word.line[3])
    angle = (piece.angle + 180.0) % 360.0 - 180.0
    quad: tuple[int, ...] = ()
    if angle != 0.0:
        dx, dy = piece.box[0], piece.box[1]
        quad = tuple(v + (dx if i % 2 == 0 else dy)
                     for i, v in enumerate(corners_back(local, back)))  # fmt: skip
    return Word(word.text, piece.box[0] + left, piece.box[1] + top, right - left,
                bottom - top, word.confidence, key, angle, quad)  # fmt: skip
