"""Benchmark ``deidkit deface`` on fsspec URLs against local folders (a script, not a test).

Defaces a small tree (``--heads`` synthetic NIfTI heads with sidecars and one DICOM series, at
the tests' 6 mm voxels) in one process from and to: local folders; ``memory://`` (the cost of
the skeleton plan, the per-group copy and the puts, without a network); ``local://`` (fsspec's
local file system: each output put under a temp name and moved). Interleaved and repeated
after a warm-up; prints the median seconds per run and per image group, the load average
before and after, and checks that every run wrote the same bytes.

    .venv/bin/python bench/deface_urls.py               # 4 heads + 1 series, 3 repeats
    .venv/bin/python bench/deface_urls.py --heads 2 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import fsspec
import nibabel as nib
import numpy as np

TESTS = Path(__file__).resolve().parent.parent / "tests" / "deidkit" / "deface"
sys.path.insert(0, str(TESTS))

from deface_heads import head_grid, make_head, nifti  # noqa: E402  (the tests' heads)
from test_deface_dicom import write_series  # noqa: E402

from deidkit.deface import DefaceOptions, run_batch, run_url_batch  # noqa: E402
from deidkit.deface.templates import load_template  # noqa: E402


def make_tree(root: Path, heads: int) -> int:
    """``heads`` NIfTI heads (each with a sidecar) and one DICOM series; returns the groups."""
    template = load_template()
    grid = head_grid(template, zooms=(6.0, 6.0, 6.0))
    head, _truth = make_head(template, grid)
    for n in range(heads):
        folder = root / f"sub-{n:02d}"
        folder.mkdir(parents=True)
        nib.save(nifti(np.clip(head * (1 - 0.05 * n), 0, None), grid), folder / "x_T1w.nii.gz")
        (folder / "x_T1w.json").write_text(json.dumps({"RepetitionTime": 2.0}))
    write_series(root / "series1", head, grid)
    return heads + 1


def tree_of_folder(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="deface-urls-bench-"))
    src = work / "in"
    groups = make_tree(src, args.heads)
    fs = fsspec.filesystem("memory")
    mem = f"/bench{uuid.uuid4().hex}"
    for path in sorted(src.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{mem}/in/{path.relative_to(src).as_posix()}", path.read_bytes())
    options = DefaceOptions()
    reference = work / "warm"
    run_batch(src, reference, options)
    expected = tree_of_folder(reference)

    def local(n: int) -> dict[str, bytes]:
        run_batch(src, work / f"local{n}", options)
        return tree_of_folder(work / f"local{n}")

    def memory(n: int) -> dict[str, bytes]:
        out = f"{mem}/out{n}"
        run_url_batch(f"memory://{mem}/in", f"memory://{out}", options)
        return {p[len(out) + 1 :]: fs.cat_file(p) for p in fs.find(out)}

    def local_url(n: int) -> dict[str, bytes]:
        run_url_batch(f"local://{src}", f"local://{work / f'lurl{n}'}", options)
        return tree_of_folder(work / f"lurl{n}")

    kinds: dict[str, Callable[[int], dict[str, bytes]]] = {
        "folder -> folder": local,
        "memory:// -> memory://": memory,
        "local:// -> local://": local_url,
    }
    times: dict[str, list[float]] = {name: [] for name in kinds}
    print(f"load average before: {os.getloadavg()[0]:.2f}; {groups} image groups")
    for n in range(args.repeats):
        for name, run in kinds.items():
            start = time.perf_counter()
            written = run(n)
            times[name].append(time.perf_counter() - start)
            assert written == expected, f"{name}: not the local run's bytes"
    base = statistics.median(times["folder -> folder"])
    for name, spent in times.items():
        median = statistics.median(spent)
        print(f"{name:24} {median:6.2f} s/run  {median / groups:5.2f} s/group  "
              f"{(median - base) / groups * 1000:+7.0f} ms/group vs folders")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}; every run wrote the same bytes")
    fs.rm(mem, recursive=True)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
