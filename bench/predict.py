"""Benchmark: ``auditkit predict`` against a hand-written torch loop on the same data.

Writes ``--images`` synthetic 2D NIfTI slices (``--size`` pixels square, seeded) and a MONAI
DenseNet121 (2D, random weights, TorchScript), then times, for each image count:

* ``hand``: a plain loop: nibabel load, tensor, batch of ``--batch-size``, forward, sigmoid;
* ``in-process``: :func:`auditkit.inference.predict` (imports already paid), the same batch
  size, its whole job: reading, geometry, attributes, scoring, the Parquet/CSV/provenance;
* ``cli``: ``auditkit predict`` in a fresh process (wall time), and its fixed start-up: the
  CLI's wall time minus the in-process time on the same data (interpreter, imports, model load).

Prints one JSON document (images/s of each, the in-process overhead over the hand loop, the
start-up seconds, the load average before and after, torch threads). On a shared machine,
compare runs at similar load only.

    .venv/bin/python bench/predict.py                          # 64 and 1,024 images
    .venv/bin/python bench/predict.py --images 64 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def make_data(root: Path, count: int, size: int, seed: int = 0) -> Path:
    """``count`` NIfTI slices and their manifest; returns the manifest path."""
    import nibabel as nib
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    folder = root / f"images-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        data = rng.normal(100.0, 30.0, size=(size, size, 1)).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.eye(4)), str(folder / f"img{i:05d}.nii"))
        names.append(f"img{i:05d}.nii")
    manifest = folder / "manifest.csv"
    pd.DataFrame({"image": names, "label": rng.integers(0, 2, count)}).to_csv(manifest, index=False)
    return manifest


def make_model(root: Path) -> Path:
    import torch
    from monai.networks.nets import DenseNet121

    torch.manual_seed(0)
    net = DenseNet121(spatial_dims=2, in_channels=1, out_channels=1).eval()
    path = root / "densenet121-2d.ts"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(net), str(path))
    return path


def hand_loop(model: Path, manifest: Path, batch_size: int) -> float:
    """Seconds for the plain loop over the manifest's images."""
    import nibabel as nib
    import numpy as np
    import pandas as pd
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        net = torch.jit.load(str(model), map_location="cpu").eval()
    start = time.perf_counter()
    paths = [manifest.parent / p for p in pd.read_csv(manifest)["image"]]
    scores: list[float] = []
    with torch.inference_mode():
        for first in range(0, len(paths), batch_size):
            images = [
                torch.from_numpy(
                    np.asarray(nib.load(str(p)).get_fdata(dtype=np.float32))[..., 0][None]
                )
                for p in paths[first : first + batch_size]
            ]
            scores += torch.sigmoid(net(torch.stack(images))[:, 0]).tolist()
    return time.perf_counter() - start


def in_process(model: Path, manifest: Path, out: Path, batch_size: int) -> float:
    from auditkit.inference import predict

    start = time.perf_counter()
    run = predict(
        model=model,
        manifest=manifest,
        out=out,
        device="cpu",
        batch_size=batch_size,
        spatial_dims=2,
        progress=False,
        overwrite=True,
    )
    assert run.n_failed == 0, run.frame["error"].dropna().head()
    return time.perf_counter() - start


def cli(model: Path, manifest: Path, out: Path, batch_size: int) -> float:
    command = [
        str(Path(sys.executable).with_name("auditkit")),
        "predict",
        "--model",
        str(model),
        "--data",
        str(manifest),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--batch-size",
        str(batch_size),
        "--spatial-dims",
        "2",
        "--no-progress",
        "--force",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def best(function: Any, repeat: int, *args: Any) -> float:
    return min(function(*args) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--size", type=int, default=32, help="Slice size in pixels.")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="Best of this many runs.")
    parser.add_argument("--no-cli", action="store_true", help="Skip the CLI timings.")
    args = parser.parse_args()
    import torch

    root = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    try:
        model = make_model(root)
        report: dict[str, Any] = {
            "load_average_before": os.getloadavg(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "batch_size": args.batch_size,
            "image": f"{args.size}x{args.size} NIfTI slice, DenseNet121 2D (TorchScript)",
            "runs": [],
        }
        in_process(model, make_data(root, 4, args.size), root / "warm", args.batch_size)
        for count in args.images:
            manifest = make_data(root, count, args.size)
            hand = best(hand_loop, args.repeat, model, manifest, args.batch_size)
            ours = best(in_process, args.repeat, model, manifest, root / "p", args.batch_size)
            row: dict[str, Any] = {
                "images": count,
                "hand_images_per_s": round(count / hand, 2),
                "in_process_images_per_s": round(count / ours, 2),
                "in_process_overhead_pct": round(100.0 * (ours - hand) / hand, 1),
            }
            if not args.no_cli:
                wall = best(cli, args.repeat, model, manifest, root / "c", args.batch_size)
                row["cli_images_per_s"] = round(count / wall, 2)
                row["cli_startup_s"] = round(wall - ours, 2)
            report["runs"].append(row)
            print(json.dumps(row), file=sys.stderr)
        report["load_average_after"] = os.getloadavg()
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
