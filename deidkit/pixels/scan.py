"""``deidkit pixels scan``: read every image of a tree for burned-in PHI, change nothing.

Files are numbered in a stable walk order; the summary names them by number (an input
name often carries a patient's name). With a report folder, the flagged frames go onto
contact sheets (:mod:`~deidkit.pixels.sheet`) and ``scan.json`` there maps each number to
its relative path, for the officer who looks; that folder holds patient pixels and paths.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from deidkit.core.errors import DeidkitError, OcrUnavailableError
from deidkit.core.io import atomic_write_text
from deidkit.core.quiet import quiet_pydicom
from deidkit.pixels.regions import RegionRule

__all__ = ["FileScan", "ScanSummary", "iter_files", "scan_tree"]

REPORT_INDEX: Final = "scan.json"


@dataclass
class FileScan:
    """What the scan found in one file (numbers and codes only)."""

    number: int
    source: str
    risk: str | None = None
    frames: int = 0
    boxes: dict[str, int] = field(default_factory=dict)
    flagged_frames: int = 0
    error: str | None = None

    def record(self, *, with_source: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input": self.number,
            "risk": self.risk,
            "frames": self.frames,
            "flagged_frames": self.flagged_frames,
            "boxes": self.boxes,
        }
        if self.error is not None:
            out["error"] = self.error
        if with_source:
            out["source"] = self.source
        return out


@dataclass
class ScanSummary:
    """The scan of a tree."""

    files: list[FileScan] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    sheets: list[str] = field(default_factory=list)
    engine: str = ""

    @property
    def flagged(self) -> list[FileScan]:
        """Files with PHI read in their pixels."""
        return [f for f in self.files if f.boxes]

    @property
    def unreadable(self) -> list[FileScan]:
        """Files whose pixels could not be read."""
        return [f for f in self.files if f.error is not None]

    def to_json(self, *, with_source: bool = False) -> dict[str, Any]:
        kinds: Counter[str] = Counter()
        for f in self.files:
            kinds.update(f.boxes)
        return {
            "files": len(self.files),
            "frames": self.frames,
            "flagged_files": len(self.flagged),
            "unreadable_files": len(self.unreadable),
            "boxes": dict(sorted(kinds.items())),
            "frames_per_second": round(self.frames / self.seconds, 2) if self.seconds else None,
            "engine": self.engine,
            "sheets": self.sheets,
            "results": [f.record(with_source=with_source) for f in self.files],
        }


def iter_files(root: Path) -> Iterator[Path]:
    """Every file under ``root`` (or ``root`` itself), in a stable order; DICOMDIRs skipped."""
    if root.is_file():
        yield root
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.upper() != "DICOMDIR":
            yield path


def _scan_one(
    path: Path,
    entry: FileScan,
    regions: Sequence[RegionRule],
    tiles: list[Any] | None,
    *,
    threads: int,
) -> int:
    import pydicom

    from deidkit.pixels.clean import scan_dataset
    from deidkit.pixels.frames import decode_frames
    from deidkit.pixels.render import render_frame
    from deidkit.pixels.risk import burned_in_risk
    from deidkit.pixels.sheet import Tile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings can quote values
        ds = pydicom.dcmread(path, force=True)

        def peek(tag: int) -> str:
            try:
                value = ds.get(tag)
                return "" if value is None else str(value.value).strip()
            except Exception:
                return ""

        entry.risk = burned_in_risk(peek)
        if "PixelData" not in ds:
            return 0
        result = scan_dataset(ds, regions=regions, threads=threads)
    entry.frames = result.layout.frames
    entry.boxes = dict(sorted(Counter(d.kind for d in result.detections).items()))
    flagged = sorted({d.frame for d in result.detections})
    entry.flagged_frames = len(flagged)
    if tiles is not None and flagged:
        frames = decode_frames(ds, result.layout)
        for index in flagged:
            boxes = tuple((d.box, d.kind) for d in result.detections if d.frame == index)
            gray = render_frame(frames[index], photometric=result.layout.photometric)
            caption = f"#{entry.number} frame {index + 1}: {len(boxes)} boxes"
            tiles.append(Tile(gray, boxes, caption))
    return entry.frames


def scan_tree(
    root: Path,
    *,
    regions: Sequence[RegionRule] = (),
    report: Path | None = None,
    on_file: Callable[[int], None] | None = None,
) -> ScanSummary:
    """Scan every file of ``root``; with ``report``, write contact sheets and ``scan.json``.

    Raises :class:`OcrUnavailableError` when Tesseract cannot run (before any file).
    """
    from deidkit.pixels.ocr import tesseract_version

    summary = ScanSummary(engine=tesseract_version())
    tiles: list[Any] | None = [] if report is not None else None
    start = time.perf_counter()
    base = root if root.is_dir() else root.parent
    paths = list(iter_files(root))
    cores = os.cpu_count() or 1
    # files read at once (the engine runs without the GIL); a lone file's frames at once
    threads = cores if len(paths) == 1 else 1

    def one(number: int, path: Path) -> tuple[FileScan, int, list[Any] | None]:
        entry = FileScan(number=number, source=path.relative_to(base).as_posix())
        own: list[Any] | None = [] if tiles is not None else None
        frames = 0
        try:
            frames = _scan_one(path, entry, regions, own, threads=threads)
        except OcrUnavailableError:
            raise
        except DeidkitError as exc:  # typed: no values in the message
            entry.error = str(exc)
        except Exception as exc:  # not DICOM, damaged: the type only
            entry.error = type(exc).__name__
        return entry, frames, own

    # pydicom's warnings and log records can quote values; the filters are process-wide and
    # each thread's catch_warnings restores what it found, so they are off around all threads
    with quiet_pydicom(), ThreadPoolExecutor(max(1, min(cores, len(paths)))) as pool:
        done = pool.map(one, range(1, len(paths) + 1), paths)
        for entry, frames, own in done:  # in walk order, whichever finished first
            summary.files.append(entry)
            summary.frames += frames
            if tiles is not None and own:
                tiles.extend(own)
            if on_file is not None:
                on_file(entry.number)
    summary.seconds = time.perf_counter() - start
    if report is not None and tiles is not None:
        from deidkit.pixels.sheet import write_sheets

        report.mkdir(parents=True, exist_ok=True)
        summary.sheets = [p.name for p in write_sheets(tiles, report)]
        document = json.dumps(summary.to_json(with_source=True), indent=2, sort_keys=True)
        atomic_write_text(report / REPORT_INDEX, document + "\n", permissions=0o600)
    return summary
