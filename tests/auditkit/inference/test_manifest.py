"""Manifest reading and the cohort-manifest join."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auditkit.errors import InputFileError, UsageError
from auditkit.inference.manifest import load_manifest, read_table
from deidkit.pseudonymise.cohort_schema import COHORT_COLUMNS


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_keeps_unknown_and_na_as_categories(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", "image,label,sex\na.nii,1,Unknown\nb.nii,0,NA\nc.nii,1,\n")
    frame = read_table(path)
    assert frame["sex"].tolist()[:2] == ["Unknown", "NA"]
    assert pd.isna(frame["sex"].iloc[2])


def test_paths_resolved_and_case_ids_assigned(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = write_csv(tmp_path / "sub" / "m.csv", "image,label\nimgs/a.nii,1\n/abs/b.nii,0\n")
    manifest = load_manifest(path)
    assert manifest.frame["case_id"].tolist() == ["case-00001", "case-00002"]
    assert manifest.frame["image"].tolist() == [
        str(tmp_path / "sub" / "imgs" / "a.nii"),
        "/abs/b.nii",
    ]
    assert len(manifest.sha256) == 64 and len(manifest) == 2


def test_parquet_and_existing_case_ids(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    pd.DataFrame({"case_id": ["x1", "x2"], "image": ["a", "b"], "label": [0, 1]}).to_parquet(path)
    assert load_manifest(path).frame["case_id"].tolist() == ["x1", "x2"]
    pd.DataFrame({"case_id": ["x", "x"], "image": ["a", "b"], "label": [0, 1]}).to_parquet(path)
    with pytest.raises(UsageError, match="duplicate"):
        load_manifest(path)


def test_missing_column_names_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", "path,label\na,1\n")
    with pytest.raises(UsageError, match="no column 'image'"):
        load_manifest(path)
    with pytest.raises(UsageError, match="no column 'y'"):
        load_manifest(path, image_column="path", label_column="y")
    assert load_manifest(path, image_column="path", label_column=None).label_column is None


@pytest.mark.parametrize("name", ["absent.csv", "m.xlsx"])
def test_bad_files(tmp_path: Path, name: str) -> None:
    if name.endswith(".xlsx"):
        (tmp_path / name).write_bytes(b"PK")
    with pytest.raises(UsageError):
        load_manifest(tmp_path / name)


def test_cohort_manifest_joins_in(tmp_path: Path) -> None:
    cohort = pd.DataFrame(
        [
            dict.fromkeys(COHORT_COLUMNS, "")
            | {"series_uid": "2.25.1", "sex": "F", "site": "SITEAAAA", "manufacturer": "GE"},
            dict.fromkeys(COHORT_COLUMNS, "")
            | {"series_uid": "2.25.2", "sex": "M", "site": "SITEBBBB", "manufacturer": "Siemens"},
        ]
    )
    cohort_path = tmp_path / "cohort.csv"
    cohort.to_csv(cohort_path, index=False)
    manifest = write_csv(
        tmp_path / "m.csv", "image,label,series_uid,sex\na,1,2.25.2,\nb,0,2.25.1,O\nc,0,2.25.9,\n"
    )
    frame = load_manifest(manifest, cohort=cohort_path).frame
    assert frame["site"].tolist()[:2] == ["SITEBBBB", "SITEAAAA"]
    assert frame["sex"].tolist()[:2] == ["M", "O"]  # the manifest's own value wins
    assert pd.isna(frame["site"].iloc[2])  # no cohort row: missing, not a crash
    assert frame["manufacturer"].tolist()[:2] == ["Siemens", "GE"]


def test_cohort_without_join_column(tmp_path: Path) -> None:
    cohort_path = write_csv(tmp_path / "c.csv", "patient_pseudonym,sex\nPAAAA,F\n")
    manifest = write_csv(tmp_path / "m.csv", "image,label\na,1\n")
    with pytest.raises(UsageError, match="join"):
        load_manifest(manifest, cohort=cohort_path)


def test_cohort_joins_by_header_series_uid(tmp_path: Path) -> None:
    # QA: a manifest listing released series (no series_uid column) could not take the
    # cohort manifest of deidkit scrub; the join key now comes from the DICOM header.
    import numpy as np
    import pydicom
    from imaging_samples import write_dicom_series, write_nifti

    series = write_dicom_series(tmp_path / "s1", np.zeros((4, 4, 2), dtype=np.float32))
    uid = pydicom.dcmread(next(series.iterdir())).SeriesInstanceUID
    write_nifti(tmp_path / "n.nii.gz", np.zeros((4, 4, 2), dtype=np.float32), np.eye(4))
    cohort = pd.DataFrame(
        [
            dict.fromkeys(COHORT_COLUMNS, "") | {"series_uid": uid, "site": "SITEAAAA"},
            dict.fromkeys(COHORT_COLUMNS, "") | {"series_uid": "", "site": "SITEZZZZ"},
        ]
    )
    cohort.to_csv(tmp_path / "cohort.csv", index=False)
    manifest = write_csv(tmp_path / "m.csv", "image,label\ns1,1\nn.nii.gz,0\n")
    frame = load_manifest(manifest, cohort=tmp_path / "cohort.csv").frame
    assert frame["series_uid"].iloc[0] == uid and pd.isna(frame["series_uid"].iloc[1])
    assert frame["site"].iloc[0] == "SITEAAAA"
    assert pd.isna(frame["site"].iloc[1])  # no key: joins nothing, not the keyless row


def test_unreadable_manifest_and_cohort_say_which_and_why(tmp_path: Path) -> None:
    latin = tmp_path / "m.csv"
    latin.write_bytes("image,label,site\na.nii,1,Münster\n".encode("latin-1"))
    with pytest.raises(InputFileError, match="^manifest 'm.csv' is not valid UTF-8 text"):
        load_manifest(latin)
    manifest = write_csv(tmp_path / "ok.csv", "image,label,series_uid\na,1,2.25.1\n")
    with pytest.raises(InputFileError, match="^cohort manifest 'gone.csv' not found$"):
        load_manifest(manifest, cohort=tmp_path / "gone.csv")
    with pytest.raises(InputFileError, match="^manifest 'absent.csv' not found$"):
        load_manifest(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    ("uids", "matched"),
    [(["2.25.1", "2.25.2", "2.25.3"], 3), (["2.25.1", "2.25.8", "2.25.9"], 1), (["9", "8"], 0)],
)
def test_cohort_join_that_misses_rows_warns(tmp_path: Path, uids: list[str], matched: int) -> None:
    # Issue 16: a cohort from another release joined nothing and said nothing; every
    # attribute stayed empty and evaluate audited one "missing" group.
    cohort = pd.DataFrame(
        [
            dict.fromkeys(COHORT_COLUMNS, "") | {"series_uid": f"2.25.{i}", "site": f"SITE{i}"}
            for i in (1, 2, 3)
        ]
    )
    cohort.to_csv(tmp_path / "cohort.csv", index=False)
    rows = "".join(f"img{i},1,{uid}\n" for i, uid in enumerate(uids))
    manifest = write_csv(tmp_path / "m.csv", "image,label,series_uid\n" + rows)
    loaded = load_manifest(manifest, cohort=tmp_path / "cohort.csv")
    assert int(loaded.frame["site"].notna().sum()) == matched
    if matched == len(uids):
        assert loaded.warnings == ()
        return
    (warning,) = loaded.warnings
    assert warning["code"] == "cohort_unmatched"
    assert warning["count"] == len(uids) - matched
    assert "'series_uid'" in warning["message"] and "cohort.csv" in warning["message"]
    expected = "none of the 2" if matched == 0 else f"matched {matched} of the {len(uids)}"
    assert expected in warning["message"]
    assert not any(uid in warning["message"] for uid in uids)  # keys are never quoted
