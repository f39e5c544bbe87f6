"""The numeric core of evaluate: metric kernels, bootstrap, per-replicate statistics, disparities.

numpy only (scipy and fairlearn are imported inside the functions that use them).

* ``kernels``: every binary metric of every group from weighted segment sums
  (:data:`BINARY_METRICS`, :func:`binary_metrics`, :func:`wilson_interval`, thresholds).
* ``bootstrap``: seeded resampling counts (rows or patients), percentile intervals, Holm.
* ``replicates``: per task, one function mapping a weight matrix to every group's metrics.
* ``omnibus``: tests of "all groups equal" whose statistic is the reported gap (permutation of
  group labels, bootstrap range), selection-aware intervals of the gap, Benjamini-Hochberg.
* ``disparities``: gaps across groups with those tests and intervals, Holm flags, the
  group-vs-reference view and fairlearn's values.
"""

from auditkit.metrics.bootstrap import (
    bca_interval,
    holm_adjust,
    percentile_interval,
    run_bootstrap,
    two_sided_p_value,
)
from auditkit.metrics.disparities import (
    BINARY_SPECS,
    MULTICLASS_SPECS,
    REGRESSION_SPECS,
    SEGMENTATION_SPECS,
    DisparitySpec,
    attribute_disparities,
    fairlearn_disparities,
    holm_flags,
    reference_comparisons,
)
from auditkit.metrics.kernels import (
    BINARY_METRICS,
    PROPORTIONS,
    binary_metrics,
    threshold_for_specificity,
    threshold_youden,
    wilson_interval,
)
from auditkit.metrics.omnibus import benjamini_hochberg, permutation_p_value
from auditkit.metrics.replicates import (
    Statistic,
    binary_statistic,
    mean_statistic,
    multiclass_statistic,
)

__all__ = [
    "BINARY_METRICS",
    "BINARY_SPECS",
    "MULTICLASS_SPECS",
    "PROPORTIONS",
    "REGRESSION_SPECS",
    "SEGMENTATION_SPECS",
    "DisparitySpec",
    "Statistic",
    "attribute_disparities",
    "bca_interval",
    "benjamini_hochberg",
    "binary_metrics",
    "binary_statistic",
    "fairlearn_disparities",
    "holm_adjust",
    "holm_flags",
    "mean_statistic",
    "multiclass_statistic",
    "percentile_interval",
    "permutation_p_value",
    "reference_comparisons",
    "run_bootstrap",
    "threshold_for_specificity",
    "threshold_youden",
    "two_sided_p_value",
    "wilson_interval",
]
