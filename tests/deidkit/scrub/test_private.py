"""Private elements a profile keeps by name (keep_private), beside the safe list (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from dicom_builders import canary_dataset, reread, to_bytes
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import EXIT_OK, EXIT_PHI_FOUND
from deidkit.core.errors import ProfileError
from deidkit.core.keys import ProjectKey
from deidkit.rules.explain import explain_tag
from deidkit.rules.profile import load_profile
from deidkit.scrub.engine import ScrubResult, scrub_dataset

KEY = ProjectKey(secret=bytes(range(32)), source="test")
CSA = "SIEMENS CSA HEADER"
CSA_BYTES = b"SV10\x04\x03\x02\x01" + b"MrPhoenixProtocol\x00" * 3  # binary, even length
runner = CliRunner()


def _siemens(ds: pydicom.Dataset) -> pydicom.Dataset:
    ds.PatientName = "QUIBBLEFORTH^ZEPHYRINE"
    ds.add_new(0x00290011, "LO", CSA)
    ds.add_new(0x00291108, "CS", "IMAGE NUM 4")  # xx08: not named, removed
    ds.add_new(0x00291110, "OB", CSA_BYTES)
    ds.add_new(0x00291120, "OB", CSA_BYTES)
    ds.add_new(0x00290013, "LO", "OTHER VENDOR")
    ds.add_new(0x00291310, "OB", CSA_BYTES)  # same element byte, other creator: removed
    return ds


def _csa_profile(folder: Path) -> Path:
    path = folder / "csa.yaml"
    path.write_text(
        "extends: research\n"
        "keep_private:\n"
        f"  - {{creator: {CSA}, group: '0029', elements: ['10', '20']}}\n",
        encoding="utf-8",
    )
    return path


def _scrub(
    ds: pydicom.Dataset, profile: str | Path = "research"
) -> tuple[pydicom.Dataset, ScrubResult]:
    result = scrub_dataset(ds, profile=load_profile(profile), key=KEY)
    return reread(to_bytes(ds)), result


def test_a_team_profile_keeps_the_csa_headers_only(tmp_path: Path) -> None:
    out, result = _scrub(_siemens(canary_dataset()), _csa_profile(tmp_path))
    assert out[0x00291110].value == CSA_BYTES and out[0x00291120].value == CSA_BYTES
    assert out[0x00290011].value == CSA
    for removed in (0x00291108, 0x00290013, 0x00291310):
        assert removed not in out
    kept = [a for a in result.actions if a.path == "(0029,11xx)" and a.action == "K"]
    assert [(a.action, a.reason) for a in kept] == [
        ("K", "private elements kept by the profile's keep_private (2 in block)")
    ]


@pytest.mark.parametrize("profile", ["basic", "research"])
def test_shipped_profiles_keep_no_csa_header(profile: str) -> None:
    # the CSA series header's protocol text can hold names: kept only where a team says so
    out, _ = _scrub(_siemens(canary_dataset()), profile)
    assert 0x00291110 not in out and 0x00291120 not in out


def _team_profile(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(
        "extends: research\n"
        "keep_private:\n"
        "  - {creator: ACME NOTES, group: '0033', elements: ['10']}\n"
        f"  - {{creator: {CSA}, group: '0029', elements: ['10', '20']}}\n",
        encoding="utf-8",
    )
    return path


def test_kept_private_text_loses_its_phi_spans(tmp_path: Path) -> None:
    ds = canary_dataset()
    ds.PatientName = "QUIBBLEFORTH^ZEPHYRINE"
    ds.add_new(0x00330010, "LO", "ACME NOTES")
    ds.add_new(0x00331010, "LO", "T2 ax, Quibbleforth 2019-03-04")
    out, result = _scrub(ds, _team_profile(tmp_path))
    assert out[0x00331010].value == "T2 ax,"
    (record,) = [a for a in result.actions if a.path == "(0033,1010)"]
    assert record.action == "C" and record.reason.endswith("PHI spans removed: name 1, date 1")
    assert "uibble" not in json.dumps([list(a) for a in result.actions])


@pytest.mark.parametrize(
    "entry",
    [
        "{creator: X, group: '0010', elements: ['10']}",  # even group
        "{creator: X, group: '0029', elements: ['1G']}",  # not hexadecimal
        "{creator: X, group: '0029'}",  # no elements
        "{group: '0029', elements: ['10']}",  # no creator
    ],
)
def test_bad_keep_private_entries_are_profile_errors(tmp_path: Path, entry: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: basic\nkeep_private:\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="keep_private"):
        load_profile(path)


def test_explain_shows_the_keep_private_rule(tmp_path: Path) -> None:
    team = load_profile(_csa_profile(tmp_path))
    kept = explain_tag("(0029,1010)", team)
    assert kept.resolved == "K" and CSA in kept.reason and "keep_private" in kept.reason
    other = explain_tag("(0029,1010)", team, creator="OTHER VENDOR")
    assert other.resolved != "K" and "not in the profile's keep_private" in other.reason
    args = ["explain", "(0029,1020)", "--profile", str(_csa_profile(tmp_path))]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "keep_private" in result.output
    assert "keep_private" not in explain_tag("(0029,1010)", load_profile("research")).reason


def test_verify_accepts_kept_blocks_and_flags_other_creators(tmp_path: Path) -> None:
    export, release = tmp_path / "export", tmp_path / "release"
    export.mkdir()
    to_path = export / "a.dcm"
    to_path.write_bytes(to_bytes(_siemens(canary_dataset())))
    key_file = tmp_path / "project.key"
    assert runner.invoke(app, ["keygen", str(key_file)]).exit_code == 0
    args = ["scrub", str(export), str(release), "--profile", str(_csa_profile(tmp_path)),
            "--key-file", str(key_file), "--workers", "1"]
    assert runner.invoke(app, args).exit_code == EXIT_OK
    report = tmp_path / "v.json"
    result = runner.invoke(
        app, ["verify", str(release), "--json-out", str(report), "--workers", "1"]
    )
    assert report.is_file(), result.output
    findings = json.loads(report.read_text())["findings"]
    assert [f for f in findings if f["check"] == "private-element"] == []
    assert result.exit_code == EXIT_OK
    # the same element under another creator is not what the profile keeps
    (path,) = list(release.rglob("*.dcm"))
    ds = pydicom.dcmread(path)
    ds[0x00290011].value = "OTHER VENDOR"
    ds.save_as(path)
    args = ["verify", str(release), "--json-out", str(report), "--force", "--workers", "1"]
    result = runner.invoke(app, args)
    findings = json.loads(report.read_text())["findings"]
    assert {f["check"] for f in findings if f["severity"] == "error"} >= {"private-element"}
    assert result.exit_code == EXIT_PHI_FOUND
