"""Throughput of table pseudonymisation and of the encrypted linkage store.

Not a test: run it by hand and read the numbers (they depend on the machine).

    .venv/bin/python bench/bench_pseudonymise.py --rows 200000 --entries 200000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deidkit.core.keys import ProjectKey
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore
from deidkit.pseudonymise.tables import IdKind, TableSpec, pseudonymise_table


def _table(path: Path, rows: int, patients: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, patients, size=rows)
    days = rng.integers(0, 3650, size=rows)
    dates = pd.Timestamp("2015-01-01") + pd.to_timedelta(days, unit="D")
    pd.DataFrame(
        {
            "mrn": [f"{i:07d}" for i in ids],
            "accession": [f"ACC{i:09d}" for i in range(rows)],
            "visit": dates.strftime("%Y-%m-%d"),
            "value": rng.normal(size=rows).round(3).astype(str),
        }
    ).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--patients", type=int, default=5_000)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    key = ProjectKey(secret=bytes(range(32)), source="bench")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _table(root / "in.csv", args.rows, args.patients, seed=0)
        spec = TableSpec(
            id_columns={"accession": IdKind.ACCESSION},
            patient_column="mrn",
            date_columns=("visit",),
            keep_columns=("value",),
        )
        start = time.perf_counter()
        pseudonymise_table(root / "in.csv", root / "out.csv", key=key, spec=spec)
        took = time.perf_counter() - start
        print(f"table: {args.rows} rows in {took:.2f} s ({args.rows / took:,.0f} rows/s)")

        store = LinkageStore(root / "bench.dkl", key=key)
        entries = [
            LinkageEntry("SOPInstanceUID", f"1.2.826.0.1.{i}", f"2.25.{i * 7919}")
            for i in range(args.entries)
        ]
        start = time.perf_counter()
        for i in range(0, len(entries), args.batch):
            store.append(entries[i : i + args.batch])
        took = time.perf_counter() - start
        size = (root / "bench.dkl").stat().st_size
        print(
            f"linkage append: {args.entries} entries in {took:.2f} s "
            f"({args.entries / took:,.0f}/s, batches of {args.batch}, fsync each; "
            f"{size / args.entries:.0f} bytes/entry)"
        )
        start = time.perf_counter()
        count = sum(1 for _ in LinkageStore(root / "bench.dkl", key=key).entries())
        took = time.perf_counter() - start
        print(f"linkage read+authenticate: {count} entries in {took:.2f} s ({count / took:,.0f}/s)")
        start = time.perf_counter()
        store.lookup(entries[-1].pseudonym)
        print(f"linkage lookup (full scan): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
