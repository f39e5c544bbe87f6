"""verify's own person-name check by the names lists (issue 14: verify, free text)."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from typer.testing import CliRunner
from verify_support import build_pair

from deidkit.cli import app
from deidkit.commands._common import EXIT_OK, EXIT_PHI_FOUND
from deidkit.rules.phi_lexicon import name_lists
from deidkit.verify.names import caret_name, listed_name
from deidkit.verify.patterns import scan_text

runner = CliRunner()
needs_names = pytest.mark.skipif(
    not name_lists().first, reason="philter-lite (the [names] extra) is not installed"
)
ISSUE_TEXT = "Seen with her husband Bartholomew Quibbleforth"


@needs_names
@pytest.mark.parametrize(
    ("text", "found"),
    [
        (ISSUE_TEXT, "error"),
        ("pt Jones arrived late", "error"),
        ("Angela Merriweather reviewed", "warn"),
        ("reviewed by John Carter", "warn"),
        ("Maine Coon", "warn"),
        ("Thorax 1.0 B70f", None),
        ("Carotid Doppler", None),
        ("Circle of Willis TOF", None),
        ("husband Brain", None),  # vocabulary, never a name
    ],
)
def test_listed_name(text: str, found: str | None) -> None:
    assert listed_name(text) == found


def test_caret_pairs_of_vendor_words_are_no_name() -> None:
    assert not caret_name("abdomen^liver")
    assert not caret_name("BRAIN^ROUTINE")
    assert caret_name("QUIBBLEFORTH^ZEPHYRINE")
    assert scan_text("abdomen^liver") == []


@needs_names
def test_scan_text_severity() -> None:
    assert [(h.pattern, h.severity) for h in scan_text(ISSUE_TEXT)] == [("person-name", "error")]


def _text_item(text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType, item.TextValue = "CONTAINS", "TEXT", text
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = (
        "121106", "DCM", "Comment"
    )
    item.ConceptNameCodeSequence = Sequence([concept])
    return item


@needs_names
def test_a_name_in_an_sr_text_item_fails_verify_without_originals(tmp_path: Path) -> None:
    pair = build_pair(tmp_path)
    report = tmp_path / "v.json"
    args = ["verify", str(pair.release), "--json-out", str(report), "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_OK  # the clean release: no false alarm
    path = pair.release_files[0]
    ds = pydicom.dcmread(path)
    ds.ContentSequence = Sequence([_text_item(ISSUE_TEXT)])
    ds.save_as(path)
    result = runner.invoke(app, [*args, "--force"])
    findings = json.loads(report.read_text())["findings"]
    hits = [f for f in findings if f["check"] == "free-text" and f["severity"] == "error"]
    assert [h["pattern"] for h in hits] == ["person-name"]
    assert "ContentSequence" in hits[0]["keyword"]
    assert "Quibbleforth" not in report.read_text()
    assert result.exit_code == EXIT_PHI_FOUND
