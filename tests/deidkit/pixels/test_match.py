"""Which OCR words are PHI: the file's own values with OCR slips, labels, generic patterns."""

from __future__ import annotations

import pytest
from pixel_builders import mono_picture

from deidkit.pixels.match import find_phi_spans, identifiers_of, phi_words
from deidkit.pixels.ocr import Word


@pytest.fixture(scope="module")
def ids():
    return identifiers_of(mono_picture(items=[]).ds)


def _kinds(text: str, ids) -> set[str]:
    return {s.kind for s in find_phi_spans(text, ids)}


@pytest.mark.parametrize(
    "text",
    ["QUIXOTE", "QUIX0TE", "MARGARETHA", "DOE*QUIXOTE", "MRN48213977", "MRN482I3977",
     "03/02/1971", "1971-02-03", "3 Feb 1971", "03.02.1971", "ARGARETHA", "02.4972",
     "\u201803.02.1971"],
)  # fmt: skip
def test_identifiers_match_with_ocr_slips(text: str, ids) -> None:
    assert find_phi_spans(text, ids), text


@pytest.mark.parametrize(
    "text", ["TIS 0.4", "MI 1.2", "C5-1", "12 cm", "60 Hz", "GAIN 48", "10:32:11", "1.5/3.2"]
)
def test_screen_labels_are_no_phi(text: str, ids) -> None:
    assert find_phi_spans(text, ids) == []


def test_a_screen_label_flags_the_rest_of_its_line(ids) -> None:
    assert "labelled" in _kinds("Name: Zebedee Frobisher", ids)


def test_low_confidence_words_are_only_matched_to_identifiers(ids) -> None:
    line = (1, 1, 1, 1)
    words = [
        Word("QUIX0TE", 0, 0, 10, 10, 12.0, line),
        Word("12/11/2001", 20, 0, 10, 10, 12.0, line),  # speckle read as a date: not trusted
    ]
    assert [w.text for w, _ in phi_words(words, ids)] == ["QUIX0TE"]


def test_identifiers_never_show_values(ids) -> None:
    assert "QUIXOTE" not in repr(ids).upper()


@pytest.mark.parametrize("label", ["THI", "PLA", "Gen", "Crd", "A4C", "HGen", "SIEMENS", "Voluson"])
def test_ultrasound_screen_words_are_no_listed_names(label: str, ids) -> None:
    # The names list knows "Thi" (a given name) and others: on an echo screen they are
    # the vendor's labels (tissue harmonic imaging, parasternal long axis), seen in
    # pydicom's examples_ybr_color.dcm, and cleaning them would cry wolf.
    line = (1, 1, 1, 1)
    words = [Word(label, 0, 0, 30, 12, 96.0, line), Word("0.7", 40, 0, 20, 12, 96.0, line)]
    assert phi_words(words, ids) == []
