"""Provenance of a prediction run: what was run, on what, with which software, where.

Everything here is safe to publish: file hashes, package versions and the device name;
never a path component below the file name, never a value read from patient data. The
digests themselves come from :mod:`auditkit.fingerprint`.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditkit.fingerprint import package_versions
from deidkit.core.io import atomic_write_text

#: Packages whose versions decide what a prediction run computes.
DEFAULT_PACKAGES: tuple[str, ...] = (
    "deidkit",
    "torch",
    "monai",
    "numpy",
    "pydicom",
    "nibabel",
    "pandas",
    "pyarrow",
    "onnxruntime",
)

PROVENANCE_SCHEMA_VERSION = "1"


def device_description(device: Any) -> dict[str, Any]:
    """Name the device a run used (``torch.device``), with the GPU model when CUDA."""
    import torch

    info: dict[str, Any] = {"type": device.type, "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        info["name"] = torch.cuda.get_device_name(index)
        info["cuda"] = torch.version.cuda
    else:
        info["name"] = platform.processor() or platform.machine()
    return info


def build_provenance(
    *,
    model_sha256: str,
    model_kind: str,
    manifest_sha256: str,
    device: Any,
    settings: dict[str, Any],
    counts: dict[str, int],
    warnings: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Assemble the provenance record written beside the predictions.

    ``warnings`` (``{"code", "message", "count"}``, counts and column names only) are what
    the run told the user on stderr, kept with the table they are about.
    """
    return {
        "schema_version": PROVENANCE_SCHEMA_VERSION,
        "tool": "auditkit predict",
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {"kind": model_kind, "sha256": model_sha256},
        "manifest": {"sha256": manifest_sha256},
        "device": device_description(device),
        "python": platform.python_version(),
        "packages": package_versions(DEFAULT_PACKAGES),
        "settings": settings,
        "counts": counts,
        "warnings": [dict(w) for w in warnings],
    }


def write_provenance(path: Path, record: dict[str, Any]) -> None:
    """Write the provenance record as indented, key-sorted JSON (atomically)."""
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
