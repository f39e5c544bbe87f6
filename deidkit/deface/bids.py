"""BIDS (and plain folder) handling: which files to deface, which files go with them.

Defaced: NIfTIs in an ``anat/`` folder whose BIDS suffix is T1w, T2w, FLAIR or PD (outside
BIDS: every NIfTI). In each ``anat/`` folder the first T1w's mask is carried (in world mm) to
the other defaced contrasts, as they are co-registered with it. A defaced image's JSON
sidecar (same name, ``.json``) is written scrubbed beside it; of a BIDS dataset's own files
only ``dataset_description.json`` is written, as a derivative's
(:func:`derivative_description`), as it is structured and required.
Nothing else is written: README/CHANGES/LICENSE are free text, the ``.tsv`` tables hold ages,
sexes and acquisition times, and images that are not defaced may still show a face, so
none of them can be called free of PHI without reading it (see :func:`left_behind_kind`).
File names and the folder structure are kept, as BIDS requires. Sidecars are scrubbed by the
profile's Table E.1-1 codes (:func:`deidkit.rules.sidecars.scrub_sidecar`, shared with
``pseudonymise --bids``). Participant labels (:func:`participant_labels`) limit a BIDS
dataset to some subjects, as a BIDS app's ``--participant-label`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Any

from deidkit.core.errors import UsageError
from deidkit.core.metadata import is_nifti_path
from deidkit.rules.profile import Profile
from deidkit.rules.sidecars import scrub_description, scrub_sidecar

#: BIDS suffixes of anatomical images that show a face.
DEFACE_SUFFIXES: frozenset[str] = frozenset({"T1w", "T2w", "FLAIR", "PD"})

#: BIDS version written when the input's description names none (a derivative must).
DEFAULT_BIDS_VERSION = "1.10.0"

__all__ = [
    "DEFACE_SUFFIXES",
    "DEFAULT_BIDS_VERSION",
    "bids_suffix",
    "derivative_description",
    "group_anat",
    "in_selection",
    "is_bids_root",
    "left_behind_kind",
    "participant_labels",
    "scrub_sidecar",
    "sidecar_of",
    "wants_deface",
]

#: Kinds of the files a deface run leaves behind, by (lower-case) name ending. The report
#: counts them by kind only: a name, or an unusual extension, could itself be PHI.
_KINDS: tuple[tuple[str, str], ...] = (
    (".nii.gz", "nifti"),
    (".nii", "nifti"),
    (".json", "json"),
    (".tsv.gz", "table"),
    (".tsv", "table"),
    (".csv", "table"),
    (".txt", "text"),
    (".md", "text"),
    (".rst", "text"),
    (".bval", "text"),
    (".bvec", "text"),
    (".png", "picture"),
    (".jpg", "picture"),
    (".jpeg", "picture"),
    (".tif", "picture"),
    (".tiff", "picture"),
    (".pdf", "document"),
    (".dcm", "dicom"),
    (".ima", "dicom"),
    (".gz", "archive"),
    (".zip", "archive"),
    (".tar", "archive"),
)
_TEXT_NAMES = ("readme", "changes", "license")


def sidecar_of(image: Path) -> Path:
    """The JSON sidecar path of a NIfTI image (``x_T1w.nii.gz`` -> ``x_T1w.json``)."""
    name = image.name
    stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else image.stem
    return image.with_name(f"{stem}.json")


def left_behind_kind(path: Path) -> str:
    """The kind of a file deface does not write (``nifti``, ``json``, ``table``, ``text``...)."""
    name = path.name.lower()
    for ending, kind in _KINDS:
        if name.endswith(ending):
            return kind
    if name.split(".", 1)[0] in _TEXT_NAMES:
        return "text"
    return "other"


def bids_suffix(path: Path) -> str:
    """The BIDS suffix of a file name (``sub-01_T1w.nii.gz`` -> ``T1w``)."""
    stem = path.name.split(".", 1)[0]
    return stem.rsplit("_", 1)[-1]


def is_bids_root(folder: Path) -> bool:
    """Return whether ``folder`` is a BIDS dataset root."""
    return (folder / "dataset_description.json").is_file()


def wants_deface(path: Path, *, bids: bool) -> bool:
    """Return whether ``path`` is an image to deface (any NIfTI outside BIDS)."""
    if not is_nifti_path(path):
        return False
    if not bids:
        return True
    return path.parent.name == "anat" and bids_suffix(path) in DEFACE_SUFFIXES


def group_anat(paths: list[Path]) -> list[tuple[Path, list[Path]]]:
    """Group images to deface: ``(primary, applyto)`` per ``anat/`` folder.

    The first T1w (sorted by name) of each folder is primary and its mask is applied to the
    folder's other contrasts; further T1w runs and folders without a T1w stand alone.
    """
    by_folder: dict[Path, list[Path]] = {}
    for path in sorted(paths):
        by_folder.setdefault(path.parent, []).append(path)
    groups: list[tuple[Path, list[Path]]] = []
    for files in by_folder.values():
        t1 = [p for p in files if bids_suffix(p) == "T1w"]
        if not t1 or files[0].parent.name != "anat":
            groups.extend((p, []) for p in files)
            continue
        primary = t1[0]
        others = [p for p in files if bids_suffix(p) != "T1w"]
        groups.append((primary, others))
        groups.extend((p, []) for p in t1[1:])
    return groups


_LABEL = re.compile(r"[A-Za-z0-9]+")
_SUBJECT = re.compile(r"sub-([A-Za-z0-9]+)")


def participant_labels(labels: Iterable[str]) -> frozenset[str]:
    """The subject labels of ``--participant-label`` values, ``sub-`` prefix or not.

    Raises
    ------
    UsageError
        If a value is not a BIDS label (letters and digits); the message counts, never quotes.
    """
    found = {label.removeprefix("sub-") for label in labels}
    bad = sum(1 for label in found if not _LABEL.fullmatch(label))
    if bad:
        raise UsageError(
            f"{bad} --participant-label value(s) are not BIDS labels (letters and digits, "
            "with or without sub-)"
        )
    return frozenset(found)


def in_selection(relative: PurePath, labels: frozenset[str]) -> bool:
    """Whether a path (relative to the dataset) belongs to the selected subjects.

    Files outside every ``sub-*`` folder (the dataset's own files) belong to every selection;
    an empty selection selects everything.
    """
    if not labels:
        return True
    subjects = [m.group(1) for m in map(_SUBJECT.fullmatch, relative.parts[:-1]) if m]
    return all(subject in labels for subject in subjects)


def derivative_description(
    original: Any, *, profile: Profile | None, generated_by: dict[str, str]
) -> dict[str, Any]:
    """``dataset_description.json`` of the defaced dataset, a BIDS derivative.

    The input's description scrubbed by the profile's rules
    (:func:`~deidkit.rules.sidecars.scrub_description`), with ``DatasetType``
    ``derivative``, the input's ``BIDSVersion`` (else :data:`DEFAULT_BIDS_VERSION`), a
    ``Name`` (BIDS requires one), and ``generated_by`` first in ``GeneratedBy``, before the
    input's own entries (its provenance).
    """
    kept = scrub_description(original if isinstance(original, dict) else {}, profile=profile)
    rest: dict[str, Any] = dict(kept.data)
    name, version, earlier = (rest.pop(k, None) for k in ("Name", "BIDSVersion", "GeneratedBy"))
    rest.pop("DatasetType", None)
    history = [e for e in earlier if isinstance(e, dict)] if isinstance(earlier, list) else []
    return {
        "Name": name if isinstance(name, str) else "defaced dataset",
        "BIDSVersion": version if isinstance(version, str) else DEFAULT_BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [dict(generated_by), *history],
        **rest,
    }
