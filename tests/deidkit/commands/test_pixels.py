"""deidkit pixels scan: finds burned-in PHI, changes nothing, shows it on contact sheets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pixel_builders import mono_picture, tesseract_missing, to_bytes, us_rgb_picture
from typer.testing import CliRunner

from deidkit.cli import app

runner = CliRunner()
pytestmark = pytest.mark.skipif(tesseract_missing() is not None, reason=str(tesseract_missing()))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scan") / "QUIXOTE_MARGARETHA"  # a name in the path
    root.mkdir()
    (root / "us.dcm").write_bytes(to_bytes(us_rgb_picture(frames=2).ds))
    (root / "blank.dcm").write_bytes(to_bytes(mono_picture(items=[]).ds))
    return root


def test_scan_flags_phi_and_changes_nothing(export: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in export.rglob("*")}
    report = tmp_path / "review"
    result = runner.invoke(app, ["pixels", "scan", str(export), "--report", str(report), "--json"])
    assert result.exit_code == 3, result.output
    document = json.loads(result.stdout)
    assert document["files"] == 2 and document["flagged_files"] == 1
    flagged = [r for r in document["results"] if r["boxes"]]
    assert flagged[0]["flagged_frames"] == 2
    assert {"name", "id", "date"} <= set(flagged[0]["boxes"])
    assert "QUIXOTE" not in result.output.upper()  # no path, no value
    assert {p.name for p in report.iterdir()} == {"scan.json", "sheet-001.png"}
    assert (report / "sheet-001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (report / "scan.json").stat().st_mode & 0o077 == 0
    assert {p: p.read_bytes() for p in export.rglob("*")} == before


def test_scan_of_clean_images_exits_zero(export: Path) -> None:
    result = runner.invoke(app, ["pixels", "scan", str(export / "blank.dcm")])
    assert result.exit_code == 0, result.output
    assert "0 with PHI read" in result.output


def test_report_inside_input_is_a_usage_error(export: Path) -> None:
    result = runner.invoke(app, ["pixels", "scan", str(export), "--report", str(export / "r")])
    assert result.exit_code == 2


def test_missing_tesseract_is_exit_1_naming_the_package(export: Path) -> None:
    result = runner.invoke(
        app, ["pixels", "scan", str(export)], env={"DEIDKIT_TESSERACT": "no-such-tesseract"}
    )
    assert result.exit_code == 1
    assert "tesseract-ocr" in result.output
