"""The predictions table of ``auditkit predict``: columns, per-task scores, files.

See :mod:`auditkit.inference.run` for the output contract. This module turns raw network
outputs into columns (:class:`Scorer`), computes per-case segmentation metrics with the
stated empty-mask rule (:data:`EMPTY_MASK_RULE`), assembles one row per manifest row and
writes Parquet + CSV atomically.
"""

from __future__ import annotations

import io
import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auditkit.errors import UsageError
from auditkit.inference.attributes import ATTRIBUTE_COLUMNS, empty_attributes
from deidkit.core.io import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)


EMPTY_MASK_RULE = (
    "foreground = any non-zero label; both masks empty: dice 1, hd95 0; "
    "exactly one empty: dice 0, hd95 undefined (empty)"
)


def output_paths(out: Path) -> tuple[Path, Path, Path, Path]:
    """Parquet, CSV, provenance and mask-folder paths for ``--out``."""
    out = Path(out)
    suffix = out.suffix.lower()
    stem = out.with_suffix("") if suffix in {".parquet", ".csv"} else out
    return (
        stem.with_name(stem.name + ".parquet"),
        stem.with_name(stem.name + ".csv"),
        stem.with_name(stem.name + ".provenance.json"),
        stem.with_name(stem.name + "_masks"),
    )


def dicom_seg_dir(out: Path) -> Path:
    """The folder of ``--dicom-seg`` objects for ``--out`` (``X_seg`` beside ``X_masks``)."""
    mask_dir = output_paths(out)[3]
    return mask_dir.with_name(mask_dir.name.removesuffix("_masks") + "_seg")


class Scorer:
    """Turn raw network outputs into table columns for one task."""

    def __init__(
        self, task: str, class_names: Sequence[str] | None, *, activated: bool = False
    ) -> None:
        self.task = task
        self.class_names = list(class_names) if class_names else None
        # A bundle's postprocessing may already apply its sigmoid or softmax: not twice.
        self.activated = activated

    def columns(self, output: torch.Tensor) -> list[dict[str, Any]]:
        out = output.detach().float().cpu()
        if out.ndim == 1:
            out = out[:, None]
        out = out.reshape(out.shape[0], -1)
        width = out.shape[1]
        if self.task == "binary":
            if width == 1:
                scores = out[:, 0] if self.activated else torch.sigmoid(out[:, 0])
            elif width == 2:
                scores = (out if self.activated else torch.softmax(out, dim=1))[:, 1]
            else:
                raise UsageError(f"model gives {width} outputs; --task binary expects 1 or 2")
            return [{"score": float(s)} for s in scores.tolist()]
        if self.task == "regression":
            if width != 1:
                raise UsageError(f"model gives {width} outputs; --task regression expects 1")
            return [{"prediction": float(v)} for v in out[:, 0].tolist()]
        if width < 2:
            # softmax over one logit is always 1.0: a binary model run as multiclass
            raise UsageError(f"model gives {width} output; --task multiclass expects 2 or more")
        names = self.class_names or [str(i) for i in range(width)]
        if len(names) != width:
            raise UsageError(f"model gives {width} outputs but {len(names)} class names were given")
        probs = out if self.activated else torch.softmax(out, dim=1)
        rows = []
        for row in probs.tolist():
            record: dict[str, Any] = {
                f"score_{n}": float(p) for n, p in zip(names, row, strict=True)
            }
            record["prediction"] = names[int(np.argmax(row))]
            rows.append(record)
        return rows


def segmentation_metrics(
    pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]
) -> dict[str, Any]:
    """Dice and HD95 (mm) of two boolean masks with :data:`EMPTY_MASK_RULE` (MONAI metrics)."""
    from monai.metrics.hausdorff_distance import compute_hausdorff_distance
    from monai.metrics.meandice import compute_dice

    p_empty, t_empty = not pred.any(), not truth.any()
    if p_empty and t_empty:
        return {"dice": 1.0, "hd95": 0.0}
    if p_empty or t_empty:
        return {"dice": 0.0, "hd95": math.nan}
    y_pred = torch.from_numpy(pred[None, None].astype(np.float32))
    y = torch.from_numpy(truth[None, None].astype(np.float32))
    dice = float(compute_dice(y_pred, y, include_background=True, ignore_empty=False)[0, 0])
    with warnings.catch_warnings():
        # MONAI 1.5+ warns about its own internal use of a deprecated argument.
        warnings.simplefilter("ignore", FutureWarning)
        hd95 = compute_hausdorff_distance(
            y_pred, y, include_background=True, percentile=95, spacing=list(spacing)[: pred.ndim]
        )
    return {"dice": dice, "hd95": float(hd95[0, 0])}


def write_mask(path: Path, mask: np.ndarray, affine: np.ndarray) -> None:
    """Write a predicted mask as uint8 NIfTI with the grid's RAS affine (atomically)."""
    import nibabel as nib

    data = mask.astype(np.uint8)
    if data.ndim == 2:
        data = data[..., None]
    image: Any = nib.Nifti1Image(data, affine)  # type: ignore[no-untyped-call]
    image.header.set_xyzt_units("mm")
    atomic_write_bytes(path, image.to_bytes())  # .nii; gzip would embed a time stamp


def label_value(task: str, value: Any) -> Any:
    """A manifest label as written: 0/1 int (binary), class text (multiclass), float."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if task in {"multiclass", "segmentation"}:
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value) if task == "binary" else None
    if task == "binary" and number in (0.0, 1.0):
        return int(number)
    return number


def assemble_table(
    frame: Any,
    results: list[dict[str, Any]],
    *,
    task: str,
    image_column: str,
    label_column: str | None,
) -> Any:
    """One output row per manifest row: ids, status, label, task columns, attributes, rest."""
    import pandas as pd

    rows = []
    records = frame.to_dict(orient="records")
    clashes = sorted(
        str(c) for c in frame.columns if is_output_column(str(c)) and c != label_column
    )
    if clashes:
        logger.warning("manifest columns named like prediction columns are not copied: %s", clashes)
    extra_columns = [
        c
        for c in frame.columns
        if c not in {"case_id", "patient_id", image_column, label_column}
        and not is_output_column(str(c))
    ]
    for record, result in zip(records, results, strict=True):
        row: dict[str, Any] = {"case_id": record["case_id"]}
        if "patient_id" in frame.columns:
            row["patient_id"] = record["patient_id"]
        row["status"] = "failed" if "error" in result else "ok"
        row["error"] = result.get("error") or None
        row["error_code"] = result.get("error_code") or None
        if label_column is not None:
            # Segmentation: the truth mask's path as the manifest gives it.
            row["label"] = label_value(task, record.get(label_column))
        row.update(result.get("columns", {}))
        header = result.get("attributes") or empty_attributes()
        for name in ATTRIBUTE_COLUMNS:
            value = record.get(name)
            missing = (
                value is None or (isinstance(value, float) and math.isnan(value)) or value == ""
            )
            row[name] = header.get(name, "") if missing else value
        for name in extra_columns:
            if name not in row:
                row[name] = record[name]
        rows.append(row)
    table = pd.DataFrame(rows)
    for name in ATTRIBUTE_COLUMNS:
        # Empty attribute -> missing (evaluate's "missing" group), not the string "".
        table[name] = table[name].astype(object).where(table[name].astype(str) != "", None)
    if task == "binary" and "label" in table.columns:
        table["label"] = _numeric_or_object(table["label"])
    return table


#: Columns predict computes; a manifest column of the same name is never copied over them.
OUTPUT_COLUMNS = frozenset(
    {
        "status",
        "error",
        "error_code",
        "label",
        "score",
        "prediction",
        "mask_path",
        "seg_path",
        "dice",
        "hd95",
    }
)


def is_output_column(name: str) -> bool:
    """Whether ``name`` is a column predict computes (never copied from the manifest)."""
    return name in OUTPUT_COLUMNS or name.startswith("score_")


def _numeric_or_object(column: Any) -> Any:
    import pandas as pd

    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().sum() == column.notna().sum():
        return numeric.astype("Int64") if (numeric.dropna() % 1 == 0).all() else numeric
    # Mixed labels ("yes" beside 1) stay text: Parquet refuses a column of ints and strings.
    return column.map(lambda v: None if pd.isna(v) else str(v)).astype(object)


def write_table(table: Any, parquet_path: Path, csv_path: Path) -> None:
    """Write the table as Parquet and CSV, each atomically."""
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    atomic_write_bytes(parquet_path, buffer.getvalue())
    atomic_write_text(csv_path, table.to_csv(index=False, lineterminator="\n"))
