"""QC evidence per defaced image: before/after renderings (PNG) and a JSON record.

The offline face detector is OpenCV's Haar frontal-face cascade (shipped in the
opencv-python-headless wheel) run on the front rendering, upscaled 3x. When the defacing
method registered the template, both renderings are made in the template's canonical pose
(``"render_pose": "template"`` in the record), so the detector always sees an upright
frontal face whatever the head's pitch, roll or yaw; otherwise in the subject's own pose.
Tuned on ``bench/deface_variants.py`` (29 moved/contrast/storage variants of the mean head,
3 mm): intact faces give >= 15 neighbours, mask-defaced outputs 0; ``minNeighbors`` sits in
between. QC file names never carry the input's (possibly PHI-bearing) name: they are
``<12 hex of sha256(relative path)>``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from deidkit.core.io import atomic_write_bytes, atomic_write_text
from deidkit.deface._deps import cv2
from deidkit.deface.geometry import Grid
from deidkit.deface.render import render_pose, render_views

_UPSCALE = 3
_MIN_FACE_SHARE = 0.35
#: Overlapping hits needed for a face (intact faces: >= 15 on the variants; defaced: 0).
MIN_NEIGHBOURS = 5
_CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class QcRecord:
    """What the QC JSON says about one defaced image.

    ``render_pose`` is ``"template"`` when both renderings (and the detector) used the
    template's canonical pose from the registration, ``"subject"`` otherwise (quickshear
    with a given brain mask, where no registration runs).
    """

    qc_id: str
    method: str
    brain_voxels_changed: int
    face_voxels_changed: int
    face_region_removed: float | None
    face_detected_before: bool
    face_detected_after: bool
    flagged: bool
    png: str
    render_pose: str


def qc_id(relative_path: str) -> str:
    """Stable QC name for an input: 12 hex digits of SHA-256 of its relative path."""
    return hashlib.sha256(relative_path.encode("utf-8")).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _cascade() -> Any:
    cv = cv2()
    return cv.CascadeClassifier(str(Path(cv.data.haarcascades) / _CASCADE))


def detect_faces(image: NDArray[np.uint8]) -> int:
    """Number of faces OpenCV's Haar frontal-face cascade finds on a rendering."""
    cv = cv2()
    big = cv.resize(image, None, fx=_UPSCALE, fy=_UPSCALE, interpolation=cv.INTER_CUBIC)
    # A face on a head rendering spans a good part of the head; smaller hits are ears/texture.
    side = int(_MIN_FACE_SHARE * min(big.shape[:2]))
    # One thread: the grouping of hits must not depend on how work was split (same bytes in,
    # same answer out); the image is small, so this costs milliseconds.
    threads = cv.getNumThreads()
    cv.setNumThreads(1)
    try:
        faces = _cascade().detectMultiScale(
            big, scaleFactor=1.05, minNeighbors=MIN_NEIGHBOURS, minSize=(side, side)
        )
    finally:
        cv.setNumThreads(threads)
    return len(faces)


def _panel(views: dict[str, NDArray[np.uint8]], label: str) -> NDArray[np.uint8]:
    cv = cv2()
    front, side = views["front"], views["side"]
    height = max(front.shape[0], side.shape[0])

    def pad(img: NDArray[np.uint8]) -> NDArray[np.uint8]:
        return np.pad(img, ((0, height - img.shape[0]), (0, 4)))

    row = np.hstack([pad(front), pad(side)])
    row = cv.resize(row, None, fx=2, fy=2, interpolation=cv.INTER_LINEAR)
    out = np.ascontiguousarray(np.pad(row, ((28, 0), (0, 0))))
    cv.putText(out, label, (6, 20), cv.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv.LINE_AA)
    return np.asarray(out, dtype=np.uint8)


def write_qc(
    qc_dir: Path,
    relative_path: str,
    *,
    before: NDArray[np.float32],
    after: NDArray[np.float32],
    grid: Grid,
    method: str,
    brain_voxels_changed: int,
    face_voxels_changed: int,
    face_region_removed: float | None,
) -> QcRecord:
    """Render before/after, run the face detector, write ``<id>.png`` and ``<id>.json``.

    Parameters
    ----------
    qc_dir
        Folder for QC files (created).
    relative_path
        The input's path relative to INPUT, hashed into the QC name (never written out).
    before, after
        First volume in real units before and after defacing.
    grid
        Their grid; the defacing method's ``outcome.mask.grid`` carries the registration,
        which selects the template-pose rendering.
    method, brain_voxels_changed, face_voxels_changed, face_region_removed
        Evidence from the defacing run, copied into the record.

    Returns
    -------
    QcRecord
        ``flagged`` is True when a face is still detected after defacing.
    """
    cv = cv2()
    views_before, views_after = render_views(before, grid), render_views(after, grid)
    detected_before = detect_faces(views_before["front"]) > 0
    detected_after = detect_faces(views_after["front"]) > 0
    ident = qc_id(relative_path)
    pose = render_pose(grid)
    top = _panel(views_before, f"before ({pose} pose)")
    bottom = _panel(views_after, f"after ({pose} pose)")
    width = max(top.shape[1], bottom.shape[1])
    sheet = np.vstack([np.pad(p, ((0, 0), (0, width - p.shape[1]))) for p in (top, bottom)]).astype(
        np.uint8
    )
    ok, png = cv.imencode(".png", sheet)
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
        raise RuntimeError("PNG encoding failed")
    qc_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(qc_dir / f"{ident}.png", png.tobytes())
    record = QcRecord(
        qc_id=ident,
        method=method,
        brain_voxels_changed=brain_voxels_changed,
        face_voxels_changed=face_voxels_changed,
        face_region_removed=face_region_removed,
        face_detected_before=detected_before,
        face_detected_after=detected_after,
        flagged=detected_after,
        png=f"{ident}.png",
        render_pose=pose,
    )
    atomic_write_text(qc_dir / f"{ident}.json", json.dumps(asdict(record), indent=2) + "\n")
    return record
