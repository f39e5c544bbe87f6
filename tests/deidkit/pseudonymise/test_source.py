"""Tests of pseudonymise_source: one entry for a table or a BIDS tree, checks in a fixed order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deidkit.core.errors import KeyFileError, LinkageError, ProfileError, UsageError
from deidkit.core.keys import generate_key_file, load_key_file
from deidkit.core.pseudonym import DEFAULT_DATE_SHIFT_RANGE, date_offset_days, patient_pseudonym
from deidkit.pseudonymise.linkage import LinkageStore
from deidkit.pseudonymise.source import (
    ERR_AS_IS_TABLE,
    ERR_BIDS_COLUMNS,
    ERR_NO_ID_COLUMN,
    ERR_NO_KEY,
    ColumnOptions,
    PseudonymiseResult,
    pseudonymise_source,
    resolve_date_shift_range,
)
from deidkit.pseudonymise.tables import IdKind, TableSpec

NO_ENV: dict[str, str] = {}
COLUMNS = ColumnOptions(
    patient_column="mrn",
    date_columns=("visit",),
    keep_columns=("score",),
    drop_columns=("note",),
)


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "project.key"
    generate_key_file(path)
    return path


def _table(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(
        "mrn,visit,score,note\n00123,2020-02-01,3,CANARY free text\n0456,2021-07-09,4,\n",
        encoding="utf-8",
    )
    return path


def _bids(tmp_path: Path) -> Path:
    root = tmp_path / "bids"
    (root / "sub-07" / "anat").mkdir(parents=True)
    (root / "sub-07" / "anat" / "sub-07_T1w.json").write_text('{"x": "sub-07"}')
    (root / "participants.tsv").write_text("participant_id\nsub-07\n")
    return root


def test_table_result_and_json_hold_no_values(tmp_path: Path, key: Path) -> None:
    out = tmp_path / "out.csv"
    result = pseudonymise_source(_table(tmp_path), out, columns=COLUMNS, key_file=key, env=NO_ENV)
    project = load_key_file(key)
    assert result.bids is None and result.table is not None
    assert result.table.rows == 2 and result.table.dropped == ("note",)
    assert result.key_fingerprint == project.fingerprint and not result.key_ephemeral
    assert result.date_shift_range == DEFAULT_DATE_SHIFT_RANGE
    assert patient_pseudonym(project, "00123") in out.read_text()
    data = result.to_json()
    assert data == {
        "rows": 2,
        "columns": ["mrn", "visit", "score"],
        "pseudonymised": ["mrn"],
        "shifted": ["visit"],
        "dropped": ["note"],
        "emptied": [],
        "kept_unlisted": [],
        "linkage_entries": 0,
        "output": str(out),
        "key_fingerprint": project.fingerprint,
        "key_ephemeral": False,
        "date_shift_range": list(DEFAULT_DATE_SHIFT_RANGE),
    }
    text = json.dumps(data)
    assert "00123" not in text and "CANARY" not in text


def test_bids_result(tmp_path: Path, key: Path) -> None:
    out = tmp_path / "out"
    result = pseudonymise_source(_bids(tmp_path), out, bids=True, key_file=key, env=NO_ENV)
    assert result.table is None and result.bids is not None
    data = result.to_json()
    assert data["subjects"] == 1 and data["files"] == 2 and data["output"] == str(out)
    assert set(data) == {
        "subjects",
        "files",
        "renamed",
        "rewritten",
        "linkage_entries",
        "output",
        "key_fingerprint",
        "key_ephemeral",
        "date_shift_range",
        "nifti_scrubbed",
        "sidecars_scrubbed",
        "copied_unchanged",
        "metadata_as_is",
    }
    assert data["metadata_as_is"] is False
    assert "07" not in json.dumps(data)


def test_date_shift_range_explicit_then_profile_then_default(tmp_path: Path) -> None:
    profile = tmp_path / "narrow.yaml"
    profile.write_text("name: narrow\nextends: basic\ndate_shift_days: [-20, -10]\n")
    assert resolve_date_shift_range((-5, -1), profile) == (-5, -1)
    assert resolve_date_shift_range(None, profile) == (-20, -10)
    assert resolve_date_shift_range(None, None) == DEFAULT_DATE_SHIFT_RANGE
    with pytest.raises(ProfileError):
        resolve_date_shift_range(None, "no-such-profile")


def test_profile_range_shifts_the_dates(tmp_path: Path, key: Path) -> None:
    profile = tmp_path / "narrow.yaml"
    profile.write_text("name: narrow\nextends: basic\ndate_shift_days: [-20, -10]\n")
    out = tmp_path / "out.csv"
    result = pseudonymise_source(
        _table(tmp_path), out, columns=COLUMNS, key_file=key, profile=profile, env=NO_ENV
    )
    assert result.date_shift_range == (-20, -10)
    days = date_offset_days(load_key_file(key), "00123", shift_range=(-20, -10))
    assert -20 <= days <= -10


def test_key_from_env_and_random_key_refused(tmp_path: Path) -> None:
    table = _table(tmp_path)
    with pytest.raises(UsageError, match="needs a project key") as refused:
        pseudonymise_source(
            table, tmp_path / "o.csv", columns=COLUMNS, linkage=tmp_path / "l.dkl", env=NO_ENV
        )
    assert str(refused.value) == ERR_NO_KEY
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "l.dkl").exists()
    result = pseudonymise_source(
        table, tmp_path / "o.csv", columns=COLUMNS, env={"DEIDKIT_KEY": "ab" * 32}
    )
    assert result.table is not None and not result.key_ephemeral


def test_checks_run_in_a_fixed_order(tmp_path: Path, key: Path) -> None:
    table = _table(tmp_path)
    # a bad profile is reported before a missing key
    with pytest.raises(ProfileError):
        pseudonymise_source(table, tmp_path / "o.csv", profile="no-such-profile", env=NO_ENV)
    # a missing project key before a bad linkage key file
    with pytest.raises(UsageError, match="needs a project key"):
        pseudonymise_source(
            table,
            tmp_path / "o.csv",
            linkage=tmp_path / "l.dkl",
            linkage_key_file=tmp_path / "nosuch.key",
            env=NO_ENV,
        )
    # a bad linkage key file before anything about the source
    with pytest.raises(KeyFileError):
        pseudonymise_source(
            tmp_path,
            tmp_path / "o.csv",
            key_file=key,
            linkage=tmp_path / "l.dkl",
            linkage_key_file=tmp_path / "nosuch.key",
            env=NO_ENV,
        )


def test_usage_errors(tmp_path: Path, key: Path) -> None:
    bids = _bids(tmp_path)
    with pytest.raises(UsageError, match="add --bids"):
        pseudonymise_source(bids, tmp_path / "o", key_file=key, env=NO_ENV)
    with pytest.raises(UsageError) as columns:
        pseudonymise_source(
            bids,
            tmp_path / "o",
            bids=True,
            columns=ColumnOptions(keep_unlisted=True),
            key_file=key,
            env=NO_ENV,
        )
    assert str(columns.value) == ERR_BIDS_COLUMNS and not (tmp_path / "o").exists()
    with pytest.raises(UsageError) as no_id:
        pseudonymise_source(
            _table(tmp_path),
            tmp_path / "o.csv",
            columns=ColumnOptions(keep_unlisted=True),
            key_file=key,
            env=NO_ENV,
        )
    assert str(no_id.value) == ERR_NO_ID_COLUMN
    pseudonymise_source(_table(tmp_path), tmp_path / "o.csv", columns=COLUMNS, key_file=key)
    with pytest.raises(UsageError, match="already exists"):
        pseudonymise_source(_table(tmp_path), tmp_path / "o.csv", columns=COLUMNS, key_file=key)
    again = pseudonymise_source(
        _table(tmp_path), tmp_path / "o.csv", columns=COLUMNS, key_file=key, overwrite=True
    )
    assert again.table is not None


def test_copy_metadata_as_is_is_for_bids_only(tmp_path: Path, key: Path) -> None:
    with pytest.raises(UsageError) as table:
        pseudonymise_source(
            _table(tmp_path),
            tmp_path / "o.csv",
            columns=COLUMNS,
            key_file=key,
            env=NO_ENV,
            copy_metadata_as_is=True,
        )
    assert str(table.value) == ERR_AS_IS_TABLE and not (tmp_path / "o.csv").exists()
    tree = pseudonymise_source(
        _bids(tmp_path), tmp_path / "t", bids=True, key_file=key, copy_metadata_as_is=True
    )
    assert tree.to_json()["metadata_as_is"] is True


def test_linkage_with_a_separate_key(tmp_path: Path, key: Path) -> None:
    linkage_key = tmp_path / "keys" / "linkage.key"
    generate_key_file(linkage_key)
    linkage = tmp_path / "l.dkl"
    result = pseudonymise_source(
        _table(tmp_path),
        tmp_path / "o.csv",
        columns=COLUMNS,
        key_file=key,
        linkage=linkage,
        linkage_key_file=linkage_key,
        env=NO_ENV,
    )
    assert result.table is not None and result.table.linkage_entries == 4  # 2 ids, 2 offsets
    project = load_key_file(key)
    with pytest.raises(LinkageError):  # the project key does not open it
        LinkageStore(linkage, key=project).check()
    store = LinkageStore(linkage, key=project, linkage_key=load_key_file(linkage_key))
    assert store.check().entries == 4


def test_column_options() -> None:
    assert not ColumnOptions().given()
    assert not ColumnOptions(patient_column="").given()
    for options in (
        ColumnOptions(id_columns=("a",)),
        ColumnOptions(patient_column="p"),
        ColumnOptions(date_columns=("d",)),
        ColumnOptions(drop_columns=("d",)),
        ColumnOptions(empty_columns=("e",)),
        ColumnOptions(keep_columns=("k",)),
        ColumnOptions(keep_unlisted=True),
    ):
        assert options.given(), options
    spec = ColumnOptions(
        id_columns=("acc:accession", "site_name"), patient_column="mrn", keep_unlisted=True
    ).table_spec((-9, -1))
    assert spec == TableSpec(
        id_columns={"acc": IdKind.ACCESSION, "site_name": IdKind.SITE},
        patient_column="mrn",
        keep_unlisted=True,
        date_shift_range=(-9, -1),
    )


def test_result_json_without_work_is_the_common_part() -> None:
    result = PseudonymiseResult(Path("o"), "ab", False, (-2, -1))
    assert result.to_json() == {
        "output": "o",
        "key_fingerprint": "ab",
        "key_ephemeral": False,
        "date_shift_range": [-2, -1],
    }
