"""Load and validate a predictions table (CSV or Parquet) for evaluation.

The table is what ``auditkit predict`` writes or any table a team brings: one row per case, a
label column, score column(s), optional ``patient_id``, ``status`` ("ok"/"failed") and subgroup
attribute columns. Rules, applied here once:

* Attribute columns are read as text. An empty cell is *missing* (it becomes the explicit
  missing group downstream); the string ``"Unknown"`` is an ordinary category.
* Rows with ``status == "failed"``, a missing label or a missing/NaN score are left out and
  counted in a warning; a malformed value (text in a score column, a score outside [0, 1], a
  label that is not 0/1) is a :class:`~auditkit.errors.PredictionsError` naming the column and
  never the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from auditkit.errors import PredictionsError
from auditkit.evaluate.task import Task as Task  # re-exported: its home before task.py
from auditkit.inputs import MSG_NOT_UTF8, check_file
from auditkit.results import WarningEntry

MSG_NO_COLUMN: Final = "predictions: column '{column}' not found; columns present: {present}"
MSG_NOT_NUMERIC: Final = "predictions: column '{column}' holds values that are not numbers"
MSG_SCORE_RANGE: Final = "predictions: column '{column}' holds scores outside [0, 1]"
MSG_NOT_BINARY: Final = (
    "predictions: column '{column}' must hold binary labels 0/1 for --task binary"
)
MSG_UNKNOWN_CLASS: Final = (
    "predictions: column '{column}' holds labels that match none of the score columns {scores}"
)
MSG_FORMAT: Final = "predictions: '{name}' is not a .csv or .parquet file"
MSG_UNREADABLE: Final = "predictions: '{name}' could not be read as {kind}"
MSG_EMPTY: Final = "predictions: '{name}' is empty (no header row)"
MSG_NO_ROWS: Final = "predictions: no usable rows left after excluding failed and incomplete rows"
MSG_MULTICLASS_SCORES: Final = "predictions: --task multiclass needs at least two score columns"


#: Score columns used when none are given.
DEFAULT_SCORES: Final[dict[Task, tuple[str, ...]]] = {
    Task.BINARY: ("score",),
    Task.MULTICLASS: ("score_",),
    Task.REGRESSION: ("prediction",),
    Task.SEGMENTATION: ("dice", "hd95"),
}

_MISSING_TEXT: Final = frozenset({"", "nan", "none", "null", "na", "n/a"})


@dataclass(frozen=True)
class Predictions:
    """A validated predictions table, ready for :class:`~auditkit.evaluate.AuditResult`.

    Attributes
    ----------
    task
        The task.
    labels
        Binary 0/1 (binary), class index into ``classes`` (multiclass), number (regression);
        empty for segmentation.
    scores
        ``(n, k)`` scores: probability of class 1 (binary, k=1), per-class probabilities
        (multiclass), the prediction (regression) or per-case metrics (segmentation).
    score_names
        Column names of ``scores``.
    classes
        Class names (multiclass only).
    attributes
        Attribute column -> text values; ``""`` means missing.
    patients
        Patient code per row (``0..n_patients-1``) or ``None`` when no patient column.
    n_read
        Rows in the file before exclusions.
    warnings
        Exclusion warnings: ``{"code", "message", "count"}``.
    """

    task: Task
    labels: npt.NDArray[np.float64]
    scores: npt.NDArray[np.float64]
    score_names: tuple[str, ...]
    classes: tuple[str, ...]
    attributes: dict[str, npt.NDArray[np.object_]]
    patients: npt.NDArray[np.int64] | None
    n_read: int
    warnings: tuple[WarningEntry, ...] = field(default=())

    @property
    def n(self) -> int:
        """Rows kept for evaluation."""
        return int(self.scores.shape[0])


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (every column as text, only empty cells missing) or a Parquet file.

    Raises
    ------
    PredictionsError
        The file is missing, not a .csv/.parquet, not UTF-8 text (CSV), empty or not a table.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq"}:
        raise PredictionsError(MSG_FORMAT.format(name=path.name))
    check_file(path, what="predictions", error=PredictionsError)
    kind = "CSV" if suffix == ".csv" else "Parquet"
    try:
        if suffix == ".csv":
            return pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
            )
        return pd.read_parquet(path)
    except UnicodeDecodeError:
        raise PredictionsError(MSG_NOT_UTF8.format(what="predictions", name=path.name)) from None
    except pd.errors.EmptyDataError:
        raise PredictionsError(MSG_EMPTY.format(name=path.name)) from None
    except (OSError, ValueError, TypeError, NotImplementedError):
        # pyarrow's errors for a broken file derive from these (ArrowInvalid is a ValueError).
        raise PredictionsError(MSG_UNREADABLE.format(name=path.name, kind=kind)) from None


def _require(frame: pd.DataFrame, column: str) -> None:
    if column not in frame.columns:
        present = ", ".join(str(c) for c in frame.columns)
        raise PredictionsError(MSG_NO_COLUMN.format(column=column, present=present))


def _text_value(value: Any) -> str:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        # Parquet field strengths 3.0 and CSV "3" must be the same group.
        return str(int(value))
    return str(value).strip()


def text_column(frame: pd.DataFrame, column: str) -> npt.NDArray[np.object_]:
    """A column as stripped text; missing cells become ``""``."""
    _require(frame, column)
    return np.array([_text_value(v) for v in frame[column].tolist()], dtype=object)


def _numeric_text(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _MISSING_TEXT:
            return math.nan
        return {"true": "1", "false": "0"}.get(text.lower(), text)
    return value


def numeric_column(frame: pd.DataFrame, column: str) -> npt.NDArray[np.float64]:
    """A column as float64; empty cells and "nan"-like text become NaN, other text is an error."""
    _require(frame, column)
    series = frame[column]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        direct: npt.NDArray[np.float64] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return direct
    cleaned = [_numeric_text(v) for v in series.tolist()]
    try:
        parsed = pd.to_numeric(pd.Series(cleaned, dtype=object), errors="raise")
    except (ValueError, TypeError):
        raise PredictionsError(MSG_NOT_NUMERIC.format(column=column)) from None
    values: npt.NDArray[np.float64] = np.asarray(parsed, dtype=np.float64)
    return values


def resolve_score_columns(frame: pd.DataFrame, task: Task, scores: tuple[str, ...]) -> list[str]:
    """Score column names; for multiclass a single non-column name is a prefix (``score_``)."""
    scores = scores or DEFAULT_SCORES[task]
    if task is Task.MULTICLASS and len(scores) == 1 and scores[0] not in frame.columns:
        prefix = scores[0]
        found = [str(c) for c in frame.columns if str(c).startswith(prefix) and str(c) != prefix]
        if len(found) < 2:
            raise PredictionsError(MSG_MULTICLASS_SCORES)
        return found
    if task is Task.SEGMENTATION:
        present = [c for c in scores if c in frame.columns]
        if not present:
            _require(frame, scores[0])
        return present
    for column in scores:
        _require(frame, column)
    if task is Task.MULTICLASS and len(scores) < 2:
        raise PredictionsError(MSG_MULTICLASS_SCORES)
    return list(scores)


def _class_name(column: str, prefix: str) -> str:
    return column[len(prefix) :] if prefix and column.startswith(prefix) else column


def _common_prefix(columns: list[str]) -> str:
    prefix = ""
    for chars in zip(*columns, strict=False):
        if len(set(chars)) != 1:
            break
        prefix += chars[0]
    return prefix if prefix.endswith("_") else prefix[: prefix.rfind("_") + 1]


def _warn(code: str, message: str, count: int) -> WarningEntry:
    return {"code": code, "message": message, "count": int(count)}


def prepare_predictions(
    frame: pd.DataFrame,
    *,
    task: Task | str,
    label: str | None = "label",
    scores: tuple[str, ...] = (),
    patient: str | None = None,
    groups: tuple[str, ...] = (),
) -> Predictions:
    """Validate a predictions frame and keep the rows that can be evaluated.

    Parameters
    ----------
    frame
        The table, e.g. from :func:`read_table`.
    task
        ``binary``, ``multiclass``, ``regression`` or ``segmentation``.
    label
        Label column (ignored for segmentation).
    scores
        Score columns; empty uses :data:`DEFAULT_SCORES`.
    patient
        Optional patient column; rows of one patient are resampled together.
    groups
        Attribute columns to audit.

    Raises
    ------
    PredictionsError
        A column is missing or holds malformed values, or no row is usable.
    """
    task = Task(task)
    n_read = len(frame)
    for column in groups:
        _require(frame, column)
    score_cols = resolve_score_columns(frame, task, tuple(scores))
    keep = np.ones(n_read, dtype=bool)
    warnings: list[WarningEntry] = []
    if "status" in frame.columns:
        failed = np.array([t.lower() == "failed" for t in text_column(frame, "status")], dtype=bool)
        if failed.any():
            warnings.append(
                _warn("failed_rows", "rows with status 'failed' were excluded", failed.sum())
            )
        keep &= ~failed
    score_matrix = np.column_stack([numeric_column(frame, c) for c in score_cols])
    classes: tuple[str, ...] = ()
    labels = np.full(n_read, np.nan)
    if task is Task.SEGMENTATION:
        none = np.isnan(score_matrix).all(axis=1) & keep
        if none.any():
            warnings.append(
                _warn("nan_score", "rows without any per-case metric excluded", none.sum())
            )
        keep &= ~none
    else:
        assert label is not None
        if task is Task.MULTICLASS:
            prefix = _common_prefix(score_cols)
            classes = tuple(_class_name(c, prefix) for c in score_cols)
            text = text_column(frame, label)
            lookup = {name: i for i, name in enumerate(classes)}
            labels = np.array([lookup.get(t, -1) if t else -2 for t in text], dtype=np.float64)
            if ((labels == -1) & keep).any():
                raise PredictionsError(MSG_UNKNOWN_CLASS.format(column=label, scores=score_cols))
            labels[labels == -2] = np.nan
        else:
            labels = numeric_column(frame, label)
            if task is Task.BINARY and not np.isin(labels[~np.isnan(labels) & keep], (0, 1)).all():
                raise PredictionsError(MSG_NOT_BINARY.format(column=label))
        no_label = np.isnan(labels) & keep
        if no_label.any():
            warnings.append(
                _warn("missing_label", "rows without a label were excluded", no_label.sum())
            )
        keep &= ~no_label
        nan_score = np.isnan(score_matrix).any(axis=1) & keep
        if nan_score.any():
            warnings.append(
                _warn(
                    "nan_score", "rows with a missing or NaN score were excluded", nan_score.sum()
                )
            )
        keep &= ~nan_score
        if task in (Task.BINARY, Task.MULTICLASS):
            kept = score_matrix[keep]
            for j, column in enumerate(score_cols):
                if ((kept[:, j] < 0) | (kept[:, j] > 1)).any():
                    raise PredictionsError(MSG_SCORE_RANGE.format(column=column))
    if not keep.any():
        raise PredictionsError(MSG_NO_ROWS)
    patients = None
    if patient is not None:
        ids = text_column(frame, patient)[keep]
        no_id = ids == ""
        if no_id.any():
            warnings.append(
                _warn(
                    "missing_patient",
                    f"rows without a value in '{patient}' were resampled as their own patient",
                    no_id.sum(),
                )
            )
            ids = ids.copy()
            ids[no_id] = [f"\x00row{i}" for i in np.flatnonzero(no_id)]
        _, codes = np.unique(ids.astype(str), return_inverse=True)
        patients = codes.astype(np.int64)
    return Predictions(
        task=task,
        labels=labels[keep],
        scores=score_matrix[keep],
        score_names=tuple(score_cols),
        classes=classes,
        attributes={c: text_column(frame, c)[keep] for c in groups},
        patients=patients,
        n_read=n_read,
        warnings=tuple(warnings),
    )


def load_predictions(
    path: str | Path,
    *,
    task: Task | str,
    label: str | None = "label",
    scores: tuple[str, ...] = (),
    patient: str | None = None,
    groups: tuple[str, ...] = (),
    vendor_columns: tuple[str, ...] = (),
    vendor_table: str | Path | None = None,
) -> Predictions:
    """Read a CSV/Parquet predictions file and validate it (see :func:`prepare_predictions`).

    ``vendor_columns`` go through the vendor table first (:mod:`auditkit.vendors`, extended by
    ``vendor_table``), so "G.E. Medical Systems" and "GEMS" from elsewhere join "GE".
    """
    frame = read_table(path)
    if vendor_columns:
        frame = normalise_vendor_columns(frame, vendor_columns, vendor_table=vendor_table)
    return prepare_predictions(
        frame, task=task, label=label, scores=scores, patient=patient, groups=groups
    )


def normalise_vendor_columns(
    frame: pd.DataFrame, columns: tuple[str, ...], *, vendor_table: str | Path | None = None
) -> pd.DataFrame:
    """A copy of ``frame`` whose ``columns`` hold vendor names; empty cells stay missing.

    Raises
    ------
    PredictionsError
        A column is not in the table (named, with the columns present).
    """
    from auditkit.vendors import load_vendor_table

    table = load_vendor_table(vendor_table)
    out = frame.copy()
    for column in columns:
        _require(out, column)
        out[column] = [
            None if text == "" else table.normalise(text)
            for text in (_text_value(v) for v in out[column].tolist())
        ]
    return out
