"""The vendored PS3.15 / PS3.3 tables load as documented in deidkit/data/README.md."""

from __future__ import annotations

import json

import pytest

from deidkit.core.resources import data_file
from deidkit.rules import standard


def test_table_counts_and_edition() -> None:
    assert standard.TABLE_EDITION == "2025b"
    assert len(standard.table_rows()) == 647
    assert len(standard.concrete_rows()) == 643
    assert set(standard.pattern_rows()) == {
        "(50xx,xxxx)",
        "(60xx,3000)",
        "(60xx,4000)",
        "(gggg,eeee)",
    }
    assert len(standard.safe_private_table()) == 479


def test_rows_match_the_json() -> None:
    raw = json.loads(data_file("ps3.15-e1-1.json").read_text(encoding="utf-8"))
    rows = standard.table_rows()
    for item, row in zip(raw, rows, strict=True):
        assert row.tag == item["tag"]
        assert row.basic == item["basic"]
        for column in standard.OPTION_COLUMNS:
            assert row.options.get(column) == item[column]


def test_spot_checks_from_the_readme() -> None:
    rows = standard.concrete_rows()
    assert rows[0x00100010].basic == "Z"
    assert rows[0x00100020].basic in {"Z", "Z/D"}  # Z/D in 2025b; never hard-code Z
    assert rows[0x0020000D].basic == "U"
    assert rows[0x0020000D].options["retain_uids"] == "K"
    assert rows[0x00080080].basic == "X/Z/D"
    assert rows[0x00080020].options == {
        "retain_long_full_dates": "K",
        "retain_long_modified_dates": "C",
    }


def test_repeating_groups_use_pattern_rows() -> None:
    assert standard.row_for_tag(0x60023000) is standard.pattern_rows()["(60xx,3000)"]
    assert standard.row_for_tag(0x60004000) is standard.pattern_rows()["(60xx,4000)"]
    assert standard.row_for_tag(0x50020010) is standard.pattern_rows()["(50xx,xxxx)"]
    assert standard.row_for_tag(0x60000010) is None  # Overlay Rows: not in the table
    assert standard.row_for_tag(0x7FE00010) is None


def test_iod_types_sanity_ct() -> None:
    ciod = standard.ciod_for_sop_class("1.2.840.10008.5.1.4.1.1.2")
    assert ciod == "ct-image"
    expected = {
        0x00100010: "2",
        0x00100020: "2",
        0x0020000D: "1",
        0x00080020: "2",
        0x00080080: "3",
        0x00080090: "2",
        0x00080050: "2",
    }
    for tag, typ in expected.items():
        assert standard.attribute_type(ciod, (tag,)) == typ
    assert standard.attribute_type(ciod, (0x00081120, 0x00081155)) == "1"
    assert standard.attribute_type(None, (0x00100010,)) is None
    assert standard.ciod_for_sop_class("1.2.3.4.5") is None
    assert standard.is_known_ciod(ciod)


def test_cid7050_codes_are_exact() -> None:
    codes = {k: v[0] for k, v in standard.CID7050.items()}
    assert standard.CID7050_BASIC[0] == "113100"
    assert codes == {
        "retain_safe_private": "113111",
        "retain_uids": "113110",
        "retain_device_identity": "113109",
        "retain_institution_identity": "113112",
        "retain_patient_characteristics": "113108",
        "retain_long_full_dates": "113106",
        "retain_long_modified_dates": "113107",
        "clean_descriptors": "113105",
        "clean_structured_content": "113104",
        "clean_graphics": "113103",
    }


@pytest.mark.parametrize("text", ["(0010,0010)", "00100010", "(0010, 0010)"])
def test_tag_text_round_trip(text: str) -> None:
    assert standard.parse_tag_text(text) == 0x00100010
    assert standard.tag_text(0x00100010) == "(0010,0010)"


def test_parse_tag_text_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        standard.parse_tag_text("PatientName")


def test_safe_private_keys() -> None:
    table = standard.safe_private_table()
    entry = table[("ELSCINT1", 0x00E1, 0x21)]
    assert entry.vr == "DS"
