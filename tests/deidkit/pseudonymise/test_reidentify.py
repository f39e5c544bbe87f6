"""Tests of re-identification from the linkage store: one pseudonym, and a CSV batch."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest

from deidkit.core.errors import LinkageError, OutputPathError, UsageError
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import date_offset_days, patient_pseudonym
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore
from deidkit.pseudonymise.reidentify import (
    BATCH_COLUMNS,
    BatchReidentification,
    Reidentification,
    ReidentifiedRow,
    read_pseudonyms,
    reidentify_batch,
    reidentify_pseudonym,
    revealed,
)

KEY = ProjectKey(secret=bytes(range(32)), source="test")
OTHER_KEY = ProjectKey(secret=bytes(range(1, 33)), source="test")


def _store(tmp_path: Path) -> LinkageStore:
    store = LinkageStore(tmp_path / "release.dkl", key=KEY)
    entries = []
    for patient in ("MRN-1", "MRN-2"):
        entries += [
            LinkageEntry("PatientID", patient, patient_pseudonym(KEY, patient)),
            LinkageEntry("DateOffset", patient, str(date_offset_days(KEY, patient))),
        ]
    store.append([*entries, LinkageEntry("AccessionNumber", "ACC-9", "A123")])
    return store


def test_revealed_is_the_original_or_the_offset() -> None:
    assert revealed(LinkageEntry("PatientID", "MRN-1", "P1")) == "MRN-1"
    assert revealed(LinkageEntry("DateOffset", "MRN-1", "-400")) == "-400"


def test_reidentify_one_pseudonym(tmp_path: Path) -> None:
    store = _store(tmp_path)
    pseudonym = patient_pseudonym(KEY, "MRN-1")
    found = reidentify_pseudonym(store, f" {pseudonym} ")
    assert [(e.kind, revealed(e)) for e in found.entries] == [
        ("PatientID", "MRN-1"),
        ("DateOffset", str(date_offset_days(KEY, "MRN-1"))),
    ]
    assert found.pseudonym == f" {pseudonym} "  # as asked
    assert found.to_json() == {
        "pseudonym": f" {pseudonym} ",
        "entries": [e.as_dict() for e in found.entries],
    }
    assert reidentify_pseudonym(store, "A123").entries == (
        LinkageEntry("AccessionNumber", "ACC-9", "A123"),
    )


def test_reidentify_unknown_or_wrong_key_is_a_linkage_error(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(LinkageError, match="not found"):
        reidentify_pseudonym(store, "PNOSUCH")
    # a DateOffset value is never matched (many patients share one)
    offset = str(date_offset_days(KEY, "MRN-1"))
    with pytest.raises(LinkageError, match="not found"):
        reidentify_pseudonym(store, offset)
    with pytest.raises(LinkageError, match="does not open it") as wrong:
        reidentify_pseudonym(LinkageStore(store.path, key=OTHER_KEY), "A123")
    assert "MRN" not in str(wrong.value)


def _batch(tmp_path: Path) -> Path:
    path = tmp_path / "ask.csv"
    p2 = patient_pseudonym(KEY, "MRN-2")
    path.write_text(f"pid,x\n{p2},1\n PUNKNOWN ,2\nA123,3\n,4\n", encoding="utf-8")
    return path


def test_batch_rows_in_batch_order(tmp_path: Path) -> None:
    store = _store(tmp_path)
    result = reidentify_batch(store, _batch(tmp_path), "pid")
    p2 = patient_pseudonym(KEY, "MRN-2")
    assert result.rows == (
        ReidentifiedRow(p2, "PatientID", "MRN-2"),
        ReidentifiedRow(p2, "DateOffset", str(date_offset_days(KEY, "MRN-2"))),
        ReidentifiedRow("PUNKNOWN"),
        ReidentifiedRow("A123", "AccessionNumber", "ACC-9"),
        ReidentifiedRow(""),
    )
    assert (result.pseudonyms, result.missing, result.out) == (4, 2, None)
    lines = result.csv_text().splitlines()
    assert lines[0] == ",".join(BATCH_COLUMNS) and lines[3] == "PUNKNOWN,,"
    assert list(csv.reader(result.csv_text().splitlines()))[1:] == [
        [r.pseudonym, r.kind, r.original] for r in result.rows
    ]
    assert result.to_json()[0] == {"pseudonym": p2, "kind": "PatientID", "original": "MRN-2"}
    assert [list(record) for record in result.to_json()] == [list(BATCH_COLUMNS)] * 5


def test_batch_to_a_file_is_owner_only(tmp_path: Path) -> None:
    store = _store(tmp_path)
    out = tmp_path / "answers" / "a.csv"
    result = reidentify_batch(store, _batch(tmp_path), "pid", out=out)
    assert result.out == out and out.read_text() == result.csv_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with pytest.raises(OutputPathError):
        reidentify_batch(store, _batch(tmp_path), "pid", out=tmp_path / "ask.csv")


def test_batch_input_errors_name_the_file_not_values(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(UsageError, match="ask.csv has no column nope"):
        reidentify_batch(store, _batch(tmp_path), "nope")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UsageError, match="bad.csv is not a readable CSV file"):
        read_pseudonyms(bad, "pid")
    with pytest.raises(UsageError, match="not a readable CSV file"):
        read_pseudonyms(tmp_path / "missing.csv", "pid")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UsageError, match="no column pid"):
        read_pseudonyms(empty, "pid")


def test_empty_batch(tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text("pid\n")
    result = reidentify_batch(_store(tmp_path), header_only, "pid")
    assert result == BatchReidentification(rows=(), pseudonyms=0, missing=0)
    assert result.csv_text() == "pseudonym,kind,original\n" and result.to_json() == []


def test_records_are_frozen() -> None:
    found = Reidentification("P", ())
    with pytest.raises(AttributeError):
        found.pseudonym = "Q"  # type: ignore[misc]
