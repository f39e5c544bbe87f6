"""CLI: deidkit profiles list / show, deidkit explain."""

from __future__ import annotations

import json
from pathlib import Path

import deid
from typer.testing import CliRunner

from deidkit.cli import app

runner = CliRunner()


def test_profiles_list() -> None:
    result = runner.invoke(app, ["profiles", "list", "--json"])
    assert result.exit_code == 0
    assert {"basic", "research"} <= set(json.loads(result.stdout))
    plain = runner.invoke(app, ["profiles", "list"])
    assert plain.exit_code == 0 and "research" in plain.stdout


def test_profiles_show_json() -> None:
    result = runner.invoke(app, ["profiles", "show", "research", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["table_edition"] == "2025b"
    assert "retain_long_modified_dates" in data["options"]
    assert data["date_shift_range"] == [-3650, -365]


def test_profiles_show_text_and_unknown() -> None:
    result = runner.invoke(app, ["profiles", "show", "basic"])
    assert result.exit_code == 0 and "Basic Profile" in result.stdout
    bad = runner.invoke(app, ["profiles", "show", "nope"])
    assert bad.exit_code == 2


def test_explain_mixed_code_by_type() -> None:
    result = runner.invoke(
        app,
        [
            "explain",
            "(0008,0080)",
            "--profile",
            "basic",
            "--sop-class",
            "1.2.840.10008.5.1.4.1.1.2",
            "--json",
        ],
    )
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["keyword"] == "InstitutionName"
    assert data["code"] == "X/Z/D" and data["attribute_type"] == "3" and data["resolved"] == "X"


def test_explain_option_override() -> None:
    result = runner.invoke(app, ["explain", "00080020", "--profile", "research"])
    assert result.exit_code == 0
    assert "retain_long_modified_dates" in result.stdout
    assert "action: C" in result.stdout


def test_explain_keyword_and_errors() -> None:
    ok = runner.invoke(app, ["explain", "PatientID"])
    assert ok.exit_code == 0 and "pseudonym" in ok.stdout
    bad = runner.invoke(app, ["explain", "NotAKeyword"])
    assert bad.exit_code == 2
    bad_class = runner.invoke(app, ["explain", "PatientID", "--sop-class", "1.2.3"])
    assert bad_class.exit_code == 2


def test_profiles_show_recipe_notes_on_stderr(tmp_path: Path) -> None:
    source = Path(deid.__file__).parent / "data" / "deid.dicom"
    recipe = tmp_path / "deid.dicom"
    # deid's shipped default recipe, less its run-time variable lookups (var: stays an error)
    recipe.write_text(
        "".join(
            line
            for line in source.read_text(encoding="utf-8").splitlines(keepends=True)
            if "var:" not in line
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["profiles", "show", "basic", "--recipe", str(recipe), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)  # stdout stays machine-readable
    assert data["source"] == "builtin:basic+recipe:deid.dicom"
    assert any("pixel filter" in note for note in data["notes"])
    assert "pixel filter section(s) whitelist" in result.stderr
    assert "not applied" in result.stderr
    refused = runner.invoke(app, ["profiles", "show", "basic", "--recipe", str(source)])
    assert refused.exit_code == 2 and "var:" in refused.stderr
