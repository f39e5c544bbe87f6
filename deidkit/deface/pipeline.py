"""Deface one NIfTI group (a primary image and the images its mask applies to), with QC.

Each written image is followed by its JSON sidecar, if it has one, scrubbed by the run's
profile; a refused or failed image gets neither. A BIDS dataset's
``dataset_description.json`` is written as the defaced derivative's
(:func:`write_description`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from deidkit import __version__
from deidkit.core.errors import DeidkitError
from deidkit.core.io import atomic_write_bytes, atomic_write_text
from deidkit.deface.bids import derivative_description, scrub_sidecar, sidecar_of
from deidkit.deface.core import DefaceOutcome, check_brain_mask, deface_raw, scaled_volume
from deidkit.deface.errors import BrainOverlapError, FaceStillDetectedError
from deidkit.deface.geometry import Grid, grid_of
from deidkit.deface.methods import FaceMask
from deidkit.deface.nifti_io import image_bytes, load_nifti, raw_data, slope_inter
from deidkit.deface.tasks import DefaceOptions, FileResult, Task
from deidkit.rules.profile import Profile

#: ``Name`` of deface's entry in a derivative's ``GeneratedBy``.
GENERATOR_NAME = "deidkit deface"

#: Appended to a result's message when the face detector still fires (without --strict).
FLAGGED_NOTE = "FLAGGED: a face is still detected on the defaced rendering, review the QC"


def flag_note(message: str, record: dict[str, object] | None) -> str:
    """Append :data:`FLAGGED_NOTE` to ``message`` when the QC record is flagged."""
    return f"{message}; {FLAGGED_NOTE}" if record is not None and record.get("flagged") else message


def run_qc(
    rel: str,
    raw_before: NDArray[Any],
    outcome: DefaceOutcome,
    scaling: tuple[float, float],
    options: DefaceOptions,
) -> dict[str, object] | None:
    """Write QC files (``--qc``) and/or run the face detector (``--strict``).

    Raises
    ------
    FaceStillDetectedError
        With ``strict`` when either detector still finds a face on any defaced view.
    """
    if options.qc_dir is None and not options.strict:
        return None
    before = scaled_volume(raw_before, scaling)
    after = scaled_volume(outcome.raw, scaling)
    if outcome.mask.replacement is not None:
        # reface: the template's average face is meant to be found; what must not be found
        # is the subject's, so the detectors look at the output with the replaced zone empty.
        after = np.where(outcome.mask.face, np.float32(0.0), after).astype(np.float32)
    grid = outcome.mask.grid
    flagged: bool
    record: dict[str, object] | None = None
    if options.qc_dir is not None:
        from deidkit.deface.qc import write_qc

        rec = write_qc(
            options.qc_dir,
            rel,
            before=before,
            after=after,
            grid=grid,
            method=outcome.mask.method,
            brain_voxels_changed=outcome.brain_voxels_changed,
            face_voxels_changed=outcome.face_voxels_changed,
            face_region_removed=outcome.face_region_removed,
            face_region=outcome.mask.face_region,
            finding=outcome.mask.finding,
        )
        record, flagged = asdict(rec), rec.flagged
    else:
        from deidkit.deface.qc import face_found, view_levels, view_scores

        flagged = face_found(view_scores(after, grid, levels=view_levels(before, grid)))
    if flagged and options.strict:
        raise FaceStillDetectedError()
    return record


def _load(path: Path) -> tuple[Any, NDArray[Any], Grid, tuple[float, float]]:
    img = load_nifti(path)
    return img, raw_data(img), grid_of(img.shape, img.affine), slope_inter(img)


def _brain(options: DefaceOptions, grid: Grid) -> NDArray[np.bool_] | None:
    if options.brain_mask is None:
        return None
    mask_img = load_nifti(options.brain_mask)
    data = np.asarray(mask_img.dataobj)
    if data.ndim > 3:
        data = data.reshape(data.shape[:3] + (-1,))[..., 0]
    return check_brain_mask(
        np.nan_to_num(data) > 0.5, grid, grid_of(mask_img.shape, mask_img.affine)
    )


def _write(img: Any, raw: NDArray[Any], dst: Path) -> None:
    atomic_write_bytes(dst, image_bytes(img, raw=raw, gz=dst.name.lower().endswith(".gz")))


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


#: What :func:`_read_json` returns for a file that is not JSON (``null`` is JSON).
_UNREADABLE = object()


def _read_json(source: Path) -> Any:
    try:
        return json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return _UNREADABLE


def _write_json(data: Any, rel: str, out_root: Path) -> FileResult:
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    try:
        atomic_write_text(out_root / rel, text)
    except OSError as exc:
        return FileResult(rel, "failed", f"{type(exc).__name__} while writing")
    return FileResult(rel, "scrubbed", outputs=(rel,))


def write_sidecar(
    source: Path, root: Path, out_root: Path, *, profile: Profile | None = None
) -> FileResult:
    """Write the copy of the JSON sidecar ``source`` scrubbed by ``profile`` (default basic).

    Never the file as it is: errors become a ``failed`` result and nothing is written.
    """
    rel = _rel(source, root)
    data = _read_json(source)
    if data is _UNREADABLE:
        return FileResult(rel, "failed", "not a readable JSON file; not written")
    return _write_json(scrub_sidecar(data, profile=profile), rel, out_root)


def command_text(options: DefaceOptions) -> str:
    """The command line of a run, paths replaced by their parameter names (never the paths)."""
    profile = options.profile.name if options.profile is not None else "basic"
    parts = ["deidkit deface"]
    if options.analysis_level is not None:
        parts += ["BIDS_DIR OUTPUT_DIR", options.analysis_level]
    else:
        parts.append("INPUT OUTPUT")
    if options.participant_labels:
        parts.append("--participant-label " + " ".join(sorted(options.participant_labels)))
    parts += [f"--method {options.method}", f"--profile {profile}"]
    parts.append(f"--margin-mm {options.margin_mm:g}")
    flags = (("--blur", options.blur), ("--strict", options.strict), ("--ears", options.ears))
    parts += [flag for flag, on in flags if on]
    if options.brain_mask is not None:
        parts.append("--brain-mask MASK")
    return " ".join(parts)


def generated_by(options: DefaceOptions) -> dict[str, str]:
    """Deface's ``GeneratedBy`` entry: name, version and the command (no container)."""
    return {"Name": GENERATOR_NAME, "Version": __version__, "Description": command_text(options)}


def write_description(
    source: Path, root: Path, out_root: Path, options: DefaceOptions
) -> FileResult:
    """Write ``dataset_description.json`` of the defaced dataset (a BIDS derivative).

    The input's description scrubbed by the profile, ``DatasetType`` ``derivative`` and
    deface first in ``GeneratedBy`` (:func:`~deidkit.deface.bids.derivative_description`).
    An unreadable input description becomes a ``failed`` result and nothing is written.
    """
    rel = _rel(source, root)
    data = _read_json(source)
    if data is _UNREADABLE:
        return FileResult(rel, "failed", "not a readable JSON file; not written")
    described = derivative_description(
        data, profile=options.profile, generated_by=generated_by(options)
    )
    return _write_json(described, rel, out_root)


def _with_sidecar(
    result: FileResult, image: Path, task: Task, options: DefaceOptions
) -> list[FileResult]:
    sidecar = sidecar_of(image)
    if result.status != "defaced" or sidecar not in task.sidecars:
        return [result]
    return [result, write_sidecar(sidecar, task.root, task.out_root, profile=options.profile)]


def deface_nifti_group(task: Task, options: DefaceOptions) -> list[FileResult]:
    """Deface ``task.sources[0]`` and carry its mask to ``task.applyto``.

    Errors of the primary image propagate (the caller reports them); errors of an applyto
    image become that image's result.
    """
    primary = task.sources[0]
    rel = _rel(primary, task.root)
    img, raw, grid, scaling = _load(primary)
    outcome = deface_raw(
        raw,
        grid,
        scaling=scaling,
        method=options.method,
        brain=_brain(options, grid),
        blur=options.blur,
        margin_mm=options.margin_mm,
        ears=options.ears,
    )
    record = run_qc(rel, raw, outcome, scaling, options)
    _write(img, outcome.raw, task.out_root / rel)
    done = FileResult(rel, "defaced", flag_note(outcome.mask.method, record), record, (rel,))
    results = _with_sidecar(done, primary, task, options)
    for other in task.applyto:
        applied = _apply(other, outcome.mask, task, options)
        results.extend(_with_sidecar(applied, other, task, options))
    return results


def _apply(path: Path, mask: FaceMask, task: Task, options: DefaceOptions) -> FileResult:
    rel = _rel(path, task.root)
    try:
        img, raw, grid, scaling = _load(path)
        # reface: the other image gets the template face in its own intensities.
        volume = None if mask.replacement is None else scaled_volume(raw, scaling)
        outcome = deface_raw(
            raw,
            grid,
            scaling=scaling,
            mask=mask.moved_to(grid, volume),
            blur=options.blur,
            margin_mm=options.margin_mm,
        )
        record = run_qc(rel, raw, outcome, scaling, options)
        _write(img, outcome.raw, task.out_root / rel)
        note = flag_note(f"{mask.method} (mask applied from T1w)", record)
        return FileResult(rel, "defaced", note, record, (rel,))
    except BrainOverlapError as exc:
        return FileResult(rel, "refused", str(exc))
    except FaceStillDetectedError as exc:
        return FileResult(rel, "flagged", str(exc))
    except DeidkitError as exc:
        return FileResult(rel, "failed", str(exc))
    except Exception as exc:  # the other images of the group go on
        return FileResult(rel, "failed", f"{type(exc).__name__} while processing")
