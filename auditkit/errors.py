"""Typed errors for auditkit. The CLI (only) turns them into exit codes."""

from __future__ import annotations


class AuditkitError(Exception):
    """Base class of every error auditkit raises on purpose."""

    default_message = "audit failed"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class UsageError(AuditkitError):
    """Bad arguments, missing columns, malformed input files (exit 2)."""

    default_message = "invalid usage"


class OutputPathError(UsageError):
    """An output path is unsafe (an input, inside a release, of another kind, or exists).

    Raised through :func:`deidkit.core.io.check_output_path`, the one rule of both CLIs
    (exit 2); the message names the option, never the path.
    """

    default_message = "unsafe output location"


class MissingDependencyError(AuditkitError):
    """An optional dependency is missing; the message names the extra to install."""

    default_message = "an optional dependency is missing: pip install 'deidkit-auditkit[audit]'"


class InputFileError(UsageError):
    """An input file is missing, unreadable, or not text/JSON/YAML/a table as expected (exit 2).

    The message names the file (by its name) and what is wrong, never its content.
    """

    default_message = "input file could not be read"


class PolicyError(UsageError):
    """A gate policy file is malformed (exit 2); the message names the file and the key."""

    default_message = "invalid policy file"


class UnknownMetricError(PolicyError):
    """A policy check names a metric auditkit does not compute."""

    default_message = "unknown metric in policy"


class UnknownAttributeError(PolicyError):
    """A policy selects an attribute that the results do not contain."""

    default_message = "unknown attribute in policy"


class MalformedLimitError(PolicyError):
    """A policy limit is missing, not a number, or contradictory."""

    default_message = "malformed limit in policy"


class ResultsFormatError(UsageError):
    """A RESULTS.json (or baseline) lacks the keys the report and gate read."""

    default_message = "results file does not follow the RESULTS.json schema"


class ImageReadError(AuditkitError):
    """An image could not be read or preprocessed (recorded as a failed row, never a crash).

    ``code`` is the row's ``error_code``: a stable name for the cause, so failures can be
    counted by cause and by subgroup (``auditkit.inference.failures`` lists them).
    """

    default_message = "image could not be read"

    def __init__(self, message: str | None = None, *, code: str = "image_unreadable") -> None:
        super().__init__(message)
        self.code = code


class ModelLoadError(UsageError):
    """A model file, bundle or factory could not be loaded (exit 2)."""

    default_message = "model could not be loaded"


class BundleFormatError(ModelLoadError):
    """The data does not match a MONAI bundle's metadata.json network_data_format (exit 2)."""

    default_message = "the data does not match the bundle's network_data_format"


class DeviceUnavailableError(UsageError):
    """The requested compute device is not available on this machine (exit 2)."""

    default_message = "requested device is not available"


class PredictionsError(UsageError):
    """A predictions table lacks a column or holds malformed values (exit 2); names the column."""

    default_message = "invalid predictions table"


class EvaluationError(UsageError):
    """Evaluation options do not fit the data (e.g. a threshold rule needing both classes)."""

    default_message = "invalid evaluation options"
