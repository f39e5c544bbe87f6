"""Benchmark ``deidkit scrub`` on Dask against the local pool (a script, not a test).

Scrubs one synthetic export (bench/scrub.py's corpus builder) with the local process pool
(1 and 2 workers) and on a Dask ``LocalCluster`` (1 and 2 worker processes, started once
per size, not timed), interleaved and repeated, in fresh output folders; prints files/s,
the Dask overhead against the local pool at the same worker count and the scheduler cost
per file. Then the client's memory while it walks, batches and streams 1,000 / 5,000 /
20,000 tiny inputs to a scheduler and workers in *other* processes (``dask scheduler`` and
``dask worker``, as on a cluster): RSS growth of this process, sampled every 5 ms.

    .venv/bin/python bench/dask_scale.py                      # ~2,000 files, 3 repeats
    .venv/bin/python bench/dask_scale.py --files 500 --repeats 1 --memory 1000,5000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

from scrub import make_corpus  # noqa: E402  (bench/scrub.py: the same corpus)

from deidkit.core.dask_executor import DaskCluster  # noqa: E402
from deidkit.core.keys import ProjectKey  # noqa: E402
from deidkit.rules.profile import load_profile  # noqa: E402
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, _series_batches, scrub_tree  # noqa: E402

BIN = Path(sys.executable).parent


def _scrub(src: Path, out: Path, *, workers: int, cluster: DaskCluster | None) -> float:
    settings = ScrubSettings(profile=load_profile("basic"), key=ProjectKey(bytes(32), "bench"),
                             allow_burned_in=True)  # fmt: skip
    options = RunOptions(workers=workers, cluster=cluster)
    started = time.perf_counter()
    summary = scrub_tree(src, out, settings=settings, options=options)
    seconds = time.perf_counter() - started
    assert summary.counts["held_back"] == 0 and summary.counts["released"] > 0
    return seconds


def _throughput(src: Path, files: int, repeats: int, work: Path) -> dict[str, float]:
    """Median files/s for local and Dask at 1 and 2 workers (clusters started untimed)."""
    clusters = {n: DaskCluster.connect(workers=n, dashboard_address=":0") for n in (1, 2)}
    try:
        for n, cluster in clusters.items():
            assert cluster.workers == n
        runs: dict[str, list[float]] = {}
        for repeat in range(-1, repeats):  # -1: warm-up (imports, page cache), not counted
            for label, workers, cluster in (
                ("local 1", 1, None), ("dask 1", 1, clusters[1]),
                ("local 2", 2, None), ("dask 2", 2, clusters[2]),
            ):  # fmt: skip
                out = work / f"out-{label.replace(' ', '')}-{repeat}"
                seconds = _scrub(src, out, workers=workers, cluster=cluster)
                if repeat >= 0:
                    runs.setdefault(label, []).append(files / seconds)
                shutil.rmtree(out)
                for sidecar in out.parent.glob(f"{out.name}.*"):
                    sidecar.unlink()
    finally:
        for cluster in clusters.values():
            cluster.close()
    return {label: statistics.median(rates) for label, rates in runs.items()}


def _tiny_tree(root: Path, count: int) -> Path:
    for i in range(count):
        folder = root / f"series{i // 50:06d}"
        if i % 50 == 0:
            folder.mkdir(parents=True)
        (folder / f"{i:08d}").write_bytes(b"")
    return root


def _peak_rss_growth(body: Callable[[], None]) -> float:
    """MB the RSS of this process grew to at most while ``body`` ran."""
    process = psutil.Process()
    base = process.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, process.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        body()
    finally:
        done.set()
        thread.join()
    return (max(peak, process.memory_info().rss) - base) / 1e6


def _client_memory(sizes: list[int], work: Path) -> dict[int, tuple[float, float]]:
    """(RSS growth MB, seconds) of streaming each size through a scheduler in another process."""
    scheduler_file = work / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([BIN / "dask", "scheduler", "--scheduler-file", scheduler_file,
                                  "--port", "0", "--no-dashboard"], **quiet)  # fmt: skip
    worker = subprocess.Popen([BIN / "dask", "worker", "--scheduler-file", scheduler_file,
                               "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                              **quiet)  # fmt: skip
    results: dict[int, tuple[float, float]] = {}
    try:
        while not scheduler_file.exists():
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        with DaskCluster.connect(address) as cluster, cluster.executor(name="bench") as executor:
            while cluster.workers < 2:
                time.sleep(0.1)
            for size in sizes:
                root = _tiny_tree(work / f"tiny-{size}", size)

                def stream(root: Path = root, size: int = size) -> None:
                    batches = _series_batches(root, least=16, most=64)
                    assert sum(executor.imap(len, batches, window=4)) == size

                started = time.perf_counter()
                growth = _peak_rss_growth(stream)
                results[size] = (growth, time.perf_counter() - started)
                shutil.rmtree(root)
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", default="1000,5000,20000", help="input counts ('' skips)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dask-scale-") as tmp:
        work = Path(tmp)
        src = make_corpus(work, args.files, args.image_size)
        files = sum(len(names) for _d, _s, names in os.walk(src))
        rates = _throughput(src, files, args.repeats, work)
        print(f"corpus: {files} files; median of {args.repeats} interleaved runs")
        for label, rate in rates.items():
            print(f"  {label:8s} {rate:8.1f} files/s")
        for n in (1, 2):
            local, dask = rates[f"local {n}"], rates[f"dask {n}"]
            overhead_ms = (1 / dask - 1 / local) * 1e3 * n  # per file, per worker
            print(f"  {n} worker(s): Dask at {dask / local:.1%} of local throughput "
                  f"(overhead {1 - dask / local:+.1%}; {overhead_ms:+.2f} ms of worker time "
                  f"per file)")  # fmt: skip
        sizes = [int(s) for s in args.memory.split(",") if s]
        if sizes:
            print("client memory (RSS growth while streaming to a scheduler in another process):")
            for size, (growth, seconds) in _client_memory(sizes, work).items():
                print(f"  {size:7d} inputs: {growth:6.1f} MB, {seconds:5.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
