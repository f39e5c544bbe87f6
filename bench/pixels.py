"""Burned-in PHI in pixels: scan and clean speed, recall, kept labels, collateral damage.

Not a test: run it by hand and read the numbers (they depend on the machine and its load).

    .venv/bin/python bench/pixels.py --images 12 --frames 2

A synthetic corpus of 640x480 frames (8-bit noise, 16-bit "anatomy", RGB ultrasound with a
sector and a screen overlay) with the patient's name, ID and birth date drawn in (several
formats, sizes, positions, colours) beside screen labels that must stay ("TIS 0.4", probe
names, "12 cm"), and control images with no text at all. Measured for deidkit and, on the
same files, deid's DicomCleaner with its ultrasound recipe (deid.dicom.ultrasound):

- scan / clean frames per second (deidkit; clean includes the re-check), one file at a
  time and with ``--workers`` files at once (threads: the engine runs without the GIL);
  the engine is loaded once before timing, as in a long run; ``scan_cpu_s_per_frame`` is
  the CPU time of the one-at-a-time scan per frame (1 / it: frames per second on a core
  of its own, whatever the load beside); ``pixels_scan_command_fps`` is ``deidkit pixels
  scan``'s own figure on the corpus written to files (its files read at once, one per core);
- recall: planted PHI items whose ink (glyph pixels) is >= 90 % changed by the cleaning,
  over all items, the upright ones and those drawn turned (90, 180, 270 degrees and
  +-10/15 degrees; the ``rotated`` images) separately;
- legible after: planted PHI items the OCR engine still reads in the cleaned frame;
- labels kept: screen labels whose pixels are unchanged;
- collateral (the issue's "pixel area changed outside PHI boxes"): changed pixels outside
  the planted PHI boxes, as a share of the changed pixels (``collateral_of_changed``) and
  of all pixels of the images with text (``collateral_of_all``). A PHI box is the drawn
  text's bounding box widened by 3 pixels (its antialiasing halo and a turned glyph's
  interpolation); ``collateral_of_changed_0px`` counts with the bare bounding box;
- controls untouched: control images whose pixel data is byte-identical after cleaning.

presidio-image-redactor is left out: its analyzer needs a spaCy model (en_core_web_lg)
that is downloaded from GitHub at first use, and nothing here may download at run time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "deidkit"))

from pixel_builders import (  # noqa: E402
    BIRTH_FORMS,
    NAME,
    PATIENT_ID,
    Picture,
    Planted,
    legible,
    mono_picture,
    to_bytes,
    us_rgb_picture,
)

from deidkit.pixels.clean import apply_result, clean_dataset, scan_dataset  # noqa: E402
from deidkit.pixels.frames import decode_frames, layout_of  # noqa: E402
from deidkit.pixels.ocr import tesseract_version  # noqa: E402
from deidkit.pixels.scan import scan_tree  # noqa: E402

ROWS, COLUMNS = 480, 640
MARGIN = 3


def _mono_items(seed: int) -> list[tuple[str, tuple[int, int], int, int, bool]]:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(12, 22))
    x, y = int(rng.integers(8, 200)), int(rng.integers(8, 60))
    value = int(rng.integers(180, 256))
    birth = BIRTH_FORMS[seed % len(BIRTH_FORMS)]
    return [
        (NAME.replace("^", ", "), (x, y), size, value, True),
        (PATIENT_ID, (x, y + 2 * size), size, value, True),
        (birth, (int(rng.integers(300, 400)), int(rng.integers(380, 420))), size, value, True),
        ("TIS 0.4", (540, 12), 14, 230, False),
        ("C5-1", (560, 40), 16, 230, False),
        ("12 cm", (560, 440), 14, 230, False),
    ]


_ANGLES = (90, 180, 270, 15, -15, 10, -10)


def _rotated_items(seed: int) -> list[tuple[Any, ...]]:
    """Name, ID and birth date each turned (quarter turns and small angles), labels upright."""
    birth = BIRTH_FORMS[seed % len(BIRTH_FORMS)]
    a, b, c = (_ANGLES[(seed + k) % len(_ANGLES)] for k in (0, 3, 5))
    return [
        (NAME.replace("^", ", "), (24, 80), 14, 235, True, a),
        (PATIENT_ID, (250, 150), 16, 220, True, b),
        (birth, (420, 300), 15, 240, True, c),
        ("TIS 0.4", (540, 12), 14, 230, False),
        ("C5-1", (560, 40), 16, 230, False),
        ("12 cm", (560, 440), 14, 230, False),
    ]


def corpus(images: int, frames: int) -> list[tuple[str, Picture]]:
    """Pictures with text (upright, then turned), then controls without."""
    pictures: list[tuple[str, Picture]] = []
    for i in range(images):
        kind = i % 3
        if kind == 0:
            p = mono_picture(rows=ROWS, columns=COLUMNS, items=_mono_items(i), seed=i)
        elif kind == 1:
            p = mono_picture(rows=ROWS, columns=COLUMNS, bits=16, kind="anatomy",
                             items=_mono_items(i), seed=i)  # fmt: skip
        else:
            p = us_rgb_picture(frames=frames, rows=ROWS, columns=COLUMNS, seed=i)
            p.ds.BurnedInAnnotation = "YES"  # as such screens arrive; deid's recipe asks for it
        pictures.append((["mono8", "mono16", "us-rgb"][kind], p))
    for i in range(max(1, images // 3)):
        background = "noise" if i % 2 == 0 else "anatomy"
        p = mono_picture(rows=ROWS, columns=COLUMNS, kind=background, items=_rotated_items(i),
                         seed=50 + i)  # fmt: skip
        pictures.append(("rotated", p))
    for i in range(max(1, images // 3)):
        control = mono_picture(rows=ROWS, columns=COLUMNS, items=[], seed=99 + i,
                               kind="anatomy", modality="US")  # fmt: skip
        control.ds.BurnedInAnnotation = "YES"  # flagged, yet nothing is written in it
        pictures.append(("control", control))
    return pictures


def _coverage(changed: np.ndarray, item: Planted) -> float:
    """Share of the item's ink pixels that were changed."""
    left, top, right, bottom = item.box
    patch = changed[top:bottom, left:right]
    ink = item.ink if item.ink is not None else np.ones(patch.shape, dtype=bool)
    return float(patch[ink].mean()) if ink.any() else 1.0


def _score(pictures: list[tuple[str, Picture]], cleaned: list[np.ndarray | None]) -> dict[str, Any]:
    phi = covered = labels = kept = 0
    turned = turned_covered = 0
    missed: list[str] = []  # synthetic text, safe to print
    lost: list[str] = []
    changed_total = changed_outside = outside_bare = pixels = controls = controls_same = 0
    for (kind, picture), after in zip(pictures, cleaned, strict=True):
        before = decode_frames(picture.ds, layout_of(picture.ds))
        if after is None:
            after = before
        diff = np.any(before != after, axis=-1)  # (frames, rows, columns)
        if kind == "control":
            controls += 1
            controls_same += int(not diff.any())
            continue
        pixels += diff.size
        inside = np.zeros_like(diff)
        bare = np.zeros_like(diff)
        for item in picture.planted:
            frame_diff = diff[item.frame]
            if item.phi:
                phi += 1
                hit = _coverage(frame_diff, item) >= 0.9
                covered += hit
                if kind == "rotated":
                    turned += 1
                    turned_covered += hit
                if not hit:
                    missed.append(f"{kind}:{item.text}")
                left, top, right, bottom = item.box
                inside[item.frame, max(0, top - MARGIN) : bottom + MARGIN,
                       max(0, left - MARGIN) : right + MARGIN] = True  # fmt: skip
                bare[item.frame, top:bottom, left:right] = True
            else:
                labels += 1
                untouched = _coverage(frame_diff, item) == 0.0
                kept += untouched
                if not untouched:
                    lost.append(f"{kind}:{item.text}")
        changed_total += int(diff.sum())
        changed_outside += int((diff & ~inside).sum())
        outside_bare += int((diff & ~bare).sum())
    upright, upright_covered = phi - turned, covered - turned_covered
    return {
        "phi_items": phi,
        "recall": round(covered / phi, 4) if phi else None,
        "recall_upright": f"{upright_covered}/{upright}",
        "recall_rotated": f"{turned_covered}/{turned}",
        "labels_kept": round(kept / labels, 4) if labels else None,
        "collateral_of_changed": round(changed_outside / max(1, changed_total), 4),
        "collateral_of_all": round(changed_outside / pixels, 5) if pixels else 0.0,
        "collateral_of_changed_0px": round(outside_bare / max(1, changed_total), 4),
        "controls_untouched": f"{controls_same}/{controls}",
        "missed": missed,
        "labels_lost": lost,
    }


THREADS = 1
WORKERS = 2


def _timed(work: Any, pictures: list[tuple[str, Picture]], workers: int) -> tuple[list[Any], float]:
    start = time.perf_counter()
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            out = list(pool.map(lambda pair: work(pair[1].ds), pictures))
    else:
        out = [work(p.ds) for _, p in pictures]
    return out, time.perf_counter() - start


def run_deidkit(pictures: list[tuple[str, Picture]]) -> dict[str, Any]:
    frames = sum(int(p.ds.get("NumberOfFrames", 1)) for _, p in pictures)
    scan_dataset(pictures[0][1].ds)  # engine, models and vocabularies loaded once
    speed: dict[str, float] = {}
    for workers in sorted({1, WORKERS}):
        cpu = time.process_time()
        _, scan_s = _timed(lambda ds: scan_dataset(ds, threads=THREADS), pictures, workers)
        speed[f"scan_fps_{workers}w"] = round(frames / scan_s, 2)
        if workers == 1:  # what a core of its own would do, whatever else runs beside
            speed["scan_cpu_s_per_frame"] = round((time.process_time() - cpu) / frames, 4)
    with tempfile.TemporaryDirectory() as tmp:  # the command's path: files read at once
        for i, (_, picture) in enumerate(pictures):
            (Path(tmp) / f"{i:03d}.dcm").write_bytes(to_bytes(picture.ds))
        speed["pixels_scan_command_fps"] = scan_tree(Path(tmp)).to_json()["frames_per_second"]
    cleaned: list[np.ndarray | None] = []
    legible_after = 0
    for workers in sorted({1, WORKERS}):
        results, clean_s = _timed(lambda ds: clean_dataset(ds, threads=THREADS), pictures, workers)
        speed[f"clean_fps_{workers}w"] = round(frames / clean_s, 2)
    statuses: dict[str, int] = {}
    for (_, picture), result in zip(pictures, results, strict=True):
        statuses[result.status] = statuses.get(result.status, 0) + 1
        if result.status != "cleaned":
            cleaned.append(None)
            continue
        from pixel_builders import reread

        ds = reread(to_bytes(picture.ds))
        apply_result(ds, result)
        ds = reread(to_bytes(ds))
        cleaned.append(decode_frames(ds, layout_of(ds)))
        legible_after += len(legible(ds, [NAME, PATIENT_ID, *BIRTH_FORMS]))
    out_ok = [r.status != "residual" for r in results]
    released = [pair for pair, ok in zip(pictures, out_ok, strict=True) if ok]
    kept_cleaned = [c for c, ok in zip(cleaned, out_ok, strict=True) if ok]
    out = _score(pictures, cleaned)
    out["recall_released"] = _score(released, kept_cleaned)["recall"]
    out.update(
        frames=frames,
        engine=tesseract_version(),
        **speed,
        header_phi_legible_after=legible_after,
        statuses=statuses,
    )
    return out


def run_deid(pictures: list[tuple[str, Picture]]) -> dict[str, Any]:
    import logging

    from deid.dicom import DicomCleaner
    from deid.logger import bot

    bot.level = 0
    logging.disable(logging.WARNING)
    cleaned: list[np.ndarray | None] = []
    flagged: dict[str, int] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, picture) in enumerate(pictures):
            path = Path(tmp) / f"{i}.dcm"
            path.write_bytes(to_bytes(picture.ds))
            cleaner = DicomCleaner(output_folder=tmp, deid="deid.dicom.ultrasound")
            found = cleaner.detect(str(path))
            if found.get("flagged"):  # deid's verdict: a list holds it back, coordinates clean
                flagged[kind] = flagged.get(kind, 0) + 1
            array = cleaner.clean()
            if array is None or not cleaner.results.get("flagged"):
                cleaned.append(None)
                continue
            layout = layout_of(picture.ds)
            shape = (layout.frames, layout.rows, layout.columns, layout.samples)
            cleaned.append(np.asarray(array).reshape(shape))
    seconds = time.perf_counter() - start
    frames = sum(int(p.ds.get("NumberOfFrames", 1)) for _, p in pictures)
    out = _score(pictures, cleaned)
    out.update(frames=frames, clean_fps=round(frames / seconds, 2), flagged_by_kind=flagged)
    out.pop("missed")  # every item: see recall
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12, help="images with text (x3 kinds)")
    parser.add_argument("--frames", type=int, default=2, help="frames per ultrasound image")
    parser.add_argument("--threads", type=int, default=1, help="frames of one file read at once")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="files read at once (threads), besides one at a time")  # fmt: skip
    args = parser.parse_args()
    global THREADS, WORKERS
    THREADS, WORKERS = args.threads, args.workers
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    pictures = corpus(args.images, args.frames)
    print(f"corpus: {len(pictures)} images, {ROWS}x{COLUMNS}")
    for name, run in (("deidkit", run_deidkit), ("deid ultrasound recipe", run_deid)):
        try:
            result = run(pictures)
        except Exception as exc:  # a comparison that cannot run is reported, not fatal
            result = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{name}: {result}")
    print("presidio-image-redactor: not run (its analyzer downloads a spaCy model, "
          "en_core_web_lg, at first use; nothing here downloads at run time)")  # fmt: skip


if __name__ == "__main__":
    main()
