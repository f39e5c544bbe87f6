"""The free-text PHI span detector: every signal, the vendor vocabulary, span removal."""

from __future__ import annotations

import datetime as dt

import pytest

from deidkit.rules.phi_identifiers import PatientIdentifiers
from deidkit.rules.phi_lexicon import name_lists
from deidkit.rules.phi_text import (
    Span,
    find_phi_spans,
    remove_spans,
    span_summary,
)

needs_names = pytest.mark.skipif(
    not name_lists().first, reason="philter-lite (the [names] extra) is not installed"
)

PATIENT = PatientIdentifiers(
    names=frozenset({"quibbleforth", "zephyrine"}),
    dates=frozenset({dt.date(2019, 3, 4)}),
    ids=frozenset({"acc98x21", "pid-7731"}),
    phones=frozenset({"6175550142"}),
    addresses=frozenset({"larkspur"}),
    institutions=frozenset({"brindlewood", "brindlewood general"}),
)


def cleaned(text: str, ids: PatientIdentifiers | None = None) -> str:
    return remove_spans(text, find_phi_spans(text, ids))


def kinds(text: str, ids: PatientIdentifiers | None = None) -> list[str]:
    return [s.kind for s in find_phi_spans(text, ids)]


@pytest.mark.parametrize(
    "text",
    [
        "QUIBBLEFORTH^ZEPHYRINE", "Zephyrine Quibbleforth", "Z. Quibbleforth",
        "QUIBBLEFORTH Z", "Quibbleforth, Zephyrine",
    ],
)
def test_patient_name_in_every_common_form(text: str) -> None:
    assert "uibble" not in cleaned(f"T2 {text} ax", PATIENT).lower()
    assert cleaned(f"T2 {text} ax", PATIENT).startswith("T2 ")


@pytest.mark.parametrize(
    "text",
    ["20190304", "03/04/2019", "04.03.2019", "2019-03-04", "04-Mar-2019", "March 4, 2019",
     "4 March 2019", "04/03/19"],
)
def test_patient_date_in_every_common_format(text: str) -> None:
    assert kinds(f"follow {text} x", PATIENT) == ["date"]
    assert cleaned(f"follow {text} x", PATIENT) == "follow  x"


def test_patient_ids_phone_address_institution() -> None:
    text = "ACC98X21 pid-7731 (617) 555-0142 Larkspur Brindlewood General"
    assert kinds(text, PATIENT) == ["id", "id", "phone", "address", "institution"]
    left = cleaned(text, PATIENT)
    for value in ("ACC98X21", "pid-7731", "555", "0142", "Larkspur", "Brindlewood"):
        assert value not in left


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("seen 2021-11-02T10:15", "date"),
        ("seen 11/02/2021", "date"),
        ("seen 2 Nov 2021", "date"),
        ("seen November 2, 2021", "date"),
        ("seen 20211102", "date"),
        ("call +1 617 555 0199", "phone"),
        ("call (617) 555-0199", "phone"),
        ("mail jo.doe@example.org now", "email"),
        ("see https://pacs.example.org/x?id=1", "url"),
        ("lives at 42 Elm Tree Road", "address"),
        ("zip MA 02115", "address"),
        ("postcode SW1A 1AA", "address"),
        ("MRN: 00451234", "id"),
        ("number 78120034 on file", "id"),
        ("a 94 yo woman", "age"),
        ("age: 101", "age"),
        ("PatientAge 095Y", "age"),
        ("sent from Brookfield Memorial Hospital", "institution"),
    ],
)
def test_generic_patterns(text: str, kind: str) -> None:
    assert kind in kinds(text)


@pytest.mark.parametrize("text", ["an 89 yo man", "OB 2/3 Trimester", "Thorax 1.0 B70f",
                                  "b1000 20 dirs", "1.5T 3000 ms"])
def test_generic_patterns_spare_safe_text(text: str) -> None:
    assert find_phi_spans(text) == ()


@pytest.mark.parametrize(
    "text",
    ["Dr Quibbleforth followup", "Name: Quibbleforth", "pt Quibbleforth seen",
     "her husband Quibbleforth", "dictated by Quibbleforth"],
)
def test_name_cues(text: str) -> None:
    assert "name" in kinds(text)
    assert "Quibbleforth" not in cleaned(text)


def test_title_cue_needs_a_capital() -> None:
    assert find_phi_spans("DR chest pa") == ()


@needs_names
@pytest.mark.parametrize(
    "text",
    ["Seen with her husband Bartholomew Quibbleforth", "Angela Merriweather reviewed",
     "JONES T2 AX", "Discussed with Priya Raghunathan."],
)
def test_names_list(text: str) -> None:
    left = cleaned(text)
    for name in ("Bartholomew", "Quibbleforth", "Angela", "Merriweather", "JONES", "Priya",
                 "Raghunathan"):
        assert name not in left


def test_issue_example_keeps_the_rest() -> None:
    assert cleaned("Dr Jones followup 03/04/2019") == " followup "


@pytest.mark.parametrize(
    "text",
    ["ep2d_diff_mddw_20_p2", "AX FIESTA", "COR HASTE BH", "Carotid Doppler",
     "OB 2/3 Trimester", "Thorax 1.0 B70f", "AAHead_Scout_32ch-head-coil", "Ax T2 FRFSE",
     "Circle of Willis TOF", "Sag T1 BRAVO", "DR CHEST PA"],
)
def test_vendor_descriptors_have_no_spans(text: str) -> None:
    assert find_phi_spans(text) == ()


@needs_names
def test_user_vocabulary_keeps_a_word_that_is_a_name() -> None:
    assert kinds("Sag T1 MARCUS") == ["name"]
    assert find_phi_spans("Sag T1 MARCUS", vocabulary=frozenset({"marcus"})) == ()


def test_vocabulary_never_hides_the_patients_own_name() -> None:
    own = PatientIdentifiers(names=frozenset({"haste"}))
    assert kinds("COR HASTE BH", own) == ["name"]


def test_remove_spans_keeps_every_other_character() -> None:
    text = "AX_Quibbleforth_T2-fs"
    assert remove_spans(text, [Span(3, 15, "name")]) == "AX__T2-fs"
    assert remove_spans(text, [Span(3, 8, "name"), Span(5, 15, "name")]) == "AX__T2-fs"


def test_spans_sorted_merged_and_summary_has_no_text() -> None:
    spans = find_phi_spans("Dr Quibbleforth 2019-03-04 2019-03-04", PATIENT)
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    summary = span_summary(spans)
    assert summary == "name 1, date 2"
    assert "uibble" not in summary


def test_empty_text() -> None:
    assert find_phi_spans("") == ()
    assert find_phi_spans("   ") == ()


@pytest.mark.parametrize(
    "text", ["THRIVE_dyn_16.02.2019", "05-Jun-2016_MR PROSTATE", "Calibration Scan_2_2020-09-28"]
)
def test_dates_joined_by_underscores(text: str) -> None:
    assert "date" in kinds(text)


def test_title_cue_after_an_underscore_and_title_goes_with_the_name() -> None:
    own = PatientIdentifiers(names=frozenset({"fernandez"}))
    assert cleaned("t1_vibe_dyn_Dr Fernandez", own) == "t1_vibe_dyn_"


def test_id_cue_needs_a_word_boundary_and_a_digit() -> None:
    assert find_phi_spans("Accompanied by the nurse.") == ()
    assert kinds("Acc: 4471902X") == ["id"]


@needs_names
def test_given_name_then_unknown_capitalised_word() -> None:
    assert cleaned("Ahmed Lindqvist was informed.") == "  was informed."


@needs_names
def test_eponyms_are_vocabulary_but_a_title_still_names_a_person() -> None:
    assert find_phi_spans("Small Baker cyst; Crohn disease") == ()
    assert kinds("seen by Dr Baker") == ["name"]


def test_long_letter_digit_runs_are_ids_but_agents_with_strength_are_not() -> None:
    assert kinds("CANARYSERDESC0S1Q CT") == ["id"]
    assert find_phi_spans("Omnipaque350 ISOVUE300/100 sWIP3DT1W") == ()
