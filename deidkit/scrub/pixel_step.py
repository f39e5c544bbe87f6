"""``scrub --clean-pixels``: the pixel step of one file flagged for burned-in text.

The original file's pixels are read against its *original* header (the values to look
for are gone from the scrubbed one), cleaned and re-checked by :mod:`deidkit.pixels`; a
cleaned result is written into the scrubbed dataset with Burned In Annotation = NO and the
Clean Pixel Data code. A file with risk but no PHI read in any frame keeps its pixels, says so,
and gets the same two marks: every frame was read as the re-check of a cleaned file reads
(otherwise ``deidkit verify`` would flag a Burned In Annotation = YES the scan disproved).
Text still read after cleaning, or pixels that cannot be read, hold the file back. What goes to
the action log is codes and counts, never a word read.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO
from typing import TYPE_CHECKING, Any, Final

from deidkit.core.errors import DeidkitError, PixelDataError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "NOTE_NO_TEXT",
    "PIXEL_WORKERS_ENV",
    "REASON_BURNED_IN_RESIDUAL",
    "REASON_PIXELS_ERROR",
    "PixelStep",
    "clean_pixels",
]

#: The action log's note on a file at risk in which no frame showed PHI.
NOTE_NO_TEXT: Final = (
    "burned-in risk, every frame read, no PHI read in any frame: pixels unchanged; "
    "BurnedInAnnotation set to NO and Clean Pixel Data (113101) recorded, as the scan is "
    "the re-check a cleaned file passes"
)
REASON_BURNED_IN_RESIDUAL: Final = "burned_in_residual"
REASON_PIXELS_ERROR: Final = "pixels_error"
#: Set to 1 before the workers' server starts: it then keeps pydicom's pixel decoders
#: (:mod:`deidkit.scrub.workers.server` leaves numpy out of a plain scrub's workers).
PIXEL_WORKERS_ENV: Final = "DEIDKIT_PIXEL_WORKERS"


@dataclass(frozen=True)
class PixelStep:
    """The action-log record of the step and, when the file is held back, why."""

    record: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    detail: str | None = None


def _check_decoders() -> None:
    """A worker whose pydicom was imported without numpy cannot decode pixels: say so."""
    base = sys.modules.get("pydicom.pixels.decoders.base")
    if base is not None and getattr(base, "HAVE_NP", True) is False:
        raise PixelDataError(
            "no_decoders",
            "this worker started without pixel decoders; run with --workers 1 or start "
            f"the run with --clean-pixels on the command line ({PIXEL_WORKERS_ENV}=1)",
        )


def clean_pixels(original: bytes, ds: Dataset, *, regions: tuple[Any, ...] = ()) -> PixelStep:
    """Clean the pixels of ``original`` and write the result into the scrubbed ``ds``."""
    import pydicom

    from deidkit.pixels.clean import (
        STATUS_NO_TEXT,
        STATUS_RESIDUAL,
        apply_result,
        clean_dataset,
        record_no_text,
    )

    try:
        _check_decoders()
        source = pydicom.dcmread(BytesIO(original), force=True)
        result = clean_dataset(source, regions=regions)
    except DeidkitError as exc:  # typed errors carry no values
        return PixelStep({"status": "error"}, REASON_PIXELS_ERROR, str(exc))
    except Exception as exc:  # pydicom's messages may quote values: the type only
        return PixelStep({"status": "error"}, REASON_PIXELS_ERROR, type(exc).__name__)
    record: dict[str, Any] = {"status": result.status, "frames": result.frames}
    if result.status == STATUS_NO_TEXT:
        record_no_text(ds, result)
        record["note"] = NOTE_NO_TEXT
        record["burned_in_annotation"] = "NO"
        return PixelStep(record)
    record["boxes"] = dict(sorted(Counter(d.kind for d in result.detections).items()))
    if result.status == STATUS_RESIDUAL:
        record["residual_boxes"] = len(result.residual)
        return PixelStep(record, REASON_BURNED_IN_RESIDUAL, "PHI still read after cleaning")
    try:
        apply_result(ds, result)
    except Exception as exc:
        return PixelStep({"status": "error"}, REASON_PIXELS_ERROR, type(exc).__name__)
    record["changed_pixels"] = result.changed_pixels
    if result.transfer_syntax is not None:
        record["transfer_syntax"] = result.transfer_syntax
    return PixelStep(record)
