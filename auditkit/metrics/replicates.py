"""Per-replicate statistics of each task: weights ``(b, n)`` -> every group's metrics.

Each builder does the one-off work (sorting rows into layouts) and returns a function
``statistic(weights, counts=False)`` mapping a ``(b, n)`` integer weight matrix to arrays of
shape ``(b, n_groups)`` keyed ``"<grouping index>/<metric>"`` (per-class metrics of a
multiclass task: ``"<grouping>/<class>::<metric>"``; with ``counts=True`` also the counts behind
the proportions, keyed ``"<grouping>/#<count>"``, for Wilson intervals). The same function
serves the point estimate (one row of ones) and the bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from auditkit.metrics.kernels import (
    N_ECE_BINS,
    binary_layout,
    binary_metrics,
    binary_sums,
    ece_bin,
    mean_sums,
    proportion_counts,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Per-class metrics averaged (unweighted, over classes with a defined value) into macro_*.
MACRO_METRICS = ("auroc", "tpr", "fpr", "tnr", "ppv", "npv", "brier", "ece")


class Statistic(Protocol):
    """``statistic(weights, counts=False) -> {key: (b, n_groups) array}``."""

    def __call__(
        self, weights: npt.NDArray[np.integer], counts: bool = False
    ) -> dict[str, FloatArray]: ...


Grouping = tuple[IntArray, int]  # (group code per row, number of groups)


@dataclass(frozen=True)
class CellSums:
    """Float sums (ECE bins, Brier) of every grouping from one sparse product per chunk.

    Rows are partitioned into *cells*, the finest partition refining every grouping (each
    distinct combination of group codes). One product of the weights with a sparse
    ``(21 * n_cells, n)`` matrix gives per (cell, ECE bin) the sums of scores and labels and per
    cell the sum of squared errors; each grouping then adds up its cells. This replaces one
    sparse product per grouping, the costliest step of the binary kernel.
    """

    matrix: Any
    n_cells: int
    cell_order: list[IntArray]
    cell_starts: list[IntArray]

    def sums(self, weights: npt.NDArray[np.integer]) -> list[tuple[FloatArray, FloatArray]]:
        """``(brier_sum, ece_sum)`` arrays ``(b, n_groups)`` for each grouping, in order."""
        c = self.n_cells
        products = np.asarray((self.matrix @ weights.T).T)
        b = products.shape[0]
        scores = products[:, : c * N_ECE_BINS].reshape(b, c, N_ECE_BINS)
        labels = products[:, c * N_ECE_BINS : 2 * c * N_ECE_BINS].reshape(b, c, N_ECE_BINS)
        squares = products[:, 2 * c * N_ECE_BINS :]
        out = []
        for order, starts in zip(self.cell_order, self.cell_starts, strict=True):
            s_sum = np.add.reduceat(scores[:, order], starts, axis=1)
            y_sum = np.add.reduceat(labels[:, order], starts, axis=1)
            brier = np.add.reduceat(squares[:, order], starts, axis=1)
            out.append((brier, np.abs(s_sum - y_sum).sum(axis=2)))
        return out


def cell_sums(
    groupings: Sequence[Grouping], *, y: npt.NDArray[np.int64], score: FloatArray
) -> CellSums | None:
    """Build :class:`CellSums`, or ``None`` when the cells are too many to pay off."""
    from scipy import sparse

    n = len(score)
    if len(groupings) < 2 or n == 0:
        return None
    stacked = np.stack([codes for codes, _ in groupings], axis=1)
    cells, cell_of_row = np.unique(stacked, axis=0, return_inverse=True)
    c = len(cells)
    if c * (2 * N_ECE_BINS + 1) > n:
        return None
    cell_of_row = cell_of_row.reshape(-1)
    column = cell_of_row * N_ECE_BINS + ece_bin(score)
    rows = np.arange(n)
    matrix = sparse.csr_matrix(
        (
            np.concatenate([score, y.astype(np.float64), (score - y) ** 2]),
            (
                np.concatenate([column, c * N_ECE_BINS + column, 2 * c * N_ECE_BINS + cell_of_row]),
                np.concatenate([rows, rows, rows]),
            ),
        ),
        shape=((2 * N_ECE_BINS + 1) * c, n),
    )
    orders, starts = [], []
    for j, (_, n_groups) in enumerate(groupings):
        group_of_cell = cells[:, j]
        order = np.argsort(group_of_cell, kind="stable")
        orders.append(order.astype(np.int64))
        starts.append(np.searchsorted(group_of_cell[order], np.arange(n_groups)).astype(np.int64))
    return CellSums(matrix=matrix, n_cells=c, cell_order=orders, cell_starts=starts)


def binary_statistic(
    groupings: Sequence[Grouping],
    *,
    y: npt.NDArray[np.int64],
    score: FloatArray,
    threshold: float,
    spec_threshold: float | None,
    share_float_sums: bool = True,
) -> Statistic:
    """Binary metrics of every group at one global threshold (``score >= threshold``).

    ``spec_threshold`` is the threshold of the fixed overall specificity; ``None`` (no negatives
    overall) makes ``tpr_at_fixed_specificity`` undefined (NaN) everywhere. With
    ``share_float_sums`` the ECE and Brier sums of all groupings come from one
    :class:`CellSums` product when that is cheaper (same values up to float rounding).
    """
    cells = cell_sums(groupings, y=y, score=score) if share_float_sums else None
    spec = np.inf if spec_threshold is None else spec_threshold
    layouts = [
        binary_layout(
            codes=codes,
            n_groups=n_groups,
            y=y,
            score=score,
            pred=score >= threshold,
            pred_spec=score >= spec,
        )
        for codes, n_groups in groupings
    ]

    def statistic(weights: npt.NDArray[np.integer], counts: bool = False) -> dict[str, FloatArray]:
        out: dict[str, FloatArray] = {}
        shared = cells.sums(weights) if cells is not None else [None] * len(layouts)
        for i, layout in enumerate(layouts):
            sums = binary_sums(layout, weights, float_sums=shared[i])
            for name, value in binary_metrics(sums).items():
                out[f"{i}/{name}"] = value
            if spec_threshold is None:
                out[f"{i}/tpr_at_fixed_specificity"] = np.full_like(sums["n"], np.nan)
            if counts:
                for name, value in proportion_counts(sums).items():
                    out[f"{i}/#{name}"] = value
        return out

    return statistic


def _nanmean_rows(stack: FloatArray) -> FloatArray:
    defined = ~np.isnan(stack)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(defined, stack, 0.0).sum(0) / defined.sum(0)
    result: FloatArray = np.where(defined.any(0), mean, np.nan)
    return result


def multiclass_statistic(
    groupings: Sequence[Grouping],
    *,
    y: npt.NDArray[np.int64],
    scores: FloatArray,
    classes: Sequence[str],
) -> Statistic:
    """One-vs-rest metrics per class (rates from the argmax prediction) and their macro means.

    ``accuracy`` is the argmax accuracy; ``balanced_accuracy`` equals ``macro_tpr``.
    """
    argmax = np.argmax(scores, axis=1)
    layouts = [
        [
            binary_layout(
                codes=codes,
                n_groups=n_groups,
                y=(y == c).astype(np.int64),
                score=scores[:, c],
                pred=argmax == c,
                pred_spec=argmax == c,
            )
            for c in range(len(classes))
        ]
        for codes, n_groups in groupings
    ]

    def statistic(weights: npt.NDArray[np.integer], counts: bool = False) -> dict[str, FloatArray]:
        out: dict[str, FloatArray] = {}
        for i, per_class in enumerate(layouts):
            collected: dict[str, list[FloatArray]] = {m: [] for m in MACRO_METRICS}
            correct = np.zeros((weights.shape[0], per_class[0].n_groups))
            n = correct
            for name, layout in zip(classes, per_class, strict=True):
                sums = binary_sums(layout, weights)
                metrics = binary_metrics(sums)
                for m in MACRO_METRICS:
                    collected[m].append(metrics[m])
                    out[f"{i}/{name}::{m}"] = metrics[m]
                for m in ("n_pos", "prevalence"):
                    out[f"{i}/{name}::{m}"] = metrics[m]
                correct = correct + sums["tp"]
                n = sums["n"]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{i}/accuracy"] = np.where(n > 0, correct / np.maximum(n, 1), np.nan)
            for m in MACRO_METRICS:
                out[f"{i}/macro_{m}"] = _nanmean_rows(np.stack(collected[m]))
            out[f"{i}/balanced_accuracy"] = out[f"{i}/macro_tpr"]
        return out

    return statistic


def mean_statistic(groupings: Sequence[Grouping], *, columns: dict[str, FloatArray]) -> Statistic:
    """Per-group weighted means of per-row values (NaN left out); ``mse`` is reported as rmse."""

    def statistic(weights: npt.NDArray[np.integer], counts: bool = False) -> dict[str, FloatArray]:
        out: dict[str, FloatArray] = {}
        for i, (codes, n_groups) in enumerate(groupings):
            for name, values in columns.items():
                count, total = mean_sums(
                    codes=codes, n_groups=n_groups, values=values, weights=weights
                )
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = np.where(count > 0, total / np.maximum(count, 1e-300), np.nan)
                if name == "mse":
                    out[f"{i}/rmse"] = np.sqrt(mean)
                    continue
                out[f"{i}/{name}"] = mean
                if counts:
                    out[f"{i}/#n_{name}"] = count
        return out

    return statistic
