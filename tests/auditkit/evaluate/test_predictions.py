"""Loading and validating predictions tables: typed errors that name columns, never values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditkit.errors import PredictionsError, UsageError
from auditkit.evaluate.predictions import Task, load_predictions, prepare_predictions, read_table

CANARY = "0.7SECRET-VALUE"


def test_csv_reads_text_and_keeps_unknown(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("label,score,sex,field_strength\n1,0.9,Unknown,3\n0,0.2,,1.5\n")
    pred = load_predictions(path, task="binary", groups=("sex", "field_strength"))
    assert pred.attributes["sex"].tolist() == ["Unknown", ""]
    assert pred.attributes["field_strength"].tolist() == ["3", "1.5"]
    assert pred.scores[:, 0].tolist() == [0.9, 0.2]


def test_parquet_floats_match_csv_spelling(tmp_path):
    frame = pd.DataFrame(
        {"label": [1, 0], "score": [0.9, 0.2], "field_strength": [3.0, 1.5], "sex": ["F", None]}
    )
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    pred = load_predictions(path, task="binary", groups=("field_strength", "sex"))
    assert pred.attributes["field_strength"].tolist() == ["3", "1.5"]
    assert pred.attributes["sex"].tolist() == ["F", ""]


def test_missing_column_names_column():
    frame = pd.DataFrame({"label": ["1"], "score": ["0.5"]})
    with pytest.raises(PredictionsError, match="column 'site' not found"):
        prepare_predictions(frame, task="binary", groups=("site",))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("score", CANARY, "not numbers"),
        ("score", "1.7", "outside"),
        ("label", "2", "binary labels"),
    ],
)
def test_malformed_values_name_column_not_value(column, value, message):
    frame = pd.DataFrame({"label": ["1", "0"], "score": ["0.5", "0.1"]})
    frame.loc[0, column] = value
    with pytest.raises(PredictionsError, match=message) as info:
        prepare_predictions(frame, task="binary")
    assert f"'{column}'" in str(info.value)
    assert value not in str(info.value)
    assert isinstance(info.value, UsageError)


def test_exclusions_are_counted():
    frame = pd.DataFrame(
        {
            "label": ["1", "", "0", "1", "0"],
            "score": ["0.5", "0.4", "NaN", "0.3", "0.2"],
            "status": ["ok", "ok", "ok", "failed", "ok"],
        }
    )
    pred = prepare_predictions(frame, task="binary")
    assert pred.n == 2 and pred.n_read == 5
    counts = {w["code"]: w["count"] for w in pred.warnings}
    assert counts == {"failed_rows": 1, "missing_label": 1, "nan_score": 1}


def test_multiclass_prefix_and_unknown_label():
    frame = pd.DataFrame(
        {"label": ["a", "b"], "score_a": [0.7, 0.2], "score_b": [0.3, 0.8], "other": [1, 2]}
    )
    pred = prepare_predictions(frame, task=Task.MULTICLASS, scores=("score_",))
    assert pred.classes == ("a", "b")
    assert pred.labels.tolist() == [0.0, 1.0]
    frame.loc[0, "label"] = "zebra"
    with pytest.raises(PredictionsError, match="match none") as info:
        prepare_predictions(frame, task="multiclass")
    assert "zebra" not in str(info.value)


def test_patients_coded_and_missing_ids_stand_alone():
    frame = pd.DataFrame(
        {"label": ["1", "0", "1", "0"], "score": ["0.5"] * 4, "pid": ["x", "x", "", ""]}
    )
    pred = prepare_predictions(frame, task="binary", patient="pid")
    assert pred.patients is not None
    assert pred.patients[0] == pred.patients[1]
    assert len(np.unique(pred.patients)) == 3
    assert any(w["code"] == "missing_patient" for w in pred.warnings)


def test_unsupported_format(tmp_path):
    path = tmp_path / "p.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(PredictionsError, match="not a .csv or .parquet"):
        read_table(path)


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("absent.csv", None, "^predictions 'absent.csv' not found$"),
        ("latin.csv", "label,score,site\n1,0.5,Münster\n".encode("latin-1"), "not valid UTF-8"),
        ("empty.csv", b"", "'empty.csv' is empty"),
        ("random.parquet", bytes(range(256)) * 4, "'random.parquet' could not be read as Parquet"),
    ],
)
def test_unreadable_tables_say_why(
    tmp_path: Path, name: str, content: bytes | None, pattern: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PredictionsError, match=pattern):
        read_table(path)


def test_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    # Spreadsheet exports start with a BOM; "label" must still be found.
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbflabel,score\n1,0.5\n0,0.2\n")
    assert load_predictions(path, task="binary").n == 2
