"""Tests of table pseudonymisation: same pseudonyms as the images, dates, bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deidkit.core.errors import (
    ColumnSpecError,
    LinkageError,
    OutputPathError,
    TableInputError,
    UsageError,
)
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import (
    accession_pseudonym,
    date_offset_days,
    patient_pseudonym,
    pseudonymous_uid,
)
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore
from deidkit.pseudonymise.tables import (
    IdKind,
    TableSpec,
    parse_id_column,
    pseudonymise_frame,
    pseudonymise_table,
    shift_date_text,
)

KEY = ProjectKey(secret=bytes(range(32)), source="test")
OTHER_KEY = ProjectKey(secret=bytes(range(7, 39)), source="test")
FIXTURE_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _labs(path: Path) -> Path:
    path.write_text(
        "mrn,accession,drawn,drawn_at,value,comment\n"
        "00123,ACC1,20200131,2020-01-31 08:15:00,4.2,called Dr Smith\n"
        "00123,ACC2,20200305,2020-03-05T09:00,5.0,\n"
        "0456,ACC3,,2021-12-31,3.1,repeat\n",
        encoding="utf-8",
    )
    return path


LABS_SPEC = TableSpec(
    id_columns={"accession": IdKind.ACCESSION},
    patient_column="mrn",
    date_columns=("drawn", "drawn_at"),
    drop_columns=("comment",),
    keep_columns=("value",),
)


def test_csv_ids_and_dates_match_the_image_derivation(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = pseudonymise_table(_labs(tmp_path / "labs.csv"), out, key=KEY, spec=LABS_SPEC)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert result.rows == 3 and list(frame.columns) == [
        "mrn",
        "accession",
        "drawn",
        "drawn_at",
        "value",
    ]
    # "00123" is read as text: its pseudonym is that of the string, not of 123.
    assert frame["mrn"].tolist() == [patient_pseudonym(KEY, "00123")] * 2 + [
        patient_pseudonym(KEY, "0456")
    ]
    assert frame["accession"].tolist() == [
        accession_pseudonym(KEY, a) for a in ("ACC1", "ACC2", "ACC3")
    ]
    days = date_offset_days(KEY, "00123")
    expected = dt.date(2020, 1, 31) + dt.timedelta(days=days)
    assert frame["drawn"][0] == expected.strftime("%Y%m%d")  # DICOM DA stays DA
    assert frame["drawn_at"][0] == expected.isoformat() + " 08:15:00"  # time kept
    assert frame["drawn"][2] == ""  # blank stays blank
    other = dt.date(2021, 12, 31) + dt.timedelta(days=date_offset_days(KEY, "0456"))
    assert frame["drawn_at"][2] == other.isoformat()
    assert frame["value"].tolist() == ["4.2", "5.0", "3.1"]
    assert "Smith" not in out.read_text()


def test_result_json_names_columns_never_values(tmp_path: Path) -> None:
    source = _labs(tmp_path / "labs.csv")
    result = pseudonymise_table(source, tmp_path / "o.csv", key=KEY, spec=LABS_SPEC)
    data = result.to_json()
    assert data == {
        "rows": 3,
        "columns": list(result.columns_out),
        "pseudonymised": list(result.pseudonymised),
        "shifted": list(result.shifted),
        "dropped": ["comment"],
        "emptied": [],
        "kept_unlisted": [],
        "linkage_entries": 0,
    }
    assert "00123" not in str(data) and "Smith" not in str(data)


def test_output_is_byte_identical_across_runs(tmp_path: Path) -> None:
    source = _labs(tmp_path / "labs.csv")
    for suffix in (".csv", ".tsv", ".parquet"):
        first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        pseudonymise_table(source, first, key=KEY, spec=LABS_SPEC)
        pseudonymise_table(source, second, key=KEY, spec=LABS_SPEC)
        assert first.read_bytes() == second.read_bytes()


def test_tsv_and_parquet_round_trip(tmp_path: Path) -> None:
    source = _labs(tmp_path / "labs.csv")
    pseudonymise_table(source, tmp_path / "labs.tsv", key=KEY, spec=LABS_SPEC)
    tsv = pd.read_csv(tmp_path / "labs.tsv", sep="\t", dtype=str, keep_default_na=False)
    pseudonymise_table(
        tmp_path / "labs.tsv",
        tmp_path / "again.parquet",
        key=OTHER_KEY,
        spec=TableSpec(patient_column="mrn", keep_unlisted=True),
    )
    parquet = pd.read_parquet(tmp_path / "again.parquet")
    assert parquet["mrn"].tolist() == [patient_pseudonym(OTHER_KEY, p) for p in tsv["mrn"]]


def test_parquet_datetime_column_shifts_natively(tmp_path: Path) -> None:
    source = tmp_path / "events.parquet"
    when = pd.to_datetime(["2020-01-01 10:00", "2020-06-01 00:00"])
    pd.DataFrame({"pid": ["A1", "B2"], "when": when, "n": [1, 2]}).to_parquet(source)
    spec = TableSpec(patient_column="pid", date_columns=("when",), keep_columns=("n",))
    pseudonymise_table(source, tmp_path / "out.parquet", key=KEY, spec=spec)
    out = pd.read_parquet(tmp_path / "out.parquet")
    shifts = [pd.Timedelta(days=date_offset_days(KEY, p)) for p in ("A1", "B2")]
    assert out["when"].tolist() == [when[0] + shifts[0], when[1] + shifts[1]]
    assert out["n"].tolist() == [1, 2]  # typed columns keep their type


def test_parquet_numeric_ids_and_date_objects(tmp_path: Path) -> None:
    source = tmp_path / "typed.parquet"
    days = [dt.date(2020, 1, 1), None]
    pd.DataFrame({"pid": [123.0, 456.0], "d": days}).to_parquet(source)
    spec = TableSpec(patient_column="pid", date_columns=("d",))
    pseudonymise_table(source, tmp_path / "out.parquet", key=KEY, spec=spec)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["pid"].tolist() == [patient_pseudonym(KEY, "123"), patient_pseudonym(KEY, "456")]
    assert out["d"][0] == dt.date(2020, 1, 1) + dt.timedelta(days=date_offset_days(KEY, "123"))
    assert out["d"][1] is None


def test_unlisted_columns_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    spec = TableSpec(patient_column="mrn")
    with pytest.raises(ColumnSpecError) as info:
        pseudonymise_table(_labs(tmp_path / "labs.csv"), out, key=KEY, spec=spec)
    message = str(info.value)
    assert "accession, drawn, drawn_at, value, comment" in message
    assert "00123" not in message and not out.exists()
    keep = TableSpec(patient_column="mrn", keep_unlisted=True)
    pseudonymise_table(tmp_path / "labs.csv", out, key=KEY, spec=keep)
    assert out.exists()


@pytest.mark.parametrize(
    ("content", "spec", "error", "match"),
    [
        (
            "mrn,v\n1,2\n",
            TableSpec(patient_column="missing", keep_unlisted=True),
            ColumnSpecError,
            "missing",
        ),
        (
            "mrn,v\n1,2\n,3\n 	,4\n",
            TableSpec(patient_column="mrn", keep_columns=("v",)),
            TableInputError,
            "rows 3, 4",
        ),
        (
            'mrn,v\n1,2\n2,"unterminated\n',
            TableSpec(patient_column="mrn", keep_columns=("v",)),
            TableInputError,
            "malformed",
        ),
        (
            "mrn,v\n1,2,3,4\n",
            TableSpec(patient_column="mrn", keep_columns=("v",)),
            TableInputError,
            "malformed",
        ),
        (
            "mrn,d\n1,31/01/2020\n",
            TableSpec(patient_column="mrn", date_columns=("d",)),
            TableInputError,
            "column d .* rows 2",
        ),
        (
            "mrn,d\n1,20200230\n",
            TableSpec(patient_column="mrn", date_columns=("d",)),
            TableInputError,
            "not dates",
        ),
        (
            "mrn,v\n1,2\n",
            TableSpec(patient_column="mrn", keep_columns=("mrn", "v")),
            ColumnSpecError,
            "more than one role",
        ),
        (
            "a,b\n1,2\n",
            TableSpec(id_columns={"a": IdKind.UID}, date_columns=("b",)),
            ColumnSpecError,
            "patient column",
        ),
        (
            "mrn,mrn\n1,2\n",
            TableSpec(patient_column="mrn", keep_unlisted=True),
            ColumnSpecError,
            "repeats",
        ),
        # QA: a patient column also named as an --id-column of another kind silently got
        # that kind's pseudonym, which joins no image.
        (
            "mrn,v\n1,2\n",
            TableSpec(
                patient_column="mrn", id_columns={"mrn": IdKind.ACCESSION}, keep_unlisted=True
            ),
            ColumnSpecError,
            "kind accession",
        ),
        # QA: an unknown KIND in COL:KIND was reported only as a missing column.
        (
            "mrn,v\n1,2\n",
            TableSpec(id_columns={"mrn:bogus": IdKind.OTHER}, keep_unlisted=True),
            ColumnSpecError,
            "KIND is one of",
        ),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, content: str, spec: TableSpec, error: type[Exception], match: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(content, encoding="utf-8")
    out = tmp_path / "out.csv"
    with pytest.raises(error, match=match):
        pseudonymise_table(source, out, key=KEY, spec=spec)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]  # no temp file left behind


def test_output_location_is_checked(tmp_path: Path) -> None:
    source = _labs(tmp_path / "labs.csv")
    with pytest.raises(OutputPathError):
        pseudonymise_table(source, source, key=KEY, spec=LABS_SPEC)
    (tmp_path / "exists.csv").write_text("x\n")
    with pytest.raises(UsageError, match="already exists"):
        pseudonymise_table(source, tmp_path / "exists.csv", key=KEY, spec=LABS_SPEC)
    with pytest.raises(UsageError, match="unknown table format"):
        pseudonymise_table(source, tmp_path / "out.xlsx", key=KEY, spec=LABS_SPEC)
    assert (tmp_path / "exists.csv").read_text() == "x\n"


def test_id_column_kinds() -> None:
    assert parse_id_column("AccessionNumber") == ("AccessionNumber", IdKind.ACCESSION)
    assert parse_id_column("study_uid") == ("study_uid", IdKind.UID)
    assert parse_id_column("site_name") == ("site_name", IdKind.SITE)
    assert parse_id_column("subject") == ("subject", IdKind.PATIENT)
    assert parse_id_column("ref:other") == ("ref", IdKind.OTHER)
    assert parse_id_column("a:b") == ("a:b", IdKind.PATIENT)  # not a kind: part of the name
    frame = pd.DataFrame({"u": ["1.2.3"], "r": ["X9"]})
    spec = TableSpec(id_columns={"u": IdKind.UID, "r": IdKind.OTHER})
    out, pairs = pseudonymise_frame(frame, spec, key=KEY)
    assert out["u"][0] == pseudonymous_uid(KEY, "1.2.3")
    assert {p.kind for p in pairs} == {"UID", "Identifier"}


def test_linkage_receives_every_pair(tmp_path: Path) -> None:
    store = LinkageStore(tmp_path / "l.dkl", key=KEY)
    result = pseudonymise_table(
        _labs(tmp_path / "labs.csv"), tmp_path / "o.csv", key=KEY, spec=LABS_SPEC, linkage=store
    )
    kinds = sorted({(e.kind, e.original) for e in store.entries()})
    assert result.linkage_entries == len(kinds) == 7
    assert ("DateOffset", "0456") in kinds and ("AccessionNumber", "ACC3") in kinds
    assert store.lookup(patient_pseudonym(KEY, "0456"))[0].original == "0456"


def test_unusable_linkage_fails_before_any_output(tmp_path: Path) -> None:
    path = tmp_path / "l.dkl"
    LinkageStore(path, key=OTHER_KEY).append(
        [LinkageEntry("PatientID", "x", patient_pseudonym(OTHER_KEY, "x"))]
    )
    out = tmp_path / "o.csv"
    with pytest.raises(LinkageError, match="does not open it"):
        pseudonymise_table(
            _labs(tmp_path / "labs.csv"),
            out,
            key=KEY,
            spec=LABS_SPEC,
            linkage=LinkageStore(path, key=KEY),
        )
    assert not out.exists()


def test_shift_date_text_formats() -> None:
    assert shift_date_text("20200101", -1) == "20191231"
    assert shift_date_text("2020-03-01T10:00:00Z", -1) == "2020-02-29T10:00:00Z"
    assert shift_date_text("01/02/2020", 5) is None
    # QA: DICOM DT text (AcquisitionDateTime exports) was refused as "not dates".
    assert shift_date_text("20200101101112", -1) == "20191231101112"
    assert shift_date_text("20200101101112.5+0100", -1) == "20191231101112.5+0100"
    assert shift_date_text("202001011", -1) is None
    assert shift_date_text("2020-13-01", 5) is None


_ID = st.text(alphabet="0123456789ABCDEFxyz-", min_size=1, max_size=10).filter(lambda s: s.strip())


@FIXTURE_SETTINGS
@given(ids=st.lists(_ID, min_size=1, max_size=6), seed=st.binary(min_size=32, max_size=32))
def test_property_deterministic_and_unlinkable_across_keys(ids: list[str], seed: bytes) -> None:
    key = ProjectKey(secret=seed, source="h")
    other = ProjectKey(secret=bytes(b ^ 0xFF for b in seed), source="h")
    spec = TableSpec(patient_column="pid")
    frame = pd.DataFrame({"pid": ids})
    once, _ = pseudonymise_frame(frame.copy(), spec, key=key)
    twice, _ = pseudonymise_frame(frame.copy(), spec, key=key)
    elsewhere, _ = pseudonymise_frame(frame.copy(), spec, key=other)
    assert once["pid"].tolist() == twice["pid"].tolist()
    assert not set(once["pid"]) & set(elsewhere["pid"])  # nothing links across keys
    assert len(set(once["pid"])) == len(set(ids))  # distinct patients stay distinct


@FIXTURE_SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["p1", "p2", "p3"]),
            st.dates(dt.date(1950, 1, 1), dt.date(2030, 12, 31)),
        ),
        min_size=2,
        max_size=12,
    )
)
def test_property_date_intervals_preserved_per_patient(rows: list[tuple[str, dt.date]]) -> None:
    frame = pd.DataFrame({"pid": [r[0] for r in rows], "d": [r[1].isoformat() for r in rows]})
    out, _ = pseudonymise_frame(
        frame, TableSpec(patient_column="pid", date_columns=("d",)), key=KEY
    )
    shifted = [dt.date.fromisoformat(v) for v in out["d"]]
    for i, (pid_i, day_i) in enumerate(rows):
        for j, (pid_j, day_j) in enumerate(rows):
            if pid_i == pid_j:
                assert (shifted[i] - shifted[j]) == (day_i - day_j)
        assert shifted[i] != day_i  # never a zero shift


def _image(patient_id: str) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.PatientID = patient_id
    return ds


@FIXTURE_SETTINGS
@given(
    image_ids=st.lists(_ID, min_size=1, max_size=5, unique=True),
    extra=st.lists(_ID, max_size=3),
)
def test_property_join_integrity_with_images(image_ids: list[str], extra: list[str]) -> None:
    # DICOM pads odd-length values with a space; the table holds the bare ID.
    datasets = [_image(pid + " " if len(pid) % 2 else pid) for pid in image_ids]
    image_pseudonyms = {patient_pseudonym(KEY, str(ds.PatientID)) for ds in datasets}
    table_ids = image_ids + extra
    frame = pd.DataFrame({"pid": table_ids})
    out, _ = pseudonymise_frame(frame, TableSpec(patient_column="pid"), key=KEY)
    for source_id, pseudonym in zip(table_ids, out["pid"], strict=True):
        assert (pseudonym in image_pseudonyms) == (source_id in image_ids)
