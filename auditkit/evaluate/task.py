"""The kind of model output being evaluated: a light module (no pandas, no numpy).

It is the type of ``auditkit evaluate --task``, so the ``auditkit`` command line imports it
to build its options on the base install, where the evaluate stage's table readers (pandas)
are not installed.
"""

from __future__ import annotations

import enum


class Task(enum.StrEnum):
    """Kind of model output being evaluated."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    SEGMENTATION = "segmentation"
