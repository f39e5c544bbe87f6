"""What a deface batch hands out and gets back: options, tasks and per-file results.

Plain data, shared by the batch (:mod:`deidkit.deface.batch`, which plans and runs the
tasks) and the per-group work (:mod:`deidkit.deface.pipeline`); both import this module and
neither imports the other's callers, so imports go one way: batch -> pipeline -> tasks.
Everything here is picklable: tasks and options travel to worker processes, results back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deidkit.rules.profile import Profile

__all__ = ["BAD_STATUSES", "OK_STATUSES", "DefaceOptions", "FileResult", "Task"]

#: Statuses of a :class:`FileResult`; the last three make the run exit 1. ``copied`` is no
#: longer given (a run writes only what it produced) but stays a known status.
OK_STATUSES = ("defaced", "scrubbed", "copied")
BAD_STATUSES = ("refused", "flagged", "failed")


@dataclass(frozen=True)
class DefaceOptions:
    """Options of a deface run (see ``deidkit deface --help``).

    ``profile`` rules the JSON sidecars and ``dataset_description.json`` (None: the Basic
    Profile). ``analysis_level`` is ``participant`` for the BIDS-app form (INPUT must be a
    BIDS dataset), None for the plain one; ``participant_labels`` (with or without
    ``sub-``) limit a BIDS dataset to those subjects.
    """

    method: str = "auto"
    brain_mask: Path | None = None
    qc_dir: Path | None = None
    applyto: tuple[Path, ...] = ()
    blur: bool = False
    strict: bool = False
    margin_mm: float = 4.0
    ears: bool = False
    profile: Profile | None = None
    analysis_level: str | None = None
    participant_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileResult:
    """Outcome for one input file (``path`` is relative to INPUT)."""

    path: str
    status: str
    message: str = ""
    qc: dict[str, object] | None = None
    #: Files written for this result, relative to OUTPUT (a DICOM series writes many).
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """One unit of work: an image group (``nifti``), a DICOM series (``dicom``) or a BIDS
    dataset's ``description`` (its ``dataset_description.json``, written as a derivative's).

    ``sidecars`` are the JSON sidecars of the group's images; each is written, scrubbed,
    only once its image has been written.
    """

    kind: str
    sources: tuple[Path, ...]
    root: Path
    out_root: Path
    applyto: tuple[Path, ...] = ()
    sidecars: tuple[Path, ...] = ()
