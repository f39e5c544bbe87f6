"""Benchmark ``deidkit scrub`` on fsspec URLs against local folders (a script, not a test).

Scrubs bench/scrub.py's corpus in one process (``--workers 1``, where ``memory://`` runs) from
and to: local folders; ``memory://`` (fsspec's in-memory store: the cost of going through
fsspec, without a network); ``local://`` (fsspec's local file system: each output put under a
temp name and moved, as on a file system without atomic puts). Interleaved and repeated in
fresh outputs after a warm-up; prints the median files/s and the cost per file over the plain
local run, and checks that every run released the same bytes.

    .venv/bin/python bench/url_scale.py                 # ~600 files, 3 repeats
    .venv/bin/python bench/url_scale.py --files 200 --repeats 1
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import fsspec

sys.path.insert(0, str(Path(__file__).parent))

from scrub import make_corpus  # noqa: E402  (bench/scrub.py: the same corpus)

from deidkit.core.keys import ProjectKey  # noqa: E402
from deidkit.rules.profile import load_profile  # noqa: E402
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, scrub_tree  # noqa: E402


def _scrub(src: str, out: str) -> float:
    settings = ScrubSettings(profile=load_profile("basic"), key=ProjectKey(bytes(32), "bench"),
                             allow_burned_in=True)  # fmt: skip
    started = time.perf_counter()
    summary = scrub_tree(src, out, settings=settings, options=RunOptions(workers=1))
    seconds = time.perf_counter() - started
    assert summary.counts["held_back"] == 0 and summary.counts["released"] > 0
    return seconds


def _digest(fs: fsspec.AbstractFileSystem, root: str) -> str:
    total = hashlib.sha256()
    for path in sorted(fs.find(root)):
        total.update(path[len(root) :].encode())
        total.update(fs.cat_file(path))
    return total.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    memory, disk = fsspec.filesystem("memory"), fsspec.filesystem("local")
    with tempfile.TemporaryDirectory(prefix="deidkit-url-bench-") as tmp:
        work = Path(tmp)
        src = make_corpus(work, args.files, 256)
        files = sum(1 for p in src.rglob("*") if p.is_file())
        mem_in = f"/bench{uuid.uuid4().hex}/in"
        for path in sorted(src.rglob("*")):
            if path.is_file():
                memory.pipe_file(f"{mem_in}/{path.relative_to(src).as_posix()}", path.read_bytes())
        runs: dict[str, list[float]] = {}
        digests: dict[str, str] = {}
        for repeat in range(-1, args.repeats):  # -1: warm-up, not counted
            cases = {
                "local -> local": (str(src), str(work / f"plain-{repeat}")),
                "memory -> memory": (f"memory://{mem_in}", f"memory://{mem_in}-out-{repeat}"),
                "local:// -> local://": (f"local://{src}", f"local://{work}/fs-{repeat}"),
            }
            for label, (source, out) in cases.items():
                seconds = _scrub(source, out)
                if repeat >= 0:
                    runs.setdefault(label, []).append(seconds)
                fs, root = (memory, out[len("memory://") :]) if "memory" in label else (disk, out)
                root = root.removeprefix("local://")
                digests[label] = _digest(fs, root)
                fs.rm(root, recursive=True)
        memory.rm(mem_in, recursive=True)
    assert len(set(digests.values())) == 1, "the runs released different bytes"
    base = statistics.median(runs["local -> local"])
    print(f"{files} files, median of {args.repeats} (same bytes in every run)")
    for label, times in runs.items():
        seconds = statistics.median(times)
        extra = (seconds - base) / files * 1e3
        print(f"  {label:22s} {files / seconds:7.1f} files/s   {extra:+.2f} ms/file vs local")


if __name__ == "__main__":
    main()
