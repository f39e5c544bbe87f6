"""``verify --ocr``: read the released pixels again, on verify's own path.

It shares only the OCR engine with the cleaner (:mod:`deidkit.pixels.ocr`, the rendering
and the pixel decoder), never its matcher, its region rules or its cleaning code (an
import contract checks it): a bug in what the scrub looked for cannot hide itself here.
Files whose header marks a burned-in text risk are read, every frame. A word read is PHI
when it is one of the originals' identifying values (``--original``: names, IDs, dates in
any format, institutions; one OCR slip allowed) or a generic date, ID, phone or e-mail.
Findings name the file, the frame and the kind, never the text read.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from deidkit.core.errors import DeidkitError, OcrUnavailableError
from deidkit.rules.phi_text import find_phi_spans as find_text_spans
from deidkit.verify.names import ordinary_word
from deidkit.verify.records import Finding, OriginalIndex

__all__ = ["CHECK_PIXEL_TEXT", "OcrCheck", "ocr_check", "pixel_values"]

CHECK_PIXEL_TEXT: Final = "pixel-text"
_GENERIC_KINDS: Final = frozenset({"date", "id", "phone", "email"})
_NON_ALNUM: Final = re.compile(r"[^0-9A-Z]")
_NAME_KEYWORD: Final = re.compile(r"(Name|Names|Physician|Operators?)$")
_ID_KEYWORDS: Final = frozenset({"PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID"})
_PLACE_KEYWORDS: Final = frozenset({"InstitutionName", "InstitutionAddress"})
#: A value this long is searched for in a whole line with spaces dropped, too.
_WHOLE_MIN: Final = 10


@dataclass
class OcrCheck:
    """What reading the released pixels found (files by release path, kinds only)."""

    findings: list[Finding] = field(default_factory=list)
    files_read: int = 0
    files_with_phi: int = 0
    frames_read: int = 0
    engine: str = ""

    def summary(self) -> dict[str, object]:
        """For the JSON document."""
        return {"engine": self.engine, "files_read": self.files_read,
                "frames_read": self.frames_read, "files_with_phi": self.files_with_phi}  # fmt: skip


def _digit_forms(year: int, month: int, day: int) -> set[str]:
    """A date as OCR shows it once separators are dropped: every numeric order."""
    y, m, d, yy = f"{year:04d}", f"{month:02d}", f"{day:02d}", f"{year % 100:02d}"
    return {y + m + d, d + m + y, m + d + y, d + m + yy, m + d + yy}


def _norm(text: str) -> str:
    return _NON_ALNUM.sub("", text.upper())


def pixel_values(index: OriginalIndex | None) -> frozenset[str]:
    """The originals' identifying values as OCR would show them (letters and digits)."""
    if index is None:
        return frozenset()
    out: set[str] = set()
    for value, keyword in index.values.items():
        if _NAME_KEYWORD.search(keyword):
            # the values are the whole batch's: a name part that is an ordinary word
            # ("Green") is a colour on another patient's screen; the whole name still counts
            parts = [p for p in re.split(r"[\^\s,]+", value) if p]
            if len(parts) > 1:
                out.add(_norm("".join(parts)))
            out |= {_norm(p) for p in parts if not ordinary_word(p.lower())}
        elif keyword in _ID_KEYWORDS:
            out.add(_norm(value))
        elif keyword.endswith("Date") and re.fullmatch(r"\d{8}", value.strip()):
            out |= _digit_forms(int(value[:4]), int(value[4:6]), int(value[6:8]))
        elif keyword in _PLACE_KEYWORDS:
            # the whole name, and only its distinctive words alone: "General", "Medical",
            # "Center" of some institution in the batch are a preset or a logo on a screen
            out.add(_norm(value))
            out |= {_norm(p) for p in value.split() if not ordinary_word(p.lower())}
    return frozenset(v for v in out if len(v) >= 4)


def _one_slip(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return a == b
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _phi_kind(line: str, words: list[str], values: frozenset[str]) -> str | None:
    joined = _norm(line)
    if any(len(value) >= _WHOLE_MIN and value in joined for value in values):
        return "original-value"  # a multi-word value read as separate words
    for word in map(_norm, words):
        if len(word) < 4:
            continue
        for value in values:
            if word == value or (len(value) >= 5 and value in word):
                return "original-value"
            if len(value) >= 5 and len(word) >= 5 and _one_slip(word, value):
                return "original-value"
    for span in find_text_spans(line, None, names=False):
        if span.kind in _GENERIC_KINDS:
            return span.kind
    return None


def _risky(ds: object) -> bool:
    from deidkit.pixels.risk import burned_in_risk

    def peek(tag: int) -> str:
        try:
            element = ds.get(tag)  # type: ignore[attr-defined]
            return "" if element is None else str(element.value).strip()
        except Exception:
            return ""

    return burned_in_risk(peek) is not None


def _read_file(path: Path, rel: str, values: frozenset[str], result: OcrCheck) -> None:
    import pydicom

    from deidkit.pixels.frames import decode_frames, layout_of
    from deidkit.pixels.ocr import read_frame
    from deidkit.pixels.render import render_frame

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
        if "PixelData" not in ds or not _risky(ds):
            return
        layout = layout_of(ds)
        frames = decode_frames(ds, layout)
    result.files_read += 1
    found = False
    for number, frame in enumerate(frames, start=1):
        result.frames_read += 1
        gray = render_frame(frame, photometric=layout.photometric)
        lines: dict[tuple[int, int, int, int], list[str]] = {}
        for word in read_frame(gray):
            lines.setdefault(word.line, []).append(word.text)
        for words in lines.values():
            kind = _phi_kind(" ".join(words), words, values)
            if kind is not None:
                found = True
                result.findings.append(
                    Finding(file=rel, tag_path="(7FE0,0010)", check=CHECK_PIXEL_TEXT,
                            severity="error", keyword="PixelData", pattern=kind,
                            message=f"PHI read in the pixels of frame {number}")  # fmt: skip
                )
                break
    result.files_with_phi += found


def ocr_check(
    files: Iterable[tuple[str, str]], *, originals: OriginalIndex | None = None
) -> OcrCheck:
    """Read the pixels of ``(path, relative path)`` files at burned-in risk.

    Raises :class:`OcrUnavailableError` when Tesseract cannot run: never a silent pass.
    """
    from deidkit.pixels.ocr import tesseract_version

    result = OcrCheck(engine=tesseract_version())
    values = pixel_values(originals)
    for path, rel in files:
        try:
            _read_file(Path(path), rel, values, result)
        except OcrUnavailableError:
            raise
        except (DeidkitError, Exception):  # pixels verify cannot decode: said, not passed
            result.findings.append(
                Finding(file=rel, tag_path="(7FE0,0010)", check=CHECK_PIXEL_TEXT,
                        severity="warn", keyword="PixelData", pattern="unreadable",
                        message="pixel data could not be decoded for reading")  # fmt: skip
            )
    return result


def with_pixels_hidden(
    score: Mapping[str, object] | None, check: OcrCheck
) -> Mapping[str, object] | None:
    """The score with the ``pixels_hidden`` category (files read without PHI in them)."""
    if score is None:
        return None
    out = dict(score)
    categories = dict(out.get("categories", {}))  # type: ignore[call-overload]
    done, required = check.files_read - check.files_with_phi, check.files_read
    categories["pixels_hidden"] = {
        "done": done, "required": required,
        "score": round(done / required, 4) if required else None,
    }  # fmt: skip
    out["categories"] = categories
    totals = [c for c in categories.values() if isinstance(c, dict)]
    total_req = sum(int(c["required"]) for c in totals)
    if total_req:
        out["overall"] = round(sum(int(c["done"]) for c in totals) / total_req, 4)
    return out
