"""deface on a two-worker Dask LocalCluster: the same results and bytes as one process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from deface_heads import head_grid, make_head, nifti

from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.templates import HeadTemplate

pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")

from deidkit.core.dask_executor import DaskCluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    with DaskCluster.connect(workers=2, processes=False, dashboard_address=":0") as started:
        yield started


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_dask_workers_write_the_same_bytes(
    template: HeadTemplate, tmp_path: Path, cluster: DaskCluster
) -> None:
    grid = head_grid(template, zooms=(6.0, 6.0, 6.0))
    head, _truth = make_head(template, grid)
    src = tmp_path / "in"
    src.mkdir()
    for name, scale in (("a", 1.0), ("b", 0.8)):
        nib.save(nifti(np.clip(head * scale, 0, None), grid), src / f"{name}.nii.gz")
    (src / "notes.txt").write_text("kept as is\n")

    serial = run_batch(src, tmp_path / "one", DefaceOptions(), workers=1)
    ticks: list[str] = []
    spread = run_batch(src, tmp_path / "two", DefaceOptions(), cluster=cluster,
                       progress=lambda r: ticks.append(r.status))  # fmt: skip
    assert [r.status for r in serial.results] == ["defaced"] * 2
    assert spread.results == serial.results
    assert spread.left_behind == serial.left_behind
    assert sorted(ticks) == ["defaced"] * 2  # the progress callback is fed from the cluster
    assert _outputs(tmp_path / "two") == _outputs(tmp_path / "one")
