"""The evaluate stage: subgroup metrics with bootstrap CIs and disparities -> RESULTS.json.

* :func:`load_predictions` / :func:`prepare_predictions` -> :class:`Predictions`: a predictions
  table (CSV/Parquet, or a DataFrame) validated for one :class:`Task` (``predictions``;
  ``Task`` itself lives in the light ``task`` module, the CLI's option type).
* :class:`AuditResult`: every group's metrics, CIs, disparities and warnings, computed once;
  ``to_dict()`` is the RESULTS.json document (``audit``). :func:`evaluate_file` does both from
  a file, the call behind ``auditkit evaluate``.

Imported on first use (pandas is loaded with the first name that needs it). Writing the
document and reading it back is :mod:`auditkit.results`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditkit._lazy import export_dir, load_export

if TYPE_CHECKING:
    from auditkit.evaluate.audit import AuditResult, Threshold, evaluate_file, parse_threshold_rule
    from auditkit.evaluate.predictions import (
        Predictions,
        load_predictions,
        prepare_predictions,
        read_table,
    )
    from auditkit.evaluate.task import Task

_EXPORTS = {
    "AuditResult": "auditkit.evaluate.audit",
    "Threshold": "auditkit.evaluate.audit",
    "evaluate_file": "auditkit.evaluate.audit",
    "parse_threshold_rule": "auditkit.evaluate.audit",
    "Predictions": "auditkit.evaluate.predictions",
    "Task": "auditkit.evaluate.task",
    "load_predictions": "auditkit.evaluate.predictions",
    "prepare_predictions": "auditkit.evaluate.predictions",
    "read_table": "auditkit.evaluate.predictions",
}

__all__ = [
    "AuditResult",
    "Predictions",
    "Task",
    "Threshold",
    "evaluate_file",
    "load_predictions",
    "parse_threshold_rule",
    "prepare_predictions",
    "read_table",
]


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return export_dir(globals(), _EXPORTS)
