"""auditkit: subgroup performance and fairness audits of medical imaging models.

The pipeline is predict -> evaluate -> report / gate, one subpackage per stage, joined by the
RESULTS.json contract (:mod:`auditkit.results`):

* :mod:`auditkit.inference`: :func:`predict` runs a model over a manifest (torch, MONAI).
* :mod:`auditkit.evaluate`: :func:`load_predictions` and :class:`AuditResult` (metrics, CIs,
  disparities; ``to_dict()`` is RESULTS.json), :func:`evaluate_file` from a file; the numeric
  kernels live in :mod:`auditkit.metrics`.
* :mod:`auditkit.report`: :func:`build_report` / :func:`report_from_files` -> HTML.
* :mod:`auditkit.gate`: :func:`load_policy`, :func:`run_gate` / :func:`gate_from_files` ->
  :class:`GateResult`.

Every name below is imported on first use, so ``import auditkit`` loads none of torch,
pandas or matplotlib. The ``auditkit`` command is a thin Typer layer over these calls
(:mod:`auditkit.cli`); errors are :mod:`auditkit.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditkit._lazy import export_dir, load_export

__version__ = "0.1.0"

if TYPE_CHECKING:
    from auditkit.errors import AuditkitError
    from auditkit.evaluate import (
        AuditResult,
        Predictions,
        Task,
        evaluate_file,
        load_predictions,
        prepare_predictions,
    )
    from auditkit.gate import (
        GateResult,
        Policy,
        Verdict,
        gate_from_files,
        load_policy,
        run_gate,
    )
    from auditkit.inference import PredictionRun, predict
    from auditkit.report import build_report, report_from_files, write_report
    from auditkit.results import ResultsDocument, dumps_results, load_results, validate_results

_EXPORTS = {
    "AuditkitError": "auditkit.errors",
    "AuditResult": "auditkit.evaluate",
    "Predictions": "auditkit.evaluate",
    "Task": "auditkit.evaluate",
    "evaluate_file": "auditkit.evaluate",
    "load_predictions": "auditkit.evaluate",
    "prepare_predictions": "auditkit.evaluate",
    "GateResult": "auditkit.gate",
    "Policy": "auditkit.gate",
    "Verdict": "auditkit.gate",
    "gate_from_files": "auditkit.gate",
    "load_policy": "auditkit.gate",
    "run_gate": "auditkit.gate",
    "PredictionRun": "auditkit.inference",
    "predict": "auditkit.inference",
    "build_report": "auditkit.report",
    "report_from_files": "auditkit.report",
    "write_report": "auditkit.report",
    "ResultsDocument": "auditkit.results",
    "dumps_results": "auditkit.results",
    "load_results": "auditkit.results",
    "validate_results": "auditkit.results",
}

__all__ = [
    "AuditResult",
    "AuditkitError",
    "GateResult",
    "Policy",
    "PredictionRun",
    "Predictions",
    "ResultsDocument",
    "Task",
    "Verdict",
    "__version__",
    "build_report",
    "dumps_results",
    "evaluate_file",
    "gate_from_files",
    "load_policy",
    "load_predictions",
    "load_results",
    "predict",
    "prepare_predictions",
    "report_from_files",
    "run_gate",
    "validate_results",
    "write_report",
]


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return export_dir(globals(), _EXPORTS)
