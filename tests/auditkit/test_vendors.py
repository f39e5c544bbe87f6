"""Vendor normalisation as data: shipped spellings, the matching rule, user extensions."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from auditkit.errors import InputFileError, UsageError
from auditkit.vendors import canonical_text, load_vendor_table, normalise_vendor


@pytest.mark.parametrize(
    ("recorded", "vendor"),
    [
        ("G.E. Medical Systems", "GE"),
        ("GEMS", "GE"),
        ("GE HEALTHCARE JAPAN CORPORATION", "GE"),
        ("GE Vingmed Ultrasound", "GE"),
        ("General Electric", "GE"),
        ("SIEMENS Healthineers", "Siemens"),
        ("Philips Medical Systems Nederland B.V.", "Philips"),
        ("TOSHIBA_MEC", "Canon"),
        ("Canon Medical Systems Corporation", "Canon"),
        ("FUJIFILM Corporation", "Fujifilm"),
        ("SonoSite, Inc.", "Fujifilm"),
        ("Agfa-Gevaert", "Agfa"),
        ("Carestream Health", "Carestream"),
        ("KODAK", "Carestream"),
        ("HOLOGIC, Inc.", "Hologic"),
        ("SAMSUNG MEDISON CO., LTD.", "Samsung"),
        ("MEDISON", "Samsung"),
        ("UIH", "United Imaging"),
        ("Shanghai United Imaging Healthcare Co.,Ltd.", "United Imaging"),
        ("  Acme Imaging ", "Acme Imaging"),  # unknown: kept as recorded, stripped
        ("GENERIC SCANNERS", "GENERIC SCANNERS"),  # "GE" matches words, not letters
        ("", ""),
        (None, ""),
    ],
)
def test_shipped_spellings(recorded: str | None, vendor: str) -> None:
    assert normalise_vendor(recorded) == vendor


def test_every_manufacturer_in_pydicoms_test_files_that_is_a_vendor_is_named() -> None:
    # Real spellings nobody here wrote; "G.E. Medical Systems" used to form its own group.
    spellings = {
        "CT_small.dcm": "GE",
        "ExplVR_BigEnd.dcm": "GE",
        "JPEG2000.dcm": "GE",
        "MR_small.dcm": "Canon",
        "examples_overlay.dcm": "Siemens",
        "examples_palette.dcm": "Philips",
    }
    for name, vendor in spellings.items():
        ds = pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True, force=True)
        assert normalise_vendor(str(ds.Manufacturer)) == vendor, name


def test_canonical_text() -> None:
    assert canonical_text("G.E. Medical_Systems, Inc.") == "GE MEDICAL SYSTEMS INC"


def test_user_table_extends_and_overrides(tmp_path: Path) -> None:
    extra = tmp_path / "vendors.yaml"
    extra.write_text("vendors:\n  Acme:\n    - ACME IMAGING\n  Toshiba:\n    - TOSHIBA\n")
    table = load_vendor_table(extra)
    assert table.normalise("Acme Imaging Ltd") == "Acme"
    assert table.normalise("TOSHIBA_MEC") == "Toshiba"  # the user's spelling wins
    assert table.normalise("Canon Medical Systems") == "Canon"  # the rest is kept
    assert normalise_vendor("TOSHIBA_MEC") == "Canon"  # the shipped table is unchanged


@pytest.mark.parametrize(
    ("text", "match"),
    [("vendors: [a, b]\n", "'vendors' mapping"), ("vendors:\n  X: ACME\n", "list of spellings")],
)
def test_bad_user_table_is_a_usage_error(tmp_path: Path, text: str, match: str) -> None:
    extra = tmp_path / "v.yaml"
    extra.write_text(text)
    with pytest.raises(UsageError, match=match):
        load_vendor_table(extra)
    with pytest.raises(InputFileError):
        load_vendor_table(tmp_path / "absent.yaml")
