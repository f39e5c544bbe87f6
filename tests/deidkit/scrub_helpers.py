"""Helpers for deidkit's scrub tests: read a tree, look for canaries."""

from __future__ import annotations

import os
from pathlib import Path


def read_tree(root: Path) -> dict[str, bytes]:
    """Relative POSIX path -> bytes for every file under ``root``."""
    out: dict[str, bytes] = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            out[path.relative_to(root).as_posix()] = path.read_bytes()
    return out


def find_canaries(tree: dict[str, bytes], canaries: tuple[str, ...]) -> list[str]:
    """Canaries found in any path or any file's bytes (ASCII and UTF-16 encodings)."""
    found = []
    blob_paths = "\n".join(tree).encode()
    for canary in canaries:
        needles = (canary.encode("ascii"), canary.encode("utf-16-le"))
        if any(n in blob_paths for n in needles) or any(
            n in data for data in tree.values() for n in needles
        ):
            found.append(canary)
    return found
