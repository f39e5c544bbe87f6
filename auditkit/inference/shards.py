"""Split one prediction run over machines (``predict --shard i/n``) and merge the parts back.

Shard ``i`` of ``n`` (1-based) predicts manifest rows ``i-1, i-1+n, i-1+2n, ...``: every row
in exactly one shard, the shards balanced to one row, and each row keeps the case id an
unsharded run gives it (ids come from the whole manifest, before the selection). The shard
is recorded in the provenance (``settings.shard``), so :func:`merge_predictions` can check
that the parts belong together (same model, manifest and settings; every shard once) and
interleave their rows back into the unsharded order: the merged table is the table one run
writes, and evaluating it gives the same results.

No torch here: the merge runs where only evaluation is installed (the ``eval`` extra).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from auditkit.errors import InputFileError, UsageError
from deidkit.core.io import atomic_write_bytes, atomic_write_text

__all__ = ["MergedPredictions", "merge_predictions", "parse_shard", "select_shard"]

_SHARD: Final = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# What may differ between the shards of one run: when it ran, how long, and which part.
_PER_SHARD_SETTINGS: Final = ("seconds", "shard")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (1 <= i <= n) -> ``(i, n)``; a :class:`UsageError` otherwise."""
    match = _SHARD.match(text)
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise UsageError(f"--shard must be i/n with 1 <= i <= n, e.g. 1/4 (got {text!r})")
    return int(match[1]), int(match[2])


def select_shard(frame: Any, index: int, count: int) -> Any:
    """The rows of shard ``index`` of ``count`` (a pandas frame, renumbered from 0)."""
    return frame.iloc[index - 1 :: count].reset_index(drop=True)


@dataclass(frozen=True)
class MergedPredictions:
    """What :func:`merge_predictions` wrote."""

    parquet_path: Path
    csv_path: Path
    provenance_path: Path
    rows: int
    ok: int
    failed: int
    shards: int


def _paths(stem: Path) -> tuple[Path, Path, Path]:
    suffix = stem.suffix.lower()
    base = stem.with_suffix("") if suffix in {".parquet", ".csv"} else stem
    return (
        base.with_name(base.name + ".parquet"),
        base.with_name(base.name + ".csv"),
        base.with_name(base.name + ".provenance.json"),
    )


def _read_shard(stem: Path) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    parquet, _csv, provenance = _paths(stem)
    for path in (parquet, provenance):
        if not path.is_file():
            raise InputFileError(f"{path.name}: no such file (an output of auditkit predict)")
    try:
        record = json.loads(provenance.read_text(encoding="utf-8"))
        frame = pd.read_parquet(parquet)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{parquet.stem}: unreadable ({type(exc).__name__})") from None
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise InputFileError(f"{provenance.name}: not an auditkit predict provenance record")
    return frame, record


def _shard_of(record: dict[str, Any], name: str) -> tuple[int, int]:
    shard = record["settings"].get("shard")
    if not isinstance(shard, str):
        raise UsageError(f"{name} is not a shard (made without --shard)")
    return parse_shard(shard)


def _same_run(record: dict[str, Any]) -> dict[str, Any]:
    settings = {k: v for k, v in record["settings"].items() if k not in _PER_SHARD_SETTINGS}
    return {
        "model": record.get("model"),
        "manifest": record.get("manifest"),
        "settings": settings,
    }


def merge_predictions(
    shards: Sequence[Path], out: Path, *, overwrite: bool = False
) -> MergedPredictions:
    """Merge the outputs of ``predict --shard i/n`` (``i = 1..n``) into one run's outputs.

    Parameters
    ----------
    shards
        The ``--out`` of each shard (stem, ``.parquet`` or ``.csv``), in any order.
    out
        Where to write the merged ``.parquet``, ``.csv`` and ``.provenance.json``.
    overwrite
        Replace existing merged outputs.

    Raises
    ------
    InputFileError
        A shard's table or provenance is missing or unreadable.
    UsageError
        The parts are not the shards of one run (other model, manifest or settings; a
        shard missing or given twice), or an output exists without ``overwrite``.
    """
    import pandas as pd

    if not shards:
        raise UsageError("give the outputs of every shard to merge")
    parts: dict[int, tuple[Any, dict[str, Any]]] = {}
    count = 0
    reference: dict[str, Any] | None = None
    for stem in shards:
        frame, record = _read_shard(Path(stem))
        index, count_here = _shard_of(record, Path(stem).name)
        if reference is None:
            reference, count = _same_run(record), count_here
        elif count_here != count or _same_run(record) != reference:
            raise UsageError(
                f"{Path(stem).name} is not a shard of the same run (model, manifest, settings "
                "and shard count must match)"
            )
        if index in parts:
            raise UsageError(f"shard {index}/{count} is given twice")
        parts[index] = (frame, record)
    written = {path.absolute() for path in _paths(Path(out))}
    if any(path.absolute() in written for stem in shards for path in _paths(Path(stem))):
        raise UsageError("--out names a shard: merge into a new path")
    missing = sorted(set(range(1, count + 1)) - set(parts))
    if missing:
        raise UsageError(f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing")
    merged = _interleave([parts[i][0] for i in range(1, count + 1)], pd)
    return _write(merged, [parts[i][1] for i in range(1, count + 1)], out, overwrite=overwrite)


def _interleave(frames: list[Any], pd: Any) -> Any:
    # Row r of the whole manifest is row r // n of shard r % n + 1: number each shard's rows
    # by their place in the manifest, then sort on that number.
    count = len(frames)
    placed = [
        frame.set_axis(range(shard, shard + len(frame) * count, count))
        for shard, frame in enumerate(frames)
    ]
    return pd.concat(placed).sort_index(kind="stable").reset_index(drop=True)


def _write(
    table: Any, records: list[dict[str, Any]], out: Path, *, overwrite: bool
) -> MergedPredictions:
    parquet, csv, provenance = _paths(Path(out))
    if not overwrite:
        for path in (parquet, csv, provenance):
            if path.exists():
                raise UsageError(f"{path.name} exists: pass --force to replace it")
    failed = int((table["status"] == "failed").sum()) if "status" in table else 0
    record = _merged_record(records, rows=len(table), failed=failed)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    atomic_write_bytes(parquet, buffer.getvalue())
    atomic_write_text(csv, table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(provenance, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return MergedPredictions(parquet, csv, provenance, len(table), len(table) - failed, failed,
                             len(records))  # fmt: skip


def _merged_record(records: list[dict[str, Any]], *, rows: int, failed: int) -> dict[str, Any]:
    record = dict(records[0])
    settings = {k: v for k, v in record["settings"].items() if k != "shard"}
    settings["seconds"] = round(sum(float(r["settings"].get("seconds", 0)) for r in records), 3)
    record["settings"] = settings
    record["counts"] = {"rows": rows, "ok": rows - failed, "failed": failed}
    record["merged_from"] = [
        {"shard": r["settings"]["shard"], "device": r.get("device"),
         "created_utc": r.get("created_utc")}
        for r in records
    ]  # fmt: skip
    seen: list[dict[str, Any]] = []
    for r in records:
        for warning in r.get("warnings", []):
            if warning not in seen:
                seen.append(warning)
    record["warnings"] = seen
    return record
