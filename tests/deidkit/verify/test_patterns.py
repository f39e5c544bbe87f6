"""PHI-shaped text patterns and the multi-value search used by deidkit verify."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deidkit.verify.patterns import (
    RAW_PATTERNS,
    UID_TOKEN,
    ValueSearch,
    is_standard_vocabulary,
    scan_text,
)


def _patterns(text: str, **kw: bool) -> set[str]:
    return {hit.pattern for hit in scan_text(text, **kw)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Doe^John", {"person-name"}),
        ("seen by Dr. House", {"person-name"}),
        ("Name: Jane", {"person-name"}),
        ("call 555-867-5309", {"phone"}),
        ("+44 20 7946 0958", {"phone"}),
        ("(020) 7946 0958", {"phone"}),
        ("mail jane.roe@hospital.org", {"email"}),
        ("MRN: 00482913", {"mrn"}),
        ("scanned 2019-03-04", {"date"}),
        ("scanned 04/03/2019", {"date"}),
        ("on 4 March 2019", {"date"}),
        ("20190304", {"date"}),
    ],
)
def test_phi_shaped_text_is_found(text: str, expected: set[str]) -> None:
    assert _patterns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "CT HEAD W/O CONTRAST",
        "MR Brain T1 MPRAGE SAG 1.0mm",
        "Series 3 of 12",
        "1.2.840.10008.5.1.4.1.1.2",
        "2.25.221849817349017349817234981723498172",
        "GE MEDICAL SYSTEMS",
        "Philips Medical Systems",
        "PA3B7QLXKZ2M4N5RT",
        "ANONYMIZED",
        "Basic Application Confidentiality Profile",
        "0.5\\0.5",
        "-125.0\\-125.0\\50.5",
    ],
)
def test_ordinary_imaging_text_is_not_flagged(text: str) -> None:
    assert _patterns(text) == set()


def test_given_family_pair_is_a_warning_and_dates_can_be_allowed() -> None:
    hits = scan_text("reviewed by John Carter")
    assert [(h.pattern, h.severity) for h in hits] == [("person-name", "warn")]
    assert _patterns("follow-up 2019-03-04", dates_allowed=True) == set()


def test_value_search_is_case_folded_and_token_bounded() -> None:
    search = ValueSearch.from_values(
        {
            "doe^john": "PatientName",
            "doe john": "PatientName",
            "john doe": "PatientName",
            "20190304": "StudyDate",
            "1.2.3.4.5": "SOPInstanceUID",
        }
    )
    assert search.find_in_text("Report for JOHN DOE") == ["PatientName"]
    assert search.find_in_text("Doe^John") == ["PatientName", "PatientName"]
    assert search.find_in_text("2.25.1201903041") == []  # inside a number: no match
    assert search.find_in_text("johnny doering") == []
    assert search.count_in_bytes(b"\x00DOE^JOHN\x0020190304\x001.2.3.4.56") == {
        "PatientName": 1,
        "StudyDate": 1,
    }
    assert ValueSearch.from_values({}).find_in_text("anything") == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.from_regex(r"[a-z0-9]{4,12}(\.[0-9]{1,4}){0,3}", fullmatch=True),
        min_size=1,
        max_size=30,
        unique=True,
    )
)
def test_trie_search_finds_exactly_the_values(values: list[str]) -> None:
    # Oracle: a plain alternation of the same values, longest first.
    search = ValueSearch.from_values({v: f"k{i}" for i, v in enumerate(values)})
    text = " | ".join(values) + " | zzzz-unrelated"
    assert sorted(search.find_in_text(text)) == sorted(f"k{i}" for i in range(len(values)))
    plain = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
    assert len(plain.findall(text)) == len(values)


def test_raw_patterns_and_uid_tokens() -> None:
    assert RAW_PATTERNS["email"].findall(b"\x00a.b@c.org\x00") == [b"a.b@c.org"]
    assert UID_TOKEN.findall(b"\x001.2.3.4\x00 2.25.77 0.5") == [b"1.2.3.4", b"2.25.77"]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Müller^Jürgen", "latin-1"),  # ISO_IR 100
        ("MÜLLER^JÜRGEN", "latin-1"),
        ("Müller^Jürgen", "utf-8"),  # ISO_IR 192
        ("MÜLLER JÜRGEN", "utf-8"),
    ],
)
def test_non_ascii_values_are_found_in_latin1_and_utf8_bytes(data: str, encoding: str) -> None:
    search = ValueSearch.from_values({"müller": "PatientName", "jürgen": "PatientName"})
    raw = b"\x00\x10" + data.encode(encoding) + b" \x00"
    assert search.count_in_bytes(raw) == {"PatientName": 2}
    # A different word sharing the ASCII letters is no match.
    assert search.count_in_bytes("Mueller Jurgen".encode(encoding)) == {}


def test_caret_separated_names_match_as_text_and_bytes() -> None:
    search = ValueSearch.from_values({"doe^jane": "PatientName", "jane doe": "PatientName"})
    assert search.find_in_text("DOE^JANE") == ["PatientName"]
    assert search.find_in_text("seen: Doe^Jane") == ["PatientName"]
    assert search.count_in_bytes(b"xx DOE^JANE yy") == {"PatientName": 1}


def test_lists_of_small_numbers_are_not_phone_numbers() -> None:
    # An image comment in pydicom's SC_rgb_* files: "255 128 128" is a colour, not a phone.
    assert scan_text("Image with 10 of 255 0 0 10 of 255 128 128 10 of 0 255 0") == []
    for phone in ("555-123-4567", "020 7946 0958", "(030) 1234 567", "+44 20 7946 0958"):
        assert [hit.pattern for hit in scan_text(phone)] == ["phone"], phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Perfusion", True),  # a code meaning and an Image Type defined term
        ("observer", True),  # a word of attribute names
        ("Observer Type", True),  # words standing together in a name
        ("recording observer", False),  # two words of the standard, in none together
        ("Saint Elsewhere Hospital", False),
        ("PatientName", True),  # a keyword
        ("Johnathan", False),
        ("Doe", False),
        ("recording johnathan", False),  # every word must be the standard's
        ("", False),
    ],
)
def test_standard_vocabulary(text: str, expected: bool) -> None:
    assert is_standard_vocabulary(text) is expected


def test_standard_vocabulary_word_by_word() -> None:
    assert is_standard_vocabulary("recording observer", word_by_word=True)
    assert not is_standard_vocabulary("recording johnathan", word_by_word=True)


def test_labels_as_strings_needs_a_string_boundary() -> None:
    search = ValueSearch.from_values({"acc99812": "AccessionNumber"})
    ends = frozenset(b"\x00 ")
    assert search.labels_as_strings(b"\x01\x00ACC99812\x00\x02", ends) == {"AccessionNumber"}
    assert search.labels_as_strings(b"\x91ACC99812\xe4", ends) == set()
