"""Typed errors of the deface subpackage; messages name files or masks, never values."""

from __future__ import annotations

from deidkit.core.errors import DeidkitError, UsageError


class DefaceError(DeidkitError):
    """A file could not be defaced."""

    default_message = "defacing failed"


class BrainOverlapError(DefaceError):
    """Defacing would change voxels inside the (dilated) brain mask: the file is refused."""

    default_message = "defacing would change brain voxels; file refused, nothing written"


class BrainMaskError(UsageError):
    """The given brain mask is unusable (wrong grid, empty, too small)."""

    default_message = "the brain mask cannot be used"


class UnsupportedImageError(DefaceError):
    """The image type or layout is not supported (e.g. 2D, compressed DICOM, .hdr/.img)."""

    default_message = "unsupported image"


class MethodUnavailableError(UsageError):
    """The requested defacing method is unknown or its dependencies are missing."""

    default_message = "defacing method not available"


class FaceStillDetectedError(DefaceError):
    """With ``--strict``: the face detector still finds a face after defacing."""

    default_message = "a face is still detected after defacing (--strict); nothing written"


class NoSafeMethodError(BrainOverlapError):
    """No method can remove the face without touching the brain: the file is refused.

    The message says why (the face lies within the brain margin, or nothing could place the
    face on this field of view).
    """

    default_message = (
        "no method can remove the face without touching the brain; file refused, nothing written"
    )
