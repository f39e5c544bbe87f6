"""QA of ``deidkit deface`` on heads it has never seen (issues 5 and 20; a script, not a test).

Two heads: A is pydeface's mean head; B is the same head with another face (a smooth
non-linear warp of everything in front of the brain and below the brows: a face 10 % longer
and narrower, pushed 5 mm forward; the brain is not moved). B is synthetic because no
pip-installable package ships a second real head with a face: the vendored MNI152 file and
nilearn 0.14's bundled MNI152 T1 are skull-stripped (nothing in front of y = +73 mm),
nibabel's test images are 2-4 mm crops, nipype's testing data hold no head, dipy 1.12's
wheel has a 2D coronal slice only, the antspyx 0.6 wheel no image at all (its heads are
downloads), scikit-image's brain is a download, templateflow and mne's sample are downloads.
Each variant is a head moved in world space by a KNOWN transform (scale, anisotropic scale,
rotations up to 30 degrees about every axis), stored in other orientation codes, on an
oblique grid, with other voxel sizes, fields of view (tiny box around the face, an axial slab
through eyes and nose, neck and shoulders), contrasts, data types (int16 with slope, uint8,
float64 with NaN background), 4D, and as a DICOM series. The truth is the template brain and
face masks moved with the same known transform, independent of the method's own estimate.

For ``mask``, ``quickshear``, ``reface`` and upstream ``quickshear`` (given the true brain
mask, as it requires) it prints: brain voxels changed (must be 0), share of the true face
voxels removed, share of the visible face surface removed on the front render
(``qc.visible_face_removed``, >= 95 %), Haar hits and dlib's best HOG score over the front
and +-30 degree views after defacing (no detection: 0 hits, HOG below 0), and seconds per
volume (wall, and the process's CPU seconds: on a loaded machine CPU is the estimate of the
uncontended wall time; the load average is printed before and after). Renders use the TRUE
pose (the known transform), whatever the method found. For ``reface`` the detectors look at
the output with the replaced zone emptied, as the QC does (the template's average face is
meant to be found); ``reface_face`` says whether they find the average face on the output
itself. ``--only`` also takes the name ``representative``: one variant of each pose and
field-of-view class (the 1 mm run).

Run:  .venv/bin/python bench/deface_variants.py [--mm 3.0]
      [--methods mask quickshear reface upstream] [--only NAME ...] [--json FILE]
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "deidkit"))

from deface_heads import (  # noqa: E402
    about_centre,
    make_moved_head,
    moved_grid,
    rotation,
)

from deidkit.core.errors import DeidkitError  # noqa: E402
from deidkit.deface.core import changed_voxels, deface_raw, fill_value, scaled_volume  # noqa: E402
from deidkit.deface.geometry import Grid  # noqa: E402
from deidkit.deface.methods import posed  # noqa: E402
from deidkit.deface.qc import HOG_THRESHOLD, ViewScores, view_levels, view_scores  # noqa: E402
from deidkit.deface.qc import visible_face_removed as visible_removed  # noqa: E402
from deidkit.deface.templates import HeadTemplate, load_template  # noqa: E402

ORIENTATIONS = ("LPI", "PIR", "ASL", "RPS", "ILP", "SAR")


#: One variant of each pose, scale, grid, storage and field-of-view class (``--only
#: representative``): the 1 mm run, where the whole table would take hours on 2 cores.
REPRESENTATIVE = (
    "identity",
    "child-0.8x",
    "aniso-1.05x0.9x1.15",
    "pitch+30",
    "roll-30",
    "yaw-30",
    "pitch+20-roll+15-yaw-20",
    "orient-PIR",
    "oblique-grid-20",
    "sagittal-1x1x1.2",
    "neck-shoulders-90mm",
    "t2-like",
    "int16-slope",
    "4d-3vol",
    "tiny-fov",
    "slab-fov",
    "dicom-series",
    "B-yaw-25",
)


def _scale(sx: float, sy: float, sz: float) -> np.ndarray:
    return np.diag([sx, sy, sz, 1.0])


def variants(mm: float) -> dict[str, dict[str, Any]]:
    """Name -> build options (head, move, grid options, intensity kind, storage, crop)."""
    iso = (mm, mm, mm)
    out: dict[str, dict[str, Any]] = {
        "identity": {},
        "child-0.8x": {"linear": _scale(0.8, 0.8, 0.8)},
        "adult-1.1x": {"linear": _scale(1.1, 1.1, 1.1)},
        "aniso-1.05x0.9x1.15": {"linear": _scale(1.05, 0.9, 1.15)},
    }
    for axis, label in ((0, "pitch"), (1, "roll"), (2, "yaw")):
        for deg in (-30, 30):
            out[f"{label}{deg:+d}"] = {"linear": rotation(axis, deg)}
    out["pitch+20-roll+15-yaw-20"] = {
        "linear": rotation(0, 20) @ rotation(1, 15) @ rotation(2, -20)
    }
    for code in ORIENTATIONS:
        out[f"orient-{code}"] = {"grid": {"orient": code}}
    out["oblique-grid-20"] = {"oblique": rotation(0, 20) @ rotation(2, 10)}
    out["sagittal-1x1x1.2"] = {"grid": {"orient": "PSL", "zooms": (mm, mm, 1.2 * mm)}}
    out["neck-shoulders-90mm"] = {"grid": {"neck_mm": 90.0}, "neck": True}
    out["t2-like"] = {"contrast": "t2"}
    out["noise+bias"] = {"contrast": "noise"}
    out["int16-slope"] = {"storage": "int16-slope"}
    out["uint8"] = {"storage": "uint8"}
    out["float64-nan"] = {"storage": "float64-nan"}
    out["4d-3vol"] = {"storage": "4d"}
    out["tiny-fov"] = {"crop": "tiny"}
    out["slab-fov"] = {"crop": "slab"}
    out["dicom-series"] = {"storage": "dicom"}
    out["B-identity"] = {"head": "B"}
    out["B-pitch+20"] = {"head": "B", "linear": rotation(0, 20)}
    out["B-yaw-25"] = {"head": "B", "linear": rotation(2, -25)}
    out["B-child-0.85x"] = {"head": "B", "linear": _scale(0.85, 0.85, 0.85)}
    out["B-orient-LPI"] = {"head": "B", "grid": {"orient": "LPI"}}
    out["B-slab-fov"] = {"head": "B", "crop": "slab"}
    for spec in out.values():
        spec.setdefault("grid", {})
        spec["grid"].setdefault("zooms", iso)
    return out


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def head_b(template: HeadTemplate) -> HeadTemplate:
    """Head B: the mean head with another face (longer, narrower, 5 mm forward)."""
    from dataclasses import replace

    from scipy import ndimage

    grid = template.grid
    ijk = np.indices(grid.shape, dtype=np.float32).reshape(3, -1)
    world = grid.affine[:3, :3] @ ijk + grid.affine[:3, 3:4]
    x, y, z = world
    face_w = (grid.affine[:3, :3] @ np.argwhere(template.face).T).T + grid.affine[:3, 3]
    back, brow = float(np.percentile(face_w[:, 1], 5)), float(face_w[:, 2].max())
    weight = _sigmoid((y - back - 10.0) / 6.0) * _sigmoid((brow - z) / 6.0)
    centre_x = float(np.median(face_w[:, 0]))
    src = np.stack(
        [
            centre_x + (x - centre_x) * (1.0 + 0.10 * weight),
            y - 5.0 * weight,
            brow + (z - brow) * (1.0 - 0.10 * weight),
        ]
    )
    vox = np.linalg.inv(grid.affine)[:3, :3] @ src + np.linalg.inv(grid.affine)[:3, 3:4]

    def warp(data: np.ndarray) -> np.ndarray:
        moved = ndimage.map_coordinates(np.asarray(data, np.float32), vox, order=1, cval=0.0)
        return moved.reshape(grid.shape).astype(np.float32)

    return replace(template, head=warp(template.head), face=warp(template.face) > 0.5)


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


def _crop(head: np.ndarray, grid: Grid, truth: Any, kind: str) -> tuple[Any, Grid, Any]:
    """A tiny box around the lower face, or an axial slab through the eyes and nose."""
    face = np.argwhere(truth.face)
    lo, hi = face.min(axis=0), face.max(axis=0) + 1
    mm = float(grid.zooms.min())
    start, stop = np.zeros(3, int), np.array(grid.shape)
    # Array axis of world z (superior) on this axis-aligned grid, and its direction.
    axis_z = int(np.argmax(np.abs(grid.affine[2, :3])))
    if kind == "slab":
        top = hi[axis_z] if grid.affine[2, axis_z] > 0 else lo[axis_z]
        width = int(round(45.0 / mm))
        start[axis_z], stop[axis_z] = max(top - width, 0), top + 1
    else:  # tiny: the face's box, 60 % of it, around its centre
        centre, half = (lo + hi) // 2, np.maximum(((hi - lo) * 0.3).astype(int), 3)
        start, stop = np.maximum(centre - half, 0), np.minimum(centre + half, grid.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    affine = grid.affine.copy()
    affine[:3, 3] = grid.affine[:3, :3] @ start + grid.affine[:3, 3]
    sx, sy, sz = (int(b - a) for a, b in zip(start, stop, strict=True))
    cut = type(truth)(brain=truth.brain[box], face=truth.face[box])
    return np.ascontiguousarray(head[box]), Grid((sx, sy, sz), affine), cut


def _dicom(head: np.ndarray, grid: Grid) -> tuple[Any, Grid, tuple[float, float]]:
    import tempfile

    from test_deface_dicom import write_series

    from deidkit.deface.dicom_series import read_series

    folder = Path(tempfile.mkdtemp()) / "series"
    series = read_series(write_series(folder, head, grid))
    assert series.grid.same_as(grid, atol=1e-3), "series grid differs from the volume's"
    return series.raw, series.grid, series.scaling


def build(
    template: HeadTemplate, spec: dict[str, Any]
) -> tuple[Any, Grid, Any, tuple[float, float], np.ndarray]:
    """Return (raw stored array, grid, truth, scaling, true subject -> template map)."""
    linear = spec.get("linear", np.eye(4))
    move = about_centre(template, linear)
    grid = moved_grid(template, move, **spec["grid"])
    if "oblique" in spec:  # the head stays, the grid turns: an oblique acquisition
        grid = Grid(grid.shape, about_centre(template, spec["oblique"]) @ grid.affine)
    head, truth = make_moved_head(template, grid, move, neck=spec.get("neck", False))
    head = _contrast(head, spec.get("contrast", ""))
    if "crop" in spec:
        head, grid, truth = _crop(head, grid, truth, spec["crop"])
    storage = spec.get("storage", "float32")
    scaling = (1.0, 0.0)
    if storage == "int16-slope":
        scaling = (0.37, -5.0)
        raw = np.round((head - scaling[1]) / scaling[0]).astype(np.int16)
    elif storage == "uint8":
        raw = np.round(head * 255.0 / head.max()).astype(np.uint8)
    elif storage == "4d":
        raw = np.stack([head, 0.9 * head, 1.1 * head], axis=-1).astype(np.float32)
    elif storage == "float64-nan":
        raw = np.where(head > 1e-3 * head.max(), head, np.nan).astype(np.float64)
    elif storage == "dicom":
        raw, grid, scaling = _dicom(head, grid)
    else:
        raw = head.astype(np.float32)
    return raw, grid, truth, scaling, np.linalg.inv(move)


def _summary(scores: dict[str, ViewScores]) -> tuple[int, float | None, bool]:
    hog = [s.hog for s in scores.values() if s.hog is not None]
    fired = any(s.fired for s in scores.values())
    return sum(s.haar for s in scores.values()), (max(hog) if hog else None), fired


def _upstream(raw: Any, grid: Grid, truth: Any) -> Any:
    import nibabel as nib
    import quickshear

    img = nib.Nifti1Image(raw, grid.affine)
    mask = nib.Nifti1Image(truth.brain.astype(np.uint8), grid.affine)
    return np.asarray(quickshear.quickshear(img, mask, buff=10).dataobj)


def evaluate(
    raw: Any,
    grid: Grid,
    truth: Any,
    scaling: tuple[float, float],
    method: str,
    pose: Grid,
    levels: dict[str, float] | None,
) -> dict[str, Any]:
    """Deface one variant with ``method`` and score it against the truth (renders: ``pose``).

    ``levels``: the input's surface thresholds per view, as the QC renders outputs (None:
    each output at its own, the QC before issue 20's last fix, ``--own-levels``).
    """
    row: dict[str, Any] = {"method": method}
    start, cpu = time.perf_counter(), time.process_time()
    face = None
    try:
        if method == "upstream":
            out = _upstream(raw, grid, truth)
        else:
            outcome = deface_raw(raw, grid, scaling=scaling, method=method)
            out, row["finding"] = outcome.raw, outcome.mask.finding
            if outcome.mask.replacement is not None:
                face = outcome.mask.face
    except (DeidkitError, ValueError, IndexError) as exc:
        row.update(
            status=f"refused: {type(exc).__name__}",
            seconds=round(time.perf_counter() - start, 1),
        )
        return row
    row["seconds"] = round(time.perf_counter() - start, 1)
    row["cpu_seconds"] = round(time.process_time() - cpu, 1)
    before = scaled_volume(raw, scaling)
    after = scaled_volume(out, scaling)
    if face is not None:
        row["reface_face"] = _summary(view_scores(after, pose, levels=levels))[2]
        after = np.where(face, np.float32(0.0), after).astype(np.float32)
    changed = changed_voxels(raw, out)
    first = out.reshape((*out.shape[:3], -1))[..., 0]
    gone = changed | (first == fill_value(raw, scaling))
    haar, hog, fired = _summary(view_scores(after, pose, levels=levels))
    visible = visible_removed(before, after, pose, truth.face)
    row.update(
        status="defaced",
        brain_changed=int(np.count_nonzero(changed & truth.brain)),
        face_removed=round(100.0 * np.count_nonzero(gone & truth.face) / truth.face.sum(), 1),
        visible_removed=None if visible is None else round(100.0 * visible, 1),
        haar_after=haar,
        hog_after=hog,
        detected_after=fired,
    )
    return row


def _passes(row: dict[str, Any]) -> bool:
    if row["status"] != "defaced":
        return False
    visible = row["visible_removed"]
    return (
        row["brain_changed"] == 0
        and (visible is None or visible >= 95.0)
        and not row["detected_after"]
    )


def _line(row: dict[str, Any]) -> str:
    hog = row.get("hog_after")
    return (
        f"{row['variant']:24s} {row['method']:10s} {row['status'][:22]:22s} "
        f"brain={row.get('brain_changed', '-')!s:>4} "
        f"face={row.get('face_removed', '-')!s:>5}% "
        f"visible={row.get('visible_removed', '-')!s:>5}% "
        f"haar={row.get('haar_after', '-')!s:>2} "
        f"hog={'-' if hog is None else f'{hog:+.2f}':>5} "
        f"{row.get('seconds', 0):5}s cpu={row.get('cpu_seconds', '-')!s:>5}s "
        f"before={'face' if row['detected_before'] else 'none'} "
        f"{'PASS' if row['pass'] else 'FAIL'}"
        + (f"  [{row['finding'][:40]}]" if row.get("finding") else "")
    )


def main() -> None:
    """Run the variant table and print it (and write it as JSON, row by row)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mm", type=float, default=3.0)
    parser.add_argument(
        "--methods", nargs="+", default=["mask", "quickshear", "reface", "upstream"]
    )
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--own-levels",
        action="store_true",
        help="render each output at its own surface threshold (the QC before the fix)",
    )
    args = parser.parse_args()
    print(f"load average at start: {_load()}", flush=True)
    heads = {"A": load_template()}
    rows = []
    only = set(args.only or ())
    if "representative" in only:
        only |= set(REPRESENTATIVE)
    for name, spec in variants(args.mm).items():
        if only and name not in only:
            continue
        key = spec.get("head", "A")
        if key not in heads:
            heads[key] = head_b(heads["A"])
        raw, grid, truth, scaling, true_pose = build(heads[key], spec)
        pose = posed(grid, true_pose)
        volume = scaled_volume(raw, scaling)
        scores_before = view_scores(volume, pose)
        _, hog_before, fired_before = _summary(scores_before)
        levels = None if args.own_levels else view_levels(volume, pose, scores=scores_before)
        for method in args.methods:
            scored = evaluate(raw, grid, truth, scaling, method, pose, levels)
            row = {"variant": name, "head": key, **scored}
            row.update(detected_before=fired_before, hog_before=hog_before)
            row["pass"] = _passes(row)
            rows.append(row)
            print(_line(row), flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1, default=str))
    for method in args.methods:
        mine = [r for r in rows if r["method"] == method]
        passed = sum(r["pass"] for r in mine)
        timed = [r for r in mine if "cpu_seconds" in r]
        worst = max((r["seconds"] for r in timed), default=0.0)
        worst_cpu = max((r["cpu_seconds"] for r in timed), default=0.0)
        before = sum(bool(r["detected_before"]) for r in mine)
        after = sum(bool(r.get("detected_after")) for r in mine)
        print(
            f"{method:10s} {passed}/{len(mine)} pass (threshold HOG {HOG_THRESHOLD:+.1f}); "
            f"face detected before {before}, after {after}; "
            f"slowest {worst:.1f} s wall, {worst_cpu:.1f} s CPU per volume"
        )
    print(f"load average at end: {_load()}")


def _load() -> str:
    import os

    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


if __name__ == "__main__":
    main()
