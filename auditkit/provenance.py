"""Provenance of a prediction run: what was run, on what, with which software, where.

Everything here is safe to publish: file hashes, package versions and the device name;
never a path component below the file name, never a value read from patient data.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of one file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_files(paths: Iterable[Path], *, root: Path | None = None) -> str:
    """One hex SHA-256 over several files: relative name and content of each, sorted.

    A model folder (a MONAI bundle) is identified by this digest, so renaming a
    file inside it or changing one byte changes the hash.
    """
    digest = hashlib.sha256()
    items = sorted(Path(p) for p in paths)
    for path in items:
        name = path.relative_to(root).as_posix() if root is not None else path.name
        digest.update(name.encode("utf-8") + b"\x00")
        digest.update(bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()


def package_versions(names: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, ``None`` when it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


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
) -> dict[str, Any]:
    """Assemble the provenance record written beside the predictions."""
    return {
        "schema_version": PROVENANCE_SCHEMA_VERSION,
        "tool": "auditkit predict",
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {"kind": model_kind, "sha256": model_sha256},
        "manifest": {"sha256": manifest_sha256},
        "device": device_description(device),
        "python": platform.python_version(),
        "packages": package_versions(),
        "settings": settings,
        "counts": counts,
    }


def write_provenance(path: Path, record: dict[str, Any]) -> None:
    """Write the provenance record as indented, key-sorted JSON (atomically)."""
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
