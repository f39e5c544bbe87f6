"""Which instances may carry burned-in text, from header facts only (never a value).

The rules: Burned In Annotation = YES, Recognizable Visual Features = YES, modalities and
SOP classes known to carry text on screen (ultrasound, secondary and multi-frame captures,
other, document-like and video classes), Image Type and Conversion Type values that mark a
screen or document capture. :func:`burned_in_risk` gives the first reason that applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

__all__ = ["TEXT_MODALITIES", "burned_in_risk", "risk_from_values"]


class _Peek(Protocol):
    def __call__(self, tag: int) -> str: ...


#: Modalities whose images usually carry annotations drawn into the pixels.
TEXT_MODALITIES: Final = frozenset({"US", "IVUS", "OT", "SC", "XC", "ES", "GM", "SM", "DOC"})
_SC_PREFIX: Final = "1.2.840.10008.5.1.4.1.1.7"  # SC and the multi-frame SC classes
_TEXT_SOP_CLASSES: Final = {
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF",
    "1.2.840.10008.5.1.4.1.1.77.1.1.1": "Video Endoscopic",
    "1.2.840.10008.5.1.4.1.1.77.1.4.1": "Video Photographic",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame",
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound",
}
_SCREEN_TYPES: Final = frozenset({"SCREEN", "SCREENSHOT", "SCREEN SAVE", "CAPTURE"})
_CAPTURE_CONVERSIONS: Final = frozenset({"WSD", "SD", "SI", "DRW", "DV", "DF", "SYN"})


def risk_from_values(
    *,
    burned_in: str,
    visual_features: str,
    modality: str,
    sop_class: str,
    image_types: Iterable[str],
    conversion: str,
) -> str | None:
    """The first rule that applies to these header facts, as a sentence without values."""
    if burned_in.upper() == "YES":
        return "BurnedInAnnotation is YES"
    modality = modality.upper()
    if modality in TEXT_MODALITIES:
        return f"modality {modality} often carries burned-in text"
    if sop_class.startswith(_SC_PREFIX):
        return "Secondary Capture SOP class often carries burned-in text"
    if sop_class in _TEXT_SOP_CLASSES:
        return f"{_TEXT_SOP_CLASSES[sop_class]} SOP class often carries burned-in text"
    if any(v.strip().upper() in _SCREEN_TYPES for v in image_types):
        return "ImageType marks a screen capture"
    if conversion.upper() in _CAPTURE_CONVERSIONS:
        return "ConversionType marks a screen or document capture"
    if visual_features.upper() == "YES":
        return "RecognizableVisualFeatures is YES"
    return None


def burned_in_risk(peek: _Peek) -> str | None:
    """Why an instance may carry burned-in text; ``peek(tag)`` reads a header's text.

    Parameters
    ----------
    peek
        Returns the stripped text of a top-level element (empty when absent), so that the
        scrub's raw reader and a plain pydicom dataset can both be asked.
    """
    return risk_from_values(
        burned_in=peek(0x00280301),
        visual_features=peek(0x00280302),
        modality=peek(0x00080060),
        sop_class=peek(0x00080016),
        image_types=peek(0x00080008).split("\\"),
        conversion=peek(0x00080064),
    )
