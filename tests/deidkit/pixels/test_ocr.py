"""The real Tesseract: words with boxes, text candidates, cleaning proved by reading again.

These tests skip, saying why, where Tesseract is not installed; test_clean.py covers the
cleaning of every pixel layout without it.
"""

from __future__ import annotations

import numpy as np
import pytest
from pixel_builders import (
    BIRTH_FORMS,
    NAME,
    PATIENT_ID,
    legible,
    mono_picture,
    reread,
    tesseract_missing,
    to_bytes,
    us_rgb_picture,
)
from pydicom.uid import RLELossless

from deidkit.core.errors import OcrUnavailableError
from deidkit.pixels.candidates import text_candidates
from deidkit.pixels.clean import STATUS_CLEANED, apply_result, clean_dataset
from deidkit.pixels.frames import decode_frames, layout_of
from deidkit.pixels.ocr import read_frame, read_words, tesseract_version
from deidkit.pixels.render import render_frame

needs_tesseract = pytest.mark.skipif(
    tesseract_missing() is not None, reason=str(tesseract_missing())
)
PHI = [NAME, PATIENT_ID, *BIRTH_FORMS]


def _gray(picture, frame: int = 0) -> np.ndarray:
    layout = layout_of(picture.ds)
    return render_frame(decode_frames(picture.ds, layout)[frame], photometric=layout.photometric)


def test_missing_tesseract_is_a_typed_error_naming_the_package(monkeypatch) -> None:
    monkeypatch.setenv("DEIDKIT_TESSERACT", "no-such-tesseract-here")
    with pytest.raises(OcrUnavailableError) as info:
        read_words(np.zeros((20, 20), dtype=np.uint8))
    assert "tesseract-ocr" in str(info.value)


def test_candidates_skip_blank_frames_and_defer_on_speckle() -> None:
    assert text_candidates(np.full((100, 100), 30, dtype=np.uint8)) == []
    assert text_candidates(_gray(us_rgb_picture())) is None  # speckle: read the whole frame
    boxes = text_candidates(_gray(mono_picture()))
    assert boxes is not None and 3 <= len(boxes) <= 8


@needs_tesseract
def test_read_frame_finds_words_in_frame_pixels() -> None:
    assert tesseract_version().startswith("tesseract")
    picture = mono_picture()
    words = read_frame(_gray(picture))
    texts = {w.text.strip(",").upper() for w in words}
    assert {"QUIXOTE", "MARGARETHA", PATIENT_ID, "TIS"} <= texts
    name = next(w for w in words if w.text.upper().startswith("QUIXOTE"))
    planted = picture.planted[0].box
    assert abs(name.left - planted[0]) <= 4 and abs(name.top - planted[1]) <= 4


@needs_tesseract
@pytest.mark.parametrize(
    "make",
    [
        lambda: mono_picture(kind="noise"),
        lambda: mono_picture(bits=16, kind="anatomy", photometric="MONOCHROME1", signed=True),
        lambda: us_rgb_picture(frames=2),
    ],
    ids=["mono8-noise", "mono16-anatomy-signed", "us-rgb-2-frames"],
)
def test_planted_phi_unreadable_after_cleaning_labels_kept(make) -> None:
    picture = make()
    result = clean_dataset(picture.ds)
    assert result.status == STATUS_CLEANED
    ds = reread(to_bytes(picture.ds))
    apply_result(ds, result)
    ds = reread(to_bytes(ds))
    assert legible(picture.ds, PHI)  # the original is legible: the check can fail
    assert legible(ds, PHI) == []
    assert "TIS" in legible(ds, ["TIS"], min_length=3)


@needs_tesseract
def test_rle_ultrasound_cleaned_losslessly() -> None:
    picture = us_rgb_picture()
    frames = decode_frames(picture.ds, layout_of(picture.ds))
    picture.ds.compress(RLELossless, frames[0], generate_instance_uid=False)
    result = clean_dataset(picture.ds)
    ds = reread(to_bytes(picture.ds))
    apply_result(ds, result)
    ds = reread(to_bytes(ds))
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    assert legible(ds, PHI) == []


@needs_tesseract
def test_files_without_text_are_untouched() -> None:
    picture = mono_picture(items=[], kind="anatomy")
    result = clean_dataset(picture.ds)
    assert result.status == "no_text" and result.pixel_data is None


def _tesserocr_missing() -> str | None:
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return "tesserocr is not installed (the [pixels] extra)"
    from deidkit.pixels.ocr import _tessdata

    return None if _tessdata() else "no eng.traineddata found for tesserocr"


@needs_tesseract
@pytest.mark.skipif(_tesserocr_missing() is not None, reason=str(_tesserocr_missing()))
def test_in_process_engine_and_program_read_the_same_words(monkeypatch) -> None:
    for name in ("DEIDKIT_OCR_ENGINE", "DEIDKIT_TESSERACT"):
        monkeypatch.delenv(name, raising=False)
    gray = _gray(mono_picture())
    assert "(tesserocr)" in tesseract_version()
    in_process = {w.text.strip(",").upper() for w in read_frame(gray)}
    monkeypatch.setenv("DEIDKIT_OCR_ENGINE", "program")
    assert "(tesserocr)" not in tesseract_version()
    program = {w.text.strip(",").upper() for w in read_frame(gray)}
    assert {"QUIXOTE", "MARGARETHA", PATIENT_ID} <= in_process & program


@pytest.mark.skipif(_tesserocr_missing() is not None, reason=str(_tesserocr_missing()))
def test_engines_are_reused_not_reloaded_per_read(monkeypatch) -> None:
    from deidkit.pixels import ocr

    for name in ("DEIDKIT_OCR_ENGINE", "DEIDKIT_TESSERACT"):
        monkeypatch.delenv(name, raising=False)

    blank = np.full((40, 40), 255, dtype=np.uint8)
    read_words(blank)
    tessdata = ocr._tessdata()
    assert tessdata is not None
    idle = ocr._ENGINES._idle[(tessdata, 11)]
    engine = idle[-1]
    read_words(blank)
    assert idle[-1] is engine


def test_smoothing_melts_speckle_and_keeps_strokes() -> None:
    from deidkit.pixels.candidates import smoothed

    rng = np.random.default_rng(0)
    speckle = rng.gamma(2.0, 30.0, (60, 120)).clip(0, 255).astype(np.uint8)
    speckle[20:40, 50:53] = 255  # a vertical stroke three pixels wide
    out = smoothed(speckle)
    assert out.shape == speckle.shape and out.dtype == np.uint8
    assert out[:, :40].std() < 0.6 * speckle[:, :40].std()
    assert out[22:38, 51].min() >= 200


@needs_tesseract
def test_without_language_data_for_tesserocr_the_program_reads(monkeypatch, tmp_path) -> None:
    from deidkit.pixels import ocr

    for name in ("DEIDKIT_OCR_ENGINE", "DEIDKIT_TESSERACT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))  # holds no eng.traineddata
    monkeypatch.setattr(ocr, "_TESSDATA_DIRS", ())
    assert not ocr._in_process()
    assert "(tesserocr)" not in tesseract_version()
    monkeypatch.delenv("TESSDATA_PREFIX")  # the program finds its own data
    texts = {w.text.strip(",").upper() for w in read_frame(_gray(mono_picture()))}
    assert PATIENT_ID in texts
