"""QC evidence per defaced image: before/after renderings (PNG) and a JSON record.

Two independent offline face detectors look at three views (front and the head turned
+-30 degrees): OpenCV's Haar cascades (frontal on every view, profile on the turned ones;
shipped in the opencv-python-headless wheel) on renderings upscaled 3x, and dlib's HOG
frontal-face detector (compiled into the ``dlib-bin`` wheel, no model file) on the same
depth lit from above. A file is flagged when either fires on any view; the record keeps
every view's Haar hits and best HOG score, and the share of the visible face surface
removed on the front view. The output is rendered at the input's head-surface level, view
by view (:func:`view_levels`): at its own, lower one, air noise roughened the untouched
forehead into pits that the Haar cascade read as eyes. When the defacing
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
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from deidkit.core.io import atomic_write_bytes, atomic_write_text
from deidkit.deface._deps import cv2
from deidkit.deface.geometry import Grid
from deidkit.deface.render import (
    LIGHT_FROM_BELOW,
    front_surface,
    front_view,
    render_pose,
    render_views,
    shade,
)

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
    with a given brain mask when no registration is possible).
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
    #: ``{"before"|"after": {view: {"haar": hits, "hog": best score or None}}}``.
    detectors: dict[str, dict[str, dict[str, float | int | None]]] | None = None
    #: Share of the front view's face surface removed (:func:`visible_face_removed`).
    visible_face_removed: float | None = None
    #: How the face was found when the whole-head registration could not be used, or that
    #: no face is in view (None: the default path).
    finding: str | None = None


def qc_id(relative_path: str) -> str:
    """Stable QC name for an input: 12 hex digits of SHA-256 of its relative path."""
    return hashlib.sha256(relative_path.encode("utf-8")).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _cascade() -> Any:
    cv = cv2()
    return cv.CascadeClassifier(str(Path(cv.data.haarcascades) / _CASCADE))


def _cascade_hits(cascade: Any, image: NDArray[np.uint8], *, mirrored: bool = False) -> int:
    """Hits of a Haar ``cascade`` on ``image`` upscaled as the QC reads it (and its mirror)."""
    cv = cv2()
    big = cv.resize(image, None, fx=_UPSCALE, fy=_UPSCALE, interpolation=cv.INTER_CUBIC)
    # A face on a head rendering spans a good part of the head; smaller hits are ears/texture.
    side = int(_MIN_FACE_SHARE * min(big.shape[:2]))
    candidates = (big, np.ascontiguousarray(big[:, ::-1])) if mirrored else (big,)
    # One thread: the grouping of hits must not depend on how work was split (same bytes in,
    # same answer out); the image is small, so this costs milliseconds.
    threads = cv.getNumThreads()
    cv.setNumThreads(1)
    try:
        return sum(
            len(cascade.detectMultiScale(
                candidate, scaleFactor=1.05, minNeighbors=MIN_NEIGHBOURS, minSize=(side, side)
            ))
            for candidate in candidates
        )  # fmt: skip
    finally:
        cv.setNumThreads(threads)


def detect_faces(image: NDArray[np.uint8]) -> int:
    """Number of faces OpenCV's Haar frontal-face cascade finds on a rendering."""
    return _cascade_hits(_cascade(), image)


#: The views both detectors look at: the front and three-quarter views (head turned +-30
#: degrees about the vertical), all in the render pose.
VIEW_YAWS: dict[str, float] = {"front": 0.0, "yaw-30": -30.0, "yaw+30": 30.0}
#: dlib's HOG detector was trained on photographs lit from above; the Haar views' light from
#: below hides the orbits from it, so its views are lit from above.
HOG_LIGHT_FROM_BELOW = -0.3
#: dlib upsamples the image this many times (a rendered face is ~110 px, its window 80 px).
HOG_UPSAMPLE = 1
#: dlib's own decision threshold: a window scoring above it is a face.
HOG_THRESHOLD = 0.0
#: Windows scoring above this are reported (near misses), not counted as faces.
HOG_FLOOR = -1.0
_PROFILE_CASCADE = "haarcascade_profileface.xml"


@dataclass(frozen=True)
class ViewScores:
    """Both detectors on one view: Haar hits and dlib's best HOG score (None: no window).

    ``level`` is the head-surface threshold the view was rendered at (:func:`view_levels`).
    """

    haar: int
    hog: float | None
    level: float | None = None

    @property
    def fired(self) -> bool:
        """Whether either detector finds a face."""
        return self.haar > 0 or (self.hog is not None and self.hog > HOG_THRESHOLD)


@functools.lru_cache(maxsize=1)
def _profile_cascade() -> Any:
    cv = cv2()
    return cv.CascadeClassifier(str(Path(cv.data.haarcascades) / _PROFILE_CASCADE))


@functools.lru_cache(maxsize=1)
def _hog() -> Any:
    from deidkit.deface._deps import dlib

    return dlib().get_frontal_face_detector()


def detect_profiles(image: NDArray[np.uint8]) -> int:
    """Faces OpenCV's Haar profile cascade finds on a rendering and on its mirror image."""
    return _cascade_hits(_profile_cascade(), image, mirrored=True)


def hog_score(image: NDArray[np.uint8]) -> float | None:
    """dlib's best HOG frontal-face score on a rendering (None when no window passes the floor)."""
    _, scores, _ = _hog().run(np.ascontiguousarray(image), HOG_UPSAMPLE, HOG_FLOOR)
    return round(float(max(scores)), 3) if len(scores) else None


def view_scores(
    volume: NDArray[np.float32], grid: Grid, *, levels: Mapping[str, float] | None = None
) -> dict[str, ViewScores]:
    """Render every view of :data:`VIEW_YAWS` and run both detectors on each.

    Haar: the frontal cascade on every view, plus the profile cascade on the turned ones;
    both on the QC shading (light from below). HOG: on the same depth lit from above.
    ``levels`` (view -> surface threshold): pass the input's (:func:`view_levels`) when
    ``volume`` is a defaced output, so the head that defacing left is rendered as it was
    and not roughened by the output's own, lower threshold (see
    :func:`~deidkit.deface.render.front_view`).
    """
    out: dict[str, ViewScores] = {}
    for view, yaw in VIEW_YAWS.items():
        level = None if levels is None else levels.get(view)
        depth, used = front_view(volume, grid, yaw_deg=yaw, level=level)
        haar_img = shade(depth, light_from_below=LIGHT_FROM_BELOW)
        haar = detect_faces(haar_img) + (detect_profiles(haar_img) if yaw else 0)
        hog = hog_score(shade(depth, light_from_below=HOG_LIGHT_FROM_BELOW))
        out[view] = ViewScores(haar, hog, used)
    return out


def view_levels(
    volume: NDArray[np.float32],
    grid: Grid,
    *,
    scores: Mapping[str, ViewScores] | None = None,
) -> dict[str, float]:
    """Head-surface threshold of each view of ``volume`` (the input before defacing).

    Taken from ``scores`` (:func:`view_scores` of the same volume) when given, else
    rendered (no detector runs).
    """
    if scores is not None:
        return {view: s.level for view, s in scores.items() if s.level is not None}
    return {view: front_view(volume, grid, yaw_deg=yaw)[1] for view, yaw in VIEW_YAWS.items()}


def face_found(scores: dict[str, ViewScores]) -> bool:
    """Whether either detector fires on any view."""
    return any(s.fired for s in scores.values())


#: A front-view surface point counts as removed when it is gone or this many render voxels
#: (1.5 mm each) deeper after defacing.
REMOVED_DEPTH_VOXELS = 2.0


def visible_face_removed(
    before: NDArray[np.float32],
    after: NDArray[np.float32],
    grid: Grid,
    region: NDArray[np.bool_] | None,
) -> float | None:
    """Share of the visible face surface removed, on the front render.

    Face pixels are the front-view surface points of ``before`` lying in ``region`` (the
    template face region on ``grid``); a pixel is removed when ``after`` has no surface there
    or one at least :data:`REMOVED_DEPTH_VOXELS` deeper. None without a region or face pixels.
    """
    if region is None or not region.any():
        return None
    depth_before, in_face = front_surface(before, grid, region)
    if not in_face.any():
        return None
    depth_after, _ = front_surface(after, grid)
    with np.errstate(invalid="ignore"):
        gone = ~np.isfinite(depth_after) | (depth_after - depth_before >= REMOVED_DEPTH_VOXELS)
    return round(float(np.count_nonzero(gone & in_face) / np.count_nonzero(in_face)), 4)


def _scores_json(scores: dict[str, ViewScores]) -> dict[str, dict[str, float | int | None]]:
    return {view: {"haar": v.haar, "hog": v.hog} for view, v in scores.items()}


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
    face_region: NDArray[np.bool_] | None = None,
    finding: str | None = None,
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
    face_region
        The template face region on ``grid`` (for :func:`visible_face_removed`).
    finding
        The method's note (a fallback it used, or no face in view).

    Returns
    -------
    QcRecord
        ``flagged`` is True when either detector still finds a face on any view.
    """
    cv = cv2()
    scores_before = view_scores(before, grid)
    levels = view_levels(before, grid, scores=scores_before)
    scores_after = view_scores(after, grid, levels=levels)
    views_before = render_views(before, grid, level=levels.get("front"))
    views_after = render_views(after, grid, level=levels.get("front"))
    detected_before, detected_after = face_found(scores_before), face_found(scores_after)
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
        detectors={"before": _scores_json(scores_before), "after": _scores_json(scores_after)},
        visible_face_removed=visible_face_removed(before, after, grid, face_region),
        finding=finding,
    )
    atomic_write_text(qc_dir / f"{ident}.json", json.dumps(asdict(record), indent=2) + "\n")
    return record
