"""Burned-in PHI in pixels: scan and clean speed, recall, kept labels, collateral damage.

Not a test: run it by hand and read the numbers (they depend on the machine and its load).

    .venv/bin/python bench/pixels.py --images 12 --frames 2

A synthetic corpus of 640x480 frames (8-bit noise, 16-bit "anatomy", RGB ultrasound with a
sector and a screen overlay) with the patient's name, ID and birth date drawn in (several
formats, sizes, positions, colours) beside screen labels that must stay ("TIS 0.4", probe
names, "12 cm"), and control images with no text at all. Measured for deidkit and, on the
same files, deid's DicomCleaner with its ultrasound recipe (deid.dicom.ultrasound):

- scan / clean frames per second (deidkit; clean includes the re-check);
- recall: planted PHI items whose ink (glyph pixels) is >= 90 % changed by the cleaning;
- legible after: planted PHI items the OCR engine still reads in the cleaned frame;
- labels kept: screen labels whose pixels are unchanged;
- collateral: changed pixels outside the planted PHI boxes (3-pixel margin), as a share of
  the changed pixels and of all pixels;
- controls untouched: control images whose pixel data is byte-identical after cleaning.

presidio-image-redactor is left out: its analyzer needs a spaCy model (en_core_web_lg)
that is downloaded from GitHub at first use, and nothing here may download at run time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
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


def corpus(images: int, frames: int) -> list[tuple[str, Picture]]:
    """Pictures with text, then controls without."""
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
    missed: list[str] = []  # synthetic text, safe to print
    lost: list[str] = []
    changed_total = changed_outside = pixels = controls = controls_same = 0
    for (kind, picture), after in zip(pictures, cleaned, strict=True):
        before = decode_frames(picture.ds, layout_of(picture.ds))
        if after is None:
            after = before
        diff = np.any(before != after, axis=-1)  # (frames, rows, columns)
        pixels += diff.size
        if kind == "control":
            controls += 1
            controls_same += int(not diff.any())
            continue
        inside = np.zeros_like(diff)
        for item in picture.planted:
            frame_diff = diff[item.frame]
            if item.phi:
                phi += 1
                hit = _coverage(frame_diff, item) >= 0.9
                covered += hit
                if not hit:
                    missed.append(f"{kind}:{item.text}")
                left, top, right, bottom = item.box
                inside[item.frame, max(0, top - MARGIN) : bottom + MARGIN,
                       max(0, left - MARGIN) : right + MARGIN] = True  # fmt: skip
            else:
                labels += 1
                untouched = _coverage(frame_diff, item) == 0.0
                kept += untouched
                if not untouched:
                    lost.append(f"{kind}:{item.text}")
        changed_total += int(diff.sum())
        changed_outside += int((diff & ~inside).sum())
    return {
        "phi_items": phi,
        "recall": round(covered / phi, 4) if phi else None,
        "labels_kept": round(kept / labels, 4) if labels else None,
        "collateral_of_changed": round(changed_outside / max(1, changed_total), 4),
        "collateral_of_all": round(changed_outside / pixels, 5) if pixels else 0.0,
        "controls_untouched": f"{controls_same}/{controls}",
        "missed": missed,
        "labels_lost": lost,
    }


THREADS = 1


def run_deidkit(pictures: list[tuple[str, Picture]]) -> dict[str, Any]:
    frames = sum(int(p.ds.get("NumberOfFrames", 1)) for _, p in pictures)
    start = time.perf_counter()
    for _, picture in pictures:
        scan_dataset(picture.ds, threads=THREADS)
    scan_s = time.perf_counter() - start
    cleaned: list[np.ndarray | None] = []
    legible_after = 0
    start = time.perf_counter()
    results = [clean_dataset(p.ds, threads=THREADS) for _, p in pictures]
    clean_s = time.perf_counter() - start
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
        scan_fps=round(frames / scan_s, 2),
        clean_fps=round(frames / clean_s, 2),
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
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    pictures = corpus(args.images, args.frames)
    print(f"corpus: {len(pictures)} images, {ROWS}x{COLUMNS}")
    for name, run in (("deidkit", run_deidkit), ("deid ultrasound recipe", run_deid)):
        try:
            result = run(pictures)
        except Exception as exc:  # a comparison that cannot run is reported, not fatal
            result = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{name}: {result}")


if __name__ == "__main__":
    main()
