"""Benchmark ``deidkit deface`` against quickshear on the same ~1 mm heads (not a test).

Each case runs in a fresh child process, so wall time includes Python start-up, imports and
loading the template data, and peak memory (ru_maxrss) is the child's alone. ``cpu s`` is
the child's user+system CPU time: on a loaded machine it is the better estimate of the
uncontended wall time (the work is single-threaded). Inputs are the pydeface mean head
resampled (in world mm) onto a RAS grid and onto an oblique LIA grid.

Run:  .venv/bin/python bench/deface.py [--mm 1.0] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

CASES = (
    "deidkit-mask",
    "deidkit-reface",
    "deidkit-quickshear-auto",
    "deidkit-quickshear-given",
    "quickshear-given",
)


def make_inputs(folder: Path, mm: float) -> list[Path]:
    """Write the test heads (and their brain masks) into ``folder``."""
    from deidkit.deface.geometry import Grid, resample_to
    from deidkit.deface.templates import load_template

    tpl = load_template()
    centre = tpl.grid.affine @ np.array([*((np.array(tpl.grid.shape) - 1) / 2), 1.0])
    extent = np.array([176.0, 256.0, 256.0])
    paths = []
    for name, perm, signs, tilt in (
        ("ras", (0, 1, 2), (1, 1, 1), 0.0),
        ("lia_oblique15", (0, 2, 1), (-1, -1, 1), 15.0),
    ):
        affine = np.zeros((4, 4))
        affine[3, 3] = 1
        shape = []
        for col, (axis, sign) in enumerate(zip(perm, signs, strict=True)):
            affine[axis, col] = sign * mm
            shape.append(int(extent[axis] / mm))
        affine[:3, 3] = centre[:3] - affine[:3, :3] @ ((np.array(shape) - 1) / 2)
        t = np.deg2rad(tilt)
        rot = np.eye(4)
        rot[1:3, 1:3] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
        back, there = np.eye(4), np.eye(4)
        back[:3, 3], there[:3, 3] = centre[:3], -centre[:3]
        affine = back @ rot @ there @ affine
        grid = Grid((shape[0], shape[1], shape[2]), affine)
        head = resample_to(tpl.head, tpl.grid, grid)
        brain = resample_to(tpl.brain, tpl.brain_grid, grid, world_transform=tpl.head_to_brain)
        brain = brain > 0.5
        img = nib.Nifti1Image(np.round(head).astype(np.int16), affine)
        img.header.set_qform(affine, 1)
        img.header.set_sform(affine, 1)
        path = folder / f"{name}.nii.gz"
        nib.save(img, path)
        nib.save(nib.Nifti1Image(brain.astype(np.uint8), affine), folder / f"{name}_brain.nii.gz")
        paths.append(path)
    return paths


def run_case(case: str, path: Path, out: Path) -> float:
    """Run one case in this process; return the seconds spent defacing (after imports)."""
    brain = path.with_name(path.name.replace(".nii.gz", "_brain.nii.gz"))
    start = time.perf_counter()
    if case == "quickshear-given":
        import quickshear

        img, mask = nib.load(path), nib.load(brain)
        nib.save(quickshear.quickshear(img, mask, buff=10), out)
        return time.perf_counter() - start
    from deidkit.deface import DefaceOptions
    from deidkit.deface.batch import Task
    from deidkit.deface.pipeline import deface_nifti_group

    method = {"deidkit-mask": "mask", "deidkit-reface": "reface"}.get(case, "quickshear")
    options = DefaceOptions(
        method=method, brain_mask=brain if case == "deidkit-quickshear-given" else None
    )
    task = Task("nifti", (path,), path.parent, out.parent)
    results = deface_nifti_group(task, options)
    assert results[0].status == "defaced", results
    return time.perf_counter() - start


def count_brain_changes(path: Path, out: Path) -> int:
    """Voxels inside the true (template) brain mask that the defacer changed."""
    brain = path.with_name(path.name.replace(".nii.gz", "_brain.nii.gz"))
    before = np.asarray(nib.load(path).dataobj)
    after = np.asarray(nib.load(out).dataobj)
    truth = np.asarray(nib.load(brain).dataobj) > 0
    return int(np.count_nonzero((before != after) & truth))


def main() -> None:
    """Parse arguments; either run one case (child) or drive all cases (parent)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mm", type=float, default=1.0, help="voxel size of the heads")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        out = Path(tempfile.mkdtemp()) / Path(args.input).name
        seconds = run_case(args.case, Path(args.input), out)
        brain_changed = count_brain_changes(Path(args.input), out)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        print(
            json.dumps(
                {
                    "deface_s": seconds,
                    "cpu_s": cpu,
                    "peak_mb": usage.ru_maxrss / 1024,
                    "brain_changed": brain_changed,
                }
            )
        )
        return
    print(f"load average at start: {_load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp), args.mm)
        print(
            f"{'input':<16}{'case':<28}{'wall s':>8}{'deface s':>10}{'cpu s':>8}"
            f"{'peak MB':>9}{'brain chg':>10}"
        )
        for path in inputs:
            for case in CASES:
                start = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, __file__, "--case", case, "--input", str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                wall = time.perf_counter() - start
                stats = json.loads(proc.stdout.strip().splitlines()[-1])
                print(
                    f"{path.name.split('.')[0]:<16}{case:<28}{wall:>8.1f}"
                    f"{stats['deface_s']:>10.1f}{stats['cpu_s']:>8.1f}{stats['peak_mb']:>9.0f}"
                    f"{stats['brain_changed']:>10d}",
                    flush=True,
                )
    print(f"load average at end: {_load()}")


def _load() -> str:
    import os

    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


if __name__ == "__main__":
    main()
