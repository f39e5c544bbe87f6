"""QA of ``deidkit deface`` on heads it has never seen (issue 5; a script, not a test).

Each variant is pydeface's mean head moved in world space by a KNOWN transform (scale,
anisotropic scale, far translation, rotations up to 30 degrees about every axis), on grids
with other fields of view (cropped top, synthetic neck and shoulders), contrasts (T2-like
inversion, noise and bias field), acquisitions (sagittal 1x1x1.2 mm, 0.8 mm), integer types
with scl_slope and 4D. The truth is the template brain and face masks warped with the same
known transform, independent of the method's own estimate. For each method it prints:
brain voxels changed (must be 0), share of the true face removed (>= 90 %), and whether
the offline face detector fires on the rendering before and after (both rendered as the QC
does: in the template's canonical pose when the method registered the template).

Run:  .venv/bin/python bench/deface_variants.py [--mm 2.0] [--methods mask quickshear]
      [--only NAME ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "deidkit" / "deface"))

from deface_heads import (  # noqa: E402
    about_centre,
    make_moved_head,
    moved_grid,
    rotation,
)

from deidkit.core.errors import DeidkitError  # noqa: E402
from deidkit.deface.core import changed_voxels, deface_raw, fill_value, scaled_volume  # noqa: E402
from deidkit.deface.qc import detect_faces  # noqa: E402
from deidkit.deface.render import render_views  # noqa: E402
from deidkit.deface.templates import HeadTemplate, load_template  # noqa: E402


def _scale(sx: float, sy: float, sz: float) -> np.ndarray:
    return np.diag([sx, sy, sz, 1.0])


def _shift(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def variants(mm: float) -> dict[str, dict[str, Any]]:
    """Name -> build options (move, grid options, intensity kind, storage)."""
    iso = (mm, mm, mm)
    out: dict[str, dict[str, Any]] = {
        "identity": {},
        "child-0.8x": {"linear": _scale(0.8, 0.8, 0.8)},
        "adult-1.1x": {"linear": _scale(1.1, 1.1, 1.1)},
        "aniso-0.9x1.1x1.0": {"linear": _scale(0.9, 1.1, 1.0)},
        "aniso-1.05x0.9x1.15": {"linear": _scale(1.05, 0.9, 1.15)},
        "far-translated": {"shift": _shift(180.0, -140.0, 260.0)},
    }
    for axis, label in ((0, "pitch"), (1, "roll"), (2, "yaw")):
        for deg in (-30, -15, 15, 30):
            out[f"{label}{deg:+d}"] = {"linear": rotation(axis, deg)}
    out["pitch+20-roll+15-yaw-20"] = {
        "linear": rotation(0, 20) @ rotation(1, 15) @ rotation(2, -20)
    }
    out["crop-top-25mm"] = {"grid": {"crop_top_mm": 25.0}}
    out["neck-shoulders-90mm"] = {"grid": {"neck_mm": 90.0}, "neck": True}
    out["t2-like"] = {"contrast": "t2"}
    out["t2-like-pitch+20"] = {"contrast": "t2", "linear": rotation(0, 20)}
    out["noise+bias"] = {"contrast": "noise"}
    out["sagittal-1x1x1.2"] = {"grid": {"orient": "PSL", "zooms": (mm, mm, 1.2 * mm)}}
    out["fine-0.8/1.0-scale"] = {"grid": {"zooms": tuple(0.8 * z for z in iso)}}
    out["int16-slope"] = {"storage": "int16-slope"}
    out["uint8"] = {"storage": "uint8"}
    out["4d-3vol"] = {"storage": "4d"}
    for spec in out.values():
        spec.setdefault("grid", {})
        spec["grid"].setdefault("zooms", iso)
    return out


def _contrast(head: np.ndarray, kind: str, seed: int = 5) -> np.ndarray:
    if kind == "t2":
        # Invert the tissue classes inside the head: WM dark, GM mid, CSF bright; keep the
        # air dark and give scalp/face soft tissue a mid-high value.
        hi = float(np.percentile(head[head > 0], 99))
        inside = head > 0.08 * hi
        t2 = np.where(inside, 1.15 * hi - head, 0.0)
        return np.clip(t2, 0.0, None).astype(np.float32)
    if kind == "noise":
        rng = np.random.default_rng(seed)
        hi = float(np.percentile(head[head > 0], 99))
        grids = np.meshgrid(*(np.linspace(-1, 1, n) for n in head.shape), indexing="ij")
        bias = np.exp(0.35 * grids[0] - 0.25 * grids[1] + 0.3 * grids[2])
        noisy = head * bias
        n1 = rng.normal(0, 0.04 * hi, head.shape)
        n2 = rng.normal(0, 0.04 * hi, head.shape)
        return np.hypot(noisy + n1, n2).astype(np.float32)  # Rician
    return head


def build(
    template: HeadTemplate, spec: dict[str, Any]
) -> tuple[Any, Any, Any, tuple[float, float]]:
    """Return (raw stored array, grid, truth, scaling) for one variant."""
    linear = spec.get("linear", np.eye(4))
    move = spec.get("shift", np.eye(4)) @ about_centre(template, linear)
    grid = moved_grid(template, move, **spec["grid"])
    head, truth = make_moved_head(template, grid, move, neck=spec.get("neck", False))
    head = _contrast(head, spec.get("contrast", ""))
    storage = spec.get("storage", "float32")
    scaling = (1.0, 0.0)
    if storage == "int16-slope":
        scaling = (0.37, -5.0)
        raw = np.round((head - scaling[1]) / scaling[0]).astype(np.int16)
    elif storage == "uint8":
        raw = np.round(head * 255.0 / head.max()).astype(np.uint8)
    elif storage == "4d":
        raw = np.stack([head, 0.9 * head, 1.1 * head], axis=-1).astype(np.float32)
    else:
        raw = head.astype(np.float32)
    return raw, grid, truth, scaling


def evaluate(
    raw: Any, grid: Any, truth: Any, scaling: tuple[float, float], method: str
) -> dict[str, Any]:
    """Deface one variant with ``method`` and score it against the truth."""
    row: dict[str, Any] = {"method": method}
    before = scaled_volume(raw, scaling)
    start = time.perf_counter()
    try:
        outcome = deface_raw(raw, grid, scaling=scaling, method=method)
    except DeidkitError as exc:
        row["detector_before"] = detect_faces(render_views(before, grid)["front"])
        row.update(status=f"refused: {type(exc).__name__}", seconds=time.perf_counter() - start)
        return row
    row["seconds"] = round(time.perf_counter() - start, 1)
    # As the QC does: render in the pose the method found (the template's, when registered).
    grid = outcome.mask.grid
    row["detector_before"] = detect_faces(render_views(before, grid)["front"])
    changed = changed_voxels(raw, outcome.raw)
    first = outcome.raw.reshape((*outcome.raw.shape[:3], -1))[..., 0]
    gone = changed | (first == fill_value(raw, scaling))
    after = scaled_volume(outcome.raw, scaling)
    row.update(
        status="defaced",
        brain_changed=int(np.count_nonzero(changed & truth.brain)),
        face_removed=round(100.0 * np.count_nonzero(gone & truth.face) / truth.face.sum(), 1),
        detector_after=detect_faces(render_views(after, grid)["front"]),
    )
    return row


def main() -> None:
    """Run the variant table and print it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mm", type=float, default=2.0)
    parser.add_argument("--methods", nargs="+", default=["mask", "quickshear"])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    template = load_template()
    rows = []
    for name, spec in variants(args.mm).items():
        if args.only and name not in args.only:
            continue
        raw, grid, truth, scaling = build(template, spec)
        for method in args.methods:
            row = {"variant": name, **evaluate(raw, grid, truth, scaling, method)}
            ok = (
                row["status"] == "defaced"
                and row["brain_changed"] == 0
                and row["face_removed"] >= 90.0
                and row["detector_after"] == 0
            )
            row["pass"] = ok
            rows.append(row)
            print(
                f"{name:26s} {method:10s} {row['status']:28s} "
                f"brain={row.get('brain_changed', '-')!s:>5} "
                f"face={row.get('face_removed', '-')!s:>5}% "
                f"det={row['detector_before']}->{row.get('detector_after', '-')} "
                f"{row.get('seconds', 0):5}s {'PASS' if ok else 'FAIL'}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
