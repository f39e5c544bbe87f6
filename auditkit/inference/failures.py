"""Why the model failed on a row: a reason that names the cause, never a data value.

The framework's own message is what a user needs ("mat1 and mat2 shapes cannot be
multiplied (1x891 and 512x1)"), but a message can also quote data: a model's assert printing
a voxel, a tensor repr, a file path. So a row's reason keeps the exception class, the
framework's final message line only when it shows no decimal number, tensor, long number list
or path (and truncated), the input shape, and what the model expected when the message is one
of the well-known shape errors. ``--verbose`` logs the first failure's traceback, with every
message line that could hold a value withheld.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Sequence
from typing import Final

logger = logging.getLogger(__name__)

ERR_MODEL_FAILED: Final = "model failed on this input ({cause})"

#: Every ``error_code`` a failed row can carry, with what it means. A code is stable (the
#: ``error`` text may change); count failures by code and by subgroup to see whether a decoder
#: or a model fails on one vendor's images.
ERROR_CODES: Final[dict[str, str]] = {
    "no_image": "the manifest row's image cell is empty",
    "image_missing": "the image file or series folder does not exist",
    "image_unreadable": "not a readable DICOM or NIfTI file",
    "no_pixel_data": "the DICOM file has no pixel data",
    "decoder_missing": "no installed plugin decodes the pixel data's transfer syntax (named)",
    "decode_failed": "a decoder is installed but the pixel data did not decode",
    "palette_colour": "PALETTE COLOR image for a model not of 3 channels, without "
    "--colour-to-grey (or its colour lookup table is unusable)",
    "colour_unsupported": "colour (RGB, YBR) image for a model not of 3 channels, without "
    "--colour-to-grey",
    "mixed_series": "the folder holds more than one DICOM series",
    "series_geometry": "the series' slices differ in size or orientation",
    "series_gaps": "the series has irregular or duplicate slice positions",
    "series_no_position": "the series' slices lack ImagePositionPatient",
    "series_dimensions": "a DICOM image that is neither 2D nor a stack of frames",
    "image_dimensions": "a NIfTI image that is neither 2D nor 3D",
    "volume_for_2d_model": "a 3D volume was given to a 2D model (no one-voxel axis)",
    "input_not_finite": "the preprocessed image has NaN or infinite values",
    "label_mask_unreadable": "the segmentation truth mask could not be read",
    "label_mask_grid": "the truth mask's grid differs from the image's",
    "preprocessing_failed": "preprocessing raised an unexpected error (its type is named)",
    "bundle_preprocessing_failed": "the MONAI bundle's own preprocessing failed on this image",
    "model_failed": "the model raised on this input (cause and input shape named)",
    "output_not_finite": "the model's output is NaN or infinite",
}
CODE_MODEL_FAILED: Final = "model_failed"
#: Longest framework message kept in a row's reason (characters).
MAX_MESSAGE: Final = 160
NOTE_NO_SIZE: Final = (
    "no --spatial-size was given (nor declared by the model), so each image kept its own size"
)
WITHHELD: Final = "<line withheld: it may quote data values>"
NOTE_WITHHELD: Final = "message withheld: it may quote data values"

# TorchScript wraps the cause in its own traceback; the cause is the last "XError: ..." line.
_ERROR_LINE: Final = re.compile(r"^\s*([\w.]*(?:Error|Exception|Interrupt)): ")
# Traceback frame lines name code files, never data (their version numbers look like values).
_FRAME_LINE: Final = re.compile(r'^\s*File "[^"]*", line \d+')
_VALUE: Final = re.compile(
    r"tensor\(|array\(|Type\{"  # tensor / array reprs
    r"|\d\.\d|\d[eE][-+]?\d"  # decimal and scientific numbers: voxel values, not shapes
    r"|\bnan\b|\binf\b"
    r"|(?:-?\d+\s*,\s*){6,}",  # a list of numbers longer than any shape
    re.IGNORECASE,
)
_PATH: Final = re.compile(r"[/\\][\w.~-]")


def _cause(message: str) -> tuple[list[str], str]:
    """The exception names a message's cause line starts with, and the text after them."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return [], ""
    starts = [i for i, line in enumerate(lines) if _ERROR_LINE.match(line)]
    text = " ".join(lines[starts[-1] :]) if starts else lines[0]
    names = []
    while match := _ERROR_LINE.match(text):
        names.append(match.group(1))
        text = text[match.end() :]
    return names, text.strip()


def safe_message(text: str) -> str:
    """``text`` truncated, or ``""`` when it might quote data values or paths."""
    if not text or _VALUE.search(text) or _PATH.search(text):
        return ""
    text = text.rstrip(". ")
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3].rstrip() + "..."


def exception_name(exc: BaseException) -> str:
    """``RuntimeError``, ``torch.jit.Error``: builtins bare, others with their module."""
    kind = type(exc)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def describe_exception(exc: BaseException) -> str:
    """Class (and wrapped classes) of ``exc`` with its message when that is safe to show."""
    names, text = _cause(str(exc))
    kind = exception_name(exc)
    # TorchScript re-raises the model's exception: name the innermost one as well.
    if names and names[-1] != kind and not kind.endswith(f".{names[-1]}"):
        kind = f"{kind}: {names[-1]}"
    message = safe_message(text)
    if message:
        return f"{kind}: {message}"
    return f"{kind}; {NOTE_WITHHELD}" if text else kind


def _dense(match: re.Match[str], dims: int) -> str:
    got, expected = match.group(2), match.group(3)
    return (
        f"its dense layer expects {expected} input features and this input gives {got} "
        "(the model takes one fixed input size)"
    )


def _skip(match: re.Match[str], dims: int) -> str:
    return (
        "its skip connections do not line up: each spatial size must be divisible by the "
        "model's total down-sampling factor (often 16 or 32)"
    )


def _channels(match: re.Match[str], dims: int) -> str:
    return f"it expects {match.group(1)} input channel(s), this input has {match.group(2)}"


def _rank(match: re.Match[str], dims: int) -> str:
    return (
        f"it expects {int(match.group(2)) - 2}D images, this input is {dims}D "
        "(check --spatial-size / --spatial-dims)"
    )


def _too_small(match: re.Match[str], dims: int) -> str:
    return "the input is smaller than the model's kernels or pooling: set a larger --spatial-size"


def _scale(match: re.Match[str], dims: int) -> str:
    return f"it was built for images of another dimensionality than this {dims}D input"


_HINTS: Final[Sequence[tuple[re.Pattern[str], Callable[[re.Match[str], int], str]]]] = (
    (
        re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)"),
        _dense,
    ),
    (re.compile(r"Sizes of tensors must match except in dimension"), _skip),
    (re.compile(r"to have (\d+) channels, but got (\d+) channels"), _channels),
    (re.compile(r"Expected (\d+)D \(unbatched\) or (\d+)D \(batched\) input"), _rank),
    (
        re.compile(
            r"Kernel size can't be greater than actual input size|Output size is too small"
            r"|input image .* smaller than kernel size"
        ),
        _too_small,
    ),
    (re.compile(r"scale_factors.*spatial_dimensions|spatial_dimensions.*scale_factors"), _scale),
)


def shape_hint(message: str, *, input_shape: Sequence[int]) -> str:
    """What the model expected, derived from a well-known shape error; ``""`` otherwise."""
    dims = max(len(input_shape) - 2, 0)
    for pattern, explain in _HINTS:
        match = pattern.search(message)
        if match:
            return explain(match, dims)
    return ""


def failure_reason(
    exc: BaseException, *, input_shape: Sequence[int], spatial_size_given: bool
) -> str:
    """The ``error`` cell of a row the model failed on.

    Parameters
    ----------
    exc
        What the model (or the framework under it) raised.
    input_shape
        Shape of the batch the model was given, ``(1, C, ...)``.
    spatial_size_given
        Whether images were brought to a size (``--spatial-size`` or the bundle's); when not,
        the reason says so, since a native image size is the usual cause of shape errors.
    """
    shape = "(" + ", ".join(str(int(n)) for n in input_shape) + ")"
    parts = [ERR_MODEL_FAILED.format(cause=describe_exception(exc)), f"input shape {shape}"]
    hint = shape_hint(_cause(str(exc))[1], input_shape=input_shape)
    if hint:
        parts[-1] += f" does not fit the model: {hint}"
    if not spatial_size_given:
        parts.append(NOTE_NO_SIZE)
    return "; ".join(parts)


def traceback_text(exc: BaseException) -> str:
    """The traceback of ``exc`` for ``--verbose``; message lines that may quote values withheld.

    Frames name code (auditkit, torch, the model's source), never data; only the exception's
    message can carry values, so each of its lines is checked like a row's reason.
    """
    frames = "".join(traceback.format_tb(exc.__traceback__))
    lines = [
        line if _FRAME_LINE.match(line) or not _VALUE.search(line) else WITHHELD
        for line in str(exc).splitlines() or [""]
    ]
    head = f"Traceback (most recent call last):\n{frames}{exception_name(exc)}: "
    return head + "\n".join(lines)


class FailureReasons:
    """Reasons for the rows of one run the model failed on; logs the first one's traceback.

    The traceback goes to the debug log (``auditkit predict --verbose``): one is enough to
    debug, and every row of a misconfigured run fails the same way.
    """

    def __init__(self, *, spatial_size_given: bool) -> None:
        self.spatial_size_given = spatial_size_given
        self.logged = False

    def reason(self, exc: BaseException, *, input_shape: Sequence[int], row: int) -> str:
        """The row's ``error`` cell; the first call also logs the traceback."""
        text = failure_reason(
            exc, input_shape=input_shape, spatial_size_given=self.spatial_size_given
        )
        if not self.logged:
            self.logged = True
            logger.debug("first model failure (row %d): %s\n%s", row + 1, text, traceback_text(exc))
        return text
