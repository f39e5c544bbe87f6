"""Clean Descriptors: remove only the PHI inside a descriptor, keep every other character.

What code C does to a text value (SeriesDescription, ProtocolName, an SR TEXT item, a
graphic annotation's text, a kept private text element): the PHI spans that
:func:`deidkit.rules.phi_text.find_phi_spans` finds (this patient's own values, generic
patterns, person names) are removed and everything else stays as written, separators, case
and underscores included, so ``ep2d_diff_mddw_20_p2`` or ``Thorax 1.0 B70f`` come out
verbatim. The scrub's C action and the BIDS sidecar rules (:mod:`deidkit.rules.sidecars`)
both clean with these functions, so a descriptor reads the same in a DICOM header and in its
sidecar.
"""

from __future__ import annotations

from deidkit.rules.phi_identifiers import PatientIdentifiers
from deidkit.rules.phi_text import Span, find_phi_spans, remove_spans

__all__ = ["clean_text", "clean_text_spans"]


def clean_text_spans(
    value: str,
    identifiers: PatientIdentifiers | None = None,
    *,
    vocabulary: frozenset[str] = frozenset(),
    names: bool = True,
) -> tuple[str, tuple[Span, ...]]:
    """A text value without its PHI spans, and the spans (for kinds and counts in a log).

    A value with no span comes back exactly as given. Where spans were removed, padding
    spaces at either end are dropped (DICOM pads text values anyway), and a rest without
    any letter or digit becomes empty.

    Parameters
    ----------
    value
        The text.
    identifiers
        This patient's values from the headers, if known.
    vocabulary
        Extra words never to be taken for a name (a project's own sequence names).
    names
        False for coded text (a Code Meaning), where only this patient's values and the
        generic patterns count: eponyms of the standard's vocabulary are not people.
    """
    spans = find_phi_spans(value, identifiers, vocabulary=vocabulary, names=names)
    if not spans:
        return value, ()
    cleaned = remove_spans(value, spans).strip(" \x00")
    # what is left of "SMITH^JOHN" is "^": no word, no value
    return (cleaned if any(c.isalnum() for c in cleaned) else ""), spans


def clean_text(
    value: str,
    identifiers: PatientIdentifiers | None = None,
    *,
    vocabulary: frozenset[str] = frozenset(),
) -> str:
    """Clean a descriptor (code C under Clean Descriptors): its PHI spans removed."""
    return clean_text_spans(value, identifiers, vocabulary=vocabulary)[0]
