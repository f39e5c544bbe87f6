"""Output columns: scores per task, the empty-mask rule, output paths."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from auditkit.errors import UsageError
from auditkit.inference.outputs import Scorer, is_output_column, output_paths, segmentation_metrics


def test_binary_scores_from_one_or_two_logits() -> None:
    one = Scorer("binary", None).columns(torch.tensor([[0.0], [2.0]]))
    assert one[0]["score"] == pytest.approx(0.5)
    assert one[1]["score"] == pytest.approx(1 / (1 + math.exp(-2.0)))
    two = Scorer("binary", None).columns(torch.tensor([[0.0, 1.0]]))
    assert two[0]["score"] == pytest.approx(math.e / (1 + math.e))
    with pytest.raises(UsageError, match="expects 1 or 2"):
        Scorer("binary", None).columns(torch.zeros(1, 3))


def test_multiclass_names_and_argmax() -> None:
    rows = Scorer("multiclass", ["cat", "dog"]).columns(torch.tensor([[0.0, 1.0], [3.0, 1.0]]))
    assert [r["prediction"] for r in rows] == ["dog", "cat"]
    assert rows[0]["score_cat"] + rows[0]["score_dog"] == pytest.approx(1.0)
    default = Scorer("multiclass", None).columns(torch.zeros(1, 3))
    assert set(default[0]) == {"score_0", "score_1", "score_2", "prediction"}
    with pytest.raises(UsageError, match="class names"):
        Scorer("multiclass", ["a"]).columns(torch.zeros(1, 3))
    # QA: a one-output (binary) model run with --task multiclass scored every case 1.0.
    with pytest.raises(UsageError, match="expects 2 or more"):
        Scorer("multiclass", None).columns(torch.zeros(2, 1))


def test_empty_mask_rule() -> None:
    empty = np.zeros((5, 5, 5), dtype=bool)
    some = empty.copy()
    some[1:3, 1:3, 1:3] = True
    assert segmentation_metrics(empty, empty, (1, 1, 1)) == {"dice": 1.0, "hd95": 0.0}
    one_empty = segmentation_metrics(some, empty, (1, 1, 1))
    assert one_empty["dice"] == 0.0 and math.isnan(one_empty["hd95"])
    assert segmentation_metrics(some, some, (2, 2, 2)) == {"dice": 1.0, "hd95": 0.0}


def test_hd95_uses_spacing() -> None:
    a = np.zeros((10, 4, 4), dtype=bool)
    b = a.copy()
    a[2:4] = True
    b[5:7] = True  # 3 voxels apart along axis 0
    assert segmentation_metrics(a, b, (2.0, 1.0, 1.0))["hd95"] == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("out", "names"),
    [
        ("p", ("p.parquet", "p.csv", "p.provenance.json", "p_masks")),
        ("p.csv", ("p.parquet", "p.csv", "p.provenance.json", "p_masks")),
        ("p.parquet", ("p.parquet", "p.csv", "p.provenance.json", "p_masks")),
        ("run.v2", ("run.v2.parquet", "run.v2.csv", "run.v2.provenance.json", "run.v2_masks")),
    ],
)
def test_output_paths(out: str, names: tuple[str, ...]) -> None:
    assert tuple(p.name for p in output_paths(Path(out))) == names


def test_reserved_columns() -> None:
    assert is_output_column("score_3") and is_output_column("status")
    assert not is_output_column("sex")
