"""Fingerprints of inputs and software: file SHA-256 digests and installed package versions.

Shared by predict (model, manifest) and evaluate (the predictions table); standard library only.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Iterable
from pathlib import Path
from typing import Final

_CHUNK: Final = 1 << 20


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


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each package, ``None`` when it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions
