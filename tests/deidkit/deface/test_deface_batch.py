"""The deface batch: worker processes change nothing, and imports go one way."""

from __future__ import annotations

import ast
from pathlib import Path

import nibabel as nib
import numpy as np
from deface_heads import head_grid, make_head, nifti

import deidkit.deface
from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.templates import HeadTemplate

_PACKAGE = Path(deidkit.deface.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
    return found


def test_imports_go_one_way() -> None:
    # batch -> pipeline -> tasks: the per-group work never imports the batch that runs it
    # (not even inside a function), and the shared types import neither.
    assert "deidkit.deface.batch" not in _imports(_PACKAGE / "pipeline.py")
    assert not {"deidkit.deface.batch", "deidkit.deface.pipeline"} & _imports(_PACKAGE / "tasks.py")
    from deidkit.deface import batch, tasks

    assert batch.DefaceOptions is tasks.DefaceOptions  # still importable where it was
    assert batch.FileResult is tasks.FileResult and batch.Task is tasks.Task


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_worker_processes_write_the_same_bytes(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, _truth = make_head(template, grid)
    src = tmp_path / "in"
    src.mkdir()
    nib.save(nifti(head, grid), src / "a.nii.gz")
    nib.save(nifti(np.clip(head * 0.8, 0, None), grid), src / "b.nii.gz")
    (src / "notes.txt").write_text("kept as is\n")

    serial = run_batch(src, tmp_path / "one", DefaceOptions(), workers=1)
    parallel = run_batch(src, tmp_path / "two", DefaceOptions(), workers=2)
    assert [r.status for r in serial.results] == ["defaced", "defaced"]
    assert serial.left_behind == {"text": 1}  # notes.txt: not produced, so not written
    assert parallel.results == serial.results
    assert _outputs(tmp_path / "two") == _outputs(tmp_path / "one")
