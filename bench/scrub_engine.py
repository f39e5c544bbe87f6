"""Micro-benchmark of the scrub engine alone (no disk): CPU ms per file for a plain pydicom
read+write loop vs read+scrub_dataset+write, on pydicom's CT/MR test files padded to 512x512.
The "scrub only" column is the engine's own share (scrub_dataset alone). A KeyedCache is
kept across files, as a pipeline worker keeps one.

Run: .venv/bin/python bench/scrub_engine.py [N]   (N rounds, default 100)
"""

from __future__ import annotations

import io
import sys
import time

import pydicom
from pydicom.data import get_testdata_file

from deidkit.core.keys import ProjectKey
from deidkit.rules.profile import load_profile
from deidkit.scrub.engine import KeyedCache, scrub_dataset


def _inputs() -> list[bytes]:
    blobs = []
    for name in ("CT_small.dcm", "MR_small.dcm"):
        ds = pydicom.dcmread(get_testdata_file(name))
        ds.Rows = ds.Columns = 512
        ds.PixelData = bytes(512 * 512 * 2)
        out = io.BytesIO()
        ds.save_as(out)
        blobs.append(out.getvalue())
    return blobs


def main(rounds: int) -> None:
    key = ProjectKey(secret=bytes(range(32)), source="bench")
    blobs = _inputs()
    results: dict[str, list[float]] = {}
    engine: dict[str, list[float]] = {}
    for _ in range(2):  # interleaved and repeated: the machine is shared
        for name in ("pydicom read+write", "basic", "research"):
            profile = None if name.startswith("pydicom") else load_profile(name)
            cache = KeyedCache(key)
            scrubbing = 0.0
            start = time.process_time()
            for _ in range(rounds):
                for blob in blobs:
                    ds = pydicom.dcmread(io.BytesIO(blob))
                    if profile is not None:
                        before = time.process_time()
                        scrub_dataset(ds, profile=profile, key=key, cache=cache)
                        scrubbing += time.process_time() - before
                    ds.save_as(io.BytesIO(), enforce_file_format=profile is not None)
            per_file = rounds * len(blobs) / 1000
            results.setdefault(name, []).append((time.process_time() - start) / per_file)
            engine.setdefault(name, []).append(scrubbing / per_file)
    base = min(results["pydicom read+write"])
    for name, times in results.items():
        best = min(times)
        own = f"  scrub only {min(engine[name]):5.2f} ms" if name in ("basic", "research") else ""
        print(
            f"{name:20s} {best:6.2f} ms CPU/file  speed ratio vs plain loop {base / best:4.2f}{own}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
