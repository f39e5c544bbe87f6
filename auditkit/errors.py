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


class MissingDependencyError(AuditkitError):
    """An optional dependency is missing; the message names the extra to install."""

    default_message = "an optional dependency is missing: pip install 'deidkit[audit]'"
