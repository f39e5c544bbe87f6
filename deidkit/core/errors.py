"""Typed errors for deidkit.

Messages name files, tag keywords or columns, never a value read from patient data.
The CLI (and only the CLI) turns these into exit codes.
"""

from __future__ import annotations


class DeidkitError(Exception):
    """Base class of every error deidkit raises on purpose."""

    default_message = "de-identification failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class UsageError(DeidkitError):
    """The command was called wrongly (bad path, bad option combination)."""

    default_message = "invalid usage"


class KeyFileError(UsageError):
    """The project key is missing, malformed, too short or unsafely stored (a usage error)."""

    default_message = "the project key could not be loaded"


class OutputPathError(UsageError):
    """The output location is unsafe (inside the input, equal to it, or exists)."""

    default_message = "unsafe output location"


class MissingDependencyError(DeidkitError):
    """An optional dependency for a feature is not installed."""

    default_message = "an optional dependency is missing"


class ProfileError(UsageError):
    """A de-identification profile is unknown, malformed or uses an unknown option/keyword."""

    default_message = "invalid de-identification profile"


class RecipeError(UsageError):
    """A deid recipe holds an action deidkit cannot map onto a profile (never dropped silently)."""

    default_message = "recipe action cannot be mapped"


class LinkageError(DeidkitError):
    """The linkage store is unreadable: wrong key, tampered or foreign file."""

    default_message = "the linkage store could not be read"


class TableInputError(DeidkitError):
    """A table (CSV/TSV/Parquet) or BIDS tree cannot be pseudonymised as given."""

    default_message = "the table could not be pseudonymised"


class ColumnSpecError(UsageError):
    """Table columns are missing, unlisted or listed twice; the message names the columns."""

    default_message = "the column options do not match the table"


class InputFileError(DeidkitError):
    """One input file cannot be scrubbed; ``reason`` is a stable code for the run report.

    The batch goes on: the file is held back and listed with its reason.
    """

    default_message = "input file cannot be scrubbed"

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"input file held back: {reason}")
        self.reason = reason


class ScrubError(DeidkitError):
    """A dataset cannot be de-identified into a valid instance (e.g. no SOP Class/Instance UID)."""

    default_message = "dataset cannot be de-identified"


class SeriesError(DeidkitError):
    """DICOM slices cannot be stacked into one volume; ``reason`` is a stable code.

    Reasons: ``no_slices``, ``missing_attribute``, ``orientation``, ``no_position``,
    ``spacing``, ``shape``, ``dimensions`` (see :func:`deidkit.core.series.read_series_volume`).
    Callers translate it into their own error; the message names a file and an attribute
    keyword, never a header value.
    """

    default_message = "DICOM slices cannot be stacked into one volume"

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"DICOM series cannot be stacked: {reason}")
        self.reason = reason


class NothingToDoError(DeidkitError):
    """INPUT holds no file at all: a run that would release nothing is a failure (exit 1).

    Usually a wrong path or an export that has not been copied yet; the message never names
    the input tree.
    """

    default_message = "INPUT holds no files: nothing to do"


class InsufficientSpaceError(DeidkitError):
    """The release would not fit on the output's file system (checked before writing; exit 1)."""

    default_message = "not enough free disk space for the release"


class WorkerLostError(DeidkitError):
    """Worker processes kept dying on the same work (killed, out of memory); exit 70.

    A lost worker's work is retried on fresh workers a bounded number of times first; this
    is raised only when that did not help. Whatever was written is kept, so re-running the
    same command resumes the run.
    """

    default_message = "a worker process was lost repeatedly"


class OcrUnavailableError(MissingDependencyError):
    """Tesseract is not installed or cannot run: pixel text cannot be checked (exit 1).

    Never a silent pass: a check of burned-in text that cannot read text fails.
    """

    default_message = (
        "reading burned-in text needs the Tesseract OCR engine: install the system package "
        "'tesseract-ocr' (apt-get install tesseract-ocr) or put 'tesseract' on PATH"
    )


class PixelDataError(DeidkitError):
    """Pixel data cannot be decoded, cleaned or re-encoded; ``reason`` is a stable code."""

    default_message = "pixel data cannot be processed"

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"pixel data cannot be processed: {reason}")
        self.reason = reason
