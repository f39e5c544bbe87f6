"""Region rules: the shipped file, a site's JSON, deid %filter sections, CTP scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deidkit.core.errors import UsageError
from deidkit.pixels.regions import (
    load_regions,
    matching_boxes,
    parse_ctp_script,
    parse_deid_filters,
    shipped_regions,
)

DEID = """FORMAT dicom

%filter graylist

LABEL Acme Vista 640x480 # banner
  contains Manufacturer Acme
  + equals Rows 480
  coordinates 0,0,640,40
  ctpcoordinates 0,440,640,40

%header
REMOVE PatientName
"""

CTP = """
// Acme Vista
{ Manufacturer.containsIgnoreCase("acme") * Rows.equals("480") }
  (0,0,640,40) (0,440,640,40)
"""


def _get(values):
    return lambda keyword: values.get(keyword, "")


def test_shipped_file_loads_and_is_empty_on_purpose() -> None:
    assert shipped_regions() == []


def test_deid_filter_section_becomes_rules() -> None:
    (rule,) = parse_deid_filters(DEID)
    assert rule.boxes == ((0, 0, 640, 40), (0, 440, 640, 40))
    assert matching_boxes([rule], _get({"Manufacturer": "ACME corp", "Rows": "480"}))
    assert not matching_boxes([rule], _get({"Manufacturer": "ACME corp", "Rows": "600"}))


def test_ctp_script_becomes_rules() -> None:
    (rule,) = parse_ctp_script(CTP)
    assert rule.boxes == ((0, 0, 640, 40), (0, 440, 640, 40))
    assert matching_boxes([rule], _get({"Manufacturer": "Acme", "Rows": "480"}))
    assert not matching_boxes([rule], _get({"Manufacturer": "Other", "Rows": "480"}))


def test_load_regions_tells_formats_apart(tmp_path: Path) -> None:
    site = tmp_path / "site.json"
    site.write_text(json.dumps({"rules": [{"label": "x", "model": "vista", "rows": 480,
                                           "columns": 640, "boxes": [[0, 0, 640, 30]]}]}))
    (tmp_path / "deid.recipe").write_text(DEID)
    (tmp_path / "ctp.script").write_text(CTP)
    for name in ("site.json", "deid.recipe", "ctp.script"):
        assert load_regions(tmp_path / name), name


@pytest.mark.parametrize(
    "text", ['{"rules": [{"boxes": [[0, 0, -5, 3]]}]}', "{not json", "hello world"]
)
def test_malformed_regions_are_usage_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_regions(path)
    assert "bad.txt" in str(info.value)


def test_deid_rules_as_deid_applies_them() -> None:
    from pathlib import Path as _Path

    import deid

    # its only boxes: "coordinates all" under a label without conditions (deid: never
    # flagged) and boxes from Sequence of Ultrasound Regions (not guessed)
    text = (_Path(deid.__file__).parent / "data" / "deid.dicom.ultrasound").read_text()
    assert parse_deid_filters(text) == []
    (rule,) = parse_deid_filters(
        "%filter graylist\nLABEL x\n  equals Modality US\n  coordinates all\n"
    )
    assert rule.boxes == ((0, 0, 1 << 16, 1 << 16),)
