"""The predict stage: run an imaging model over a manifest into a predictions table.

The only auditkit stage that needs torch and MONAI. Everything is imported on first use, so
``import auditkit.inference`` itself stays cheap; the other stages never import this package.

* :func:`predict` -> :class:`PredictionRun`: the loop behind ``auditkit predict`` (``run``).
* :func:`load_model`, :func:`available_kinds`, :func:`detect_kind`: TorchScript, MONAI bundle,
  ONNX and factory loaders (``models``); :class:`ModelHints` is what a bundle declares.
* :func:`load_manifest` -> :class:`Manifest`: the input table, with the deidkit cohort
  manifest joined in (``manifest``).
* :func:`dicom_attributes`, :data:`ATTRIBUTE_COLUMNS`: subgroup attributes read from DICOM
  headers (``attributes``); :func:`output_paths`: the files a run writes (``outputs``).
* :func:`merge_predictions`: join the outputs of ``predict --shard i/n`` (``shards``; no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditkit._lazy import export_dir, load_export

if TYPE_CHECKING:
    from auditkit.inference.attributes import ATTRIBUTE_COLUMNS, dicom_attributes
    from auditkit.inference.manifest import Manifest, load_manifest
    from auditkit.inference.models import (
        LoadedModel,
        ModelHints,
        available_kinds,
        detect_kind,
        load_model,
    )
    from auditkit.inference.outputs import output_paths
    from auditkit.inference.run import PredictionRun, predict, select_device
    from auditkit.inference.shards import MergedPredictions, merge_predictions

_EXPORTS = {
    "ATTRIBUTE_COLUMNS": "auditkit.inference.attributes",
    "dicom_attributes": "auditkit.inference.attributes",
    "Manifest": "auditkit.inference.manifest",
    "load_manifest": "auditkit.inference.manifest",
    "LoadedModel": "auditkit.inference.models",
    "ModelHints": "auditkit.inference.models",
    "available_kinds": "auditkit.inference.models",
    "detect_kind": "auditkit.inference.models",
    "load_model": "auditkit.inference.models",
    "output_paths": "auditkit.inference.outputs",
    "PredictionRun": "auditkit.inference.run",
    "predict": "auditkit.inference.run",
    "select_device": "auditkit.inference.run",
    "MergedPredictions": "auditkit.inference.shards",
    "merge_predictions": "auditkit.inference.shards",
}

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "LoadedModel",
    "Manifest",
    "MergedPredictions",
    "ModelHints",
    "PredictionRun",
    "available_kinds",
    "detect_kind",
    "dicom_attributes",
    "load_manifest",
    "load_model",
    "merge_predictions",
    "output_paths",
    "predict",
    "select_device",
]


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)


def __dir__() -> list[str]:
    return export_dir(globals(), _EXPORTS)
