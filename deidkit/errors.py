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


class KeyFileError(DeidkitError):
    """The project key is missing, malformed, too short or unsafely stored."""

    default_message = "the project key could not be loaded"


class OutputPathError(UsageError):
    """The output location is unsafe (inside the input, equal to it, or exists)."""

    default_message = "unsafe output location"


class MissingDependencyError(DeidkitError):
    """An optional dependency for a feature is not installed."""

    default_message = "an optional dependency is missing"
