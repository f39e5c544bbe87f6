"""Burned-in text in pixel data: which files may carry it, where it is, cleaning it.

:func:`burned_in_risk` (:mod:`~deidkit.pixels.risk`) says from header facts whether a file
may carry burned-in text; region rules (:mod:`~deidkit.pixels.regions`) name boxes known to
hold text on a device; each frame is rendered (:mod:`~deidkit.pixels.render`) and read by
Tesseract (:mod:`~deidkit.pixels.ocr`); the words that hold this file's identifiers or
generic PHI (:mod:`~deidkit.pixels.match`) are the boxes :func:`clean_dataset`
(:mod:`~deidkit.pixels.clean`) fills and reads again. Importing this package loads neither
numpy nor pydicom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deidkit._lazy import lazy_exports

if TYPE_CHECKING:
    from deidkit.pixels.clean import (
        STATUS_CLEANED,
        STATUS_NO_TEXT,
        STATUS_RESIDUAL,
        Detection,
        PixelResult,
        ScanResult,
        apply_result,
        clean_dataset,
        filled_box,
        record_no_text,
        scan_dataset,
    )
    from deidkit.pixels.match import Identifiers, PhiSpan, find_phi_spans, identifiers_of
    from deidkit.pixels.ocr import Word, read_words, tesseract_version
    from deidkit.pixels.regions import (
        RegionRule,
        load_regions,
        parse_ctp_script,
        parse_deid_filters,
        shipped_regions,
    )
    from deidkit.pixels.render import both_polarities, render_frame
    from deidkit.pixels.risk import burned_in_risk

_EXPORTS = {
    "STATUS_CLEANED": "deidkit.pixels.clean",
    "STATUS_NO_TEXT": "deidkit.pixels.clean",
    "STATUS_RESIDUAL": "deidkit.pixels.clean",
    "Detection": "deidkit.pixels.clean",
    "PixelResult": "deidkit.pixels.clean",
    "ScanResult": "deidkit.pixels.clean",
    "apply_result": "deidkit.pixels.clean",
    "clean_dataset": "deidkit.pixels.clean",
    "filled_box": "deidkit.pixels.clean",
    "record_no_text": "deidkit.pixels.clean",
    "scan_dataset": "deidkit.pixels.clean",
    "Identifiers": "deidkit.pixels.match",
    "PhiSpan": "deidkit.pixels.match",
    "find_phi_spans": "deidkit.pixels.match",
    "identifiers_of": "deidkit.pixels.match",
    "Word": "deidkit.pixels.ocr",
    "read_words": "deidkit.pixels.ocr",
    "tesseract_version": "deidkit.pixels.ocr",
    "RegionRule": "deidkit.pixels.regions",
    "load_regions": "deidkit.pixels.regions",
    "parse_ctp_script": "deidkit.pixels.regions",
    "parse_deid_filters": "deidkit.pixels.regions",
    "shipped_regions": "deidkit.pixels.regions",
    "both_polarities": "deidkit.pixels.render",
    "render_frame": "deidkit.pixels.render",
    "burned_in_risk": "deidkit.pixels.risk",
}

__all__ = [
    "STATUS_CLEANED",
    "STATUS_NO_TEXT",
    "STATUS_RESIDUAL",
    "Detection",
    "Identifiers",
    "PhiSpan",
    "PixelResult",
    "RegionRule",
    "ScanResult",
    "Word",
    "apply_result",
    "both_polarities",
    "burned_in_risk",
    "clean_dataset",
    "filled_box",
    "find_phi_spans",
    "identifiers_of",
    "load_regions",
    "parse_ctp_script",
    "parse_deid_filters",
    "read_words",
    "record_no_text",
    "render_frame",
    "scan_dataset",
    "shipped_regions",
    "tesseract_version",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
