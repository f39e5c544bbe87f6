"""fsspec memory file system helpers for the URL tests (scrub, verify, deface, locations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def upload(local: Path, fs: Any, root: str) -> None:
    """Copy a local tree under ``root`` of ``fs``, file by file."""
    for path in sorted(local.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{root}/{path.relative_to(local).as_posix()}", path.read_bytes())


def memory_tree(fs: Any, root: str, *, exclude: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Relative name -> bytes of each file under ``root``, names ending in ``exclude`` left out."""
    return {
        path[len(root) + 1 :]: fs.cat_file(path)
        for path in fs.find(root)
        if not (exclude and path.endswith(exclude))
    }
