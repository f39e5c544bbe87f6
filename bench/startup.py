"""Benchmark: start-up of the ``auditkit`` commands, against ``import torch`` as the floor.

Wall time of fresh processes, each command run ``--repeat`` times, interleaved (so a change of
machine load hits every command alike), median reported:

* ``python -c "import torch"``: the floor a predict run cannot go under;
* ``auditkit --help`` and ``auditkit gate --help``: commands that must load no torch;
* ``auditkit predict`` on one 32x32 NIfTI slice with a TorchScript DenseNet121 (2D, random
  weights; the default path: no bundle, no sliding window), so nearly all of it is start-up:
  interpreter, imports, model load, the first forward pass, writing the three outputs.

``--compare PATH`` times the same commands from another checkout of the project (for instance a
``git worktree`` of an older commit) with this virtualenv, in the same interleaved rounds, for a
before/after at equal load. Prints a table (seconds, ratio to the torch floor) and the load
average before and after; compare runs at similar load only.

    .venv/bin/python bench/startup.py
    mkdir /tmp/before && git archive 0a7c04e auditkit deidkit | tar -x -C /tmp/before
    .venv/bin/python bench/startup.py --compare /tmp/before
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from predict import make_data, make_model  # bench/predict.py: same data and model


def commands(model: Path, manifest: Path, out: Path) -> dict[str, list[str]]:
    """Name -> argv, each run through this interpreter (``python -m auditkit``)."""
    python = sys.executable
    predict = [
        *("predict", "--model", str(model), "--data", str(manifest), "--out", str(out)),
        *("--device", "cpu", "--spatial-dims", "2", "--no-progress", "--force"),
    ]
    return {
        "import torch": [python, "-c", "import torch"],
        "auditkit --help": [python, "-m", "auditkit", "--help"],
        "auditkit gate --help": [python, "-m", "auditkit", "gate", "--help"],
        "auditkit predict (1 image)": [python, "-m", "auditkit", *predict],
    }


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    # Run elsewhere than a checkout: `python -m` puts the working directory before PYTHONPATH.
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=cwd)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="Runs of each command.")
    parser.add_argument("--compare", type=Path, help="Another checkout to time the same way.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        model, manifest = make_model(root), make_data(root, 1, 32)
        here = Path(__file__).resolve().parents[1]
        trees = {"this": here} | ({"compare": args.compare.resolve()} if args.compare else {})
        runs = commands(model, manifest, root / "out")
        times: dict[tuple[str, str], list[float]] = {}
        load_before = os.getloadavg()
        for _ in range(args.repeat):
            for tree, path in trees.items():
                env = dict(os.environ, PYTHONPATH=str(path))
                for name, argv in runs.items():
                    if tree != "this" and name == "import torch":
                        continue
                    times.setdefault((tree, name), []).append(timed(argv, env, root))
        load_after = os.getloadavg()
        floor = statistics.median(times["this", "import torch"])
        print(f"{'command':<28} {'tree':<8} {'median s':>9} {'min s':>7} {'x torch':>8}")
        for (tree, name), values in times.items():
            median = statistics.median(values)
            print(f"{name:<28} {tree:<8} {median:>9.2f} {min(values):>7.2f} {median / floor:>8.2f}")
        print(f"load average before {load_before}, after {load_after}; cpus {os.cpu_count()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
