"""Per-group ROC curves and reliability bins for the report, from a binary predictions table.

RESULTS.json carries no per-case scores, so curves come from the predictions table the results
were computed from (:func:`curves_for_results`, CLI ``report --predictions``) or from optional
``roc`` / ``reliability`` fields of the group entries (:func:`curves_from_results`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from auditkit.results import ResultsMapping, group_entries

#: Equal-width reliability bins on [0, 1].
N_BINS: Final = 10


@dataclass(frozen=True)
class GroupCurves:
    """Per-group curve points: ROC (``fpr``, ``tpr``) and reliability bins."""

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    mean_score: tuple[float, ...]
    observed: tuple[float, ...]
    count: tuple[int, ...]


CurveMap = dict[str, dict[str, GroupCurves]]


def group_curves(labels: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]) -> GroupCurves | None:
    """ROC points and 10 equal-width reliability bins (``min(floor(10*s), 9)``) of one group.

    Returns ``None`` when the group lacks either class (no ROC curve exists).
    """
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if labels.size == 0 or labels.min() == labels.max():
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    bins = np.minimum(np.floor(scores * N_BINS), N_BINS - 1).astype(int)
    count = np.bincount(bins, minlength=N_BINS)
    used = count > 0
    mean_score = np.bincount(bins, weights=scores, minlength=N_BINS)[used] / count[used]
    observed = np.bincount(bins, weights=labels, minlength=N_BINS)[used] / count[used]
    return GroupCurves(
        fpr=tuple(float(v) for v in fpr),
        tpr=tuple(float(v) for v in tpr),
        mean_score=tuple(float(v) for v in mean_score),
        observed=tuple(float(v) for v in observed),
        count=tuple(int(v) for v in count[used]),
    )


def curves_from_predictions(
    path: str | Path,
    *,
    attributes: Sequence[str],
    label: str = "label",
    score: str = "score",
    missing_names: Mapping[str, str] | None = None,
) -> CurveMap:
    """Compute ROC and reliability points per group from a binary predictions table.

    Parameters
    ----------
    path
        The predictions CSV/Parquet (as read by ``auditkit evaluate``).
    attributes
        Single attributes to split by (columns of the table).
    label, score
        Label and score columns.
    missing_names
        Attribute -> the group name RESULTS.json uses for missing values (default "missing").
    """
    from auditkit.evaluate.predictions import load_predictions

    attrs = tuple(a for a in attributes if " | " not in a)
    table = load_predictions(path, task="binary", label=label, scores=(score,), groups=attrs)
    labels, scores = table.labels, table.scores[:, 0]
    out: CurveMap = {}
    for attribute in attrs:
        values = np.asarray(table.attributes[attribute], dtype=object)
        per_group: dict[str, GroupCurves] = {}
        for group in sorted({str(v) for v in values}):
            mask = values == group
            curves = group_curves(labels[mask], scores[mask])
            if curves is not None:
                name = group or (missing_names or {}).get(attribute, "missing")
                per_group[name] = curves
        out[attribute] = per_group
    return out


def curves_from_results(results: ResultsMapping) -> CurveMap:
    """Curves carried by the results themselves: optional ``roc`` / ``reliability`` fields."""
    out: CurveMap = {}
    for entry in group_entries(results):
        roc, rel = entry.get("roc"), entry.get("reliability")
        if not isinstance(roc, Mapping):
            continue
        rel = rel if isinstance(rel, Mapping) else {}
        out.setdefault(str(entry.get("attribute")), {})[str(entry.get("group"))] = GroupCurves(
            fpr=tuple(roc.get("fpr", ())),
            tpr=tuple(roc.get("tpr", ())),
            mean_score=tuple(rel.get("mean_score", ())),
            observed=tuple(rel.get("observed", ())),
            count=tuple(rel.get("count", ())),
        )
    return out


def curves_for_results(
    results: ResultsMapping,
    predictions: str | Path,
    *,
    label: str = "label",
    score: str | None = None,
) -> CurveMap:
    """Curves of the groups in ``results``, computed from the predictions table behind them.

    The attributes, the names of the missing-value groups and (unless ``score`` is given) the
    score column are taken from the results, so the curves line up with their groups.
    """
    columns = (results.get("provenance") or {}).get("score_columns") or ["score"]
    groups = results.get("groups", [])
    missing = {
        str(e.get("attribute")): str(e.get("group")) for e in groups if e.get("status") == "missing"
    }
    attributes = [str(a) for a in results.get("attributes") or []] or sorted(
        {str(e.get("attribute")) for e in groups}
    )
    return curves_from_predictions(
        predictions,
        attributes=attributes,
        label=label,
        score=score or str(columns[0]),
        missing_names=missing,
    )
