"""The report stage: RESULTS.json -> one self-contained HTML audit report.

* :func:`build_report` renders a RESULTS.json mapping (with an optional policy verdict,
  baseline and curves) to HTML; :func:`write_report` writes it atomically;
  :func:`report_from_files` loads every input first, the call behind ``auditkit report``
  (``html``).
* :func:`curves_for_results`, :func:`curves_from_predictions`, :func:`group_curves` ->
  :class:`GroupCurves`: ROC and reliability points by group from the predictions (``curves``).
* ``plots``: the matplotlib SVG figures (forest plots, ROC, reliability, heatmaps).

Imported on first use: jinja2, matplotlib and scikit-learn load with the names that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditkit._lazy import export_dir, load_export

if TYPE_CHECKING:
    from auditkit.report.curves import (
        CurveMap,
        GroupCurves,
        curves_for_results,
        curves_from_predictions,
        group_curves,
    )
    from auditkit.report.html import (
        build_report,
        report_from_files,
        suppress_small_counts,
        write_report,
    )

_EXPORTS = {
    "CurveMap": "auditkit.report.curves",
    "GroupCurves": "auditkit.report.curves",
    "curves_for_results": "auditkit.report.curves",
    "curves_from_predictions": "auditkit.report.curves",
    "group_curves": "auditkit.report.curves",
    "build_report": "auditkit.report.html",
    "report_from_files": "auditkit.report.html",
    "suppress_small_counts": "auditkit.report.html",
    "write_report": "auditkit.report.html",
}

__all__ = [
    "CurveMap",
    "GroupCurves",
    "build_report",
    "curves_for_results",
    "curves_from_predictions",
    "group_curves",
    "report_from_files",
    "suppress_small_counts",
    "write_report",
]


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return export_dir(globals(), _EXPORTS)
