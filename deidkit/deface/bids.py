"""BIDS (and plain folder) handling: which files to deface, which files go with them.

Defaced: NIfTIs in an ``anat/`` folder whose BIDS suffix is T1w, T2w, FLAIR or PD (outside
BIDS: every NIfTI). In each ``anat/`` folder the first T1w's mask is carried (in world mm) to
the other defaced contrasts, as they are co-registered with it. A defaced image's JSON
sidecar (same name, ``.json``) is written scrubbed beside it; of a BIDS dataset's own files
only ``dataset_description.json`` is written (scrubbed), as it is structured and required.
Nothing else is written: README/CHANGES/LICENSE are free text, the ``.tsv`` tables hold ages,
sexes and acquisition times, and images that are not defaced may still show a face, so
none of them can be called free of PHI without reading it (see :func:`left_behind_kind`).
File names and the folder structure are kept, as BIDS requires. Sidecar scrubbing is
:func:`deidkit.core.metadata.scrub_sidecar`, shared with ``pseudonymise --bids``.
"""

from __future__ import annotations

from pathlib import Path

from deidkit.core.metadata import IDENTIFYING_SIDECAR_KEYS, is_nifti_path, scrub_sidecar

#: BIDS suffixes of anatomical images that show a face.
DEFACE_SUFFIXES: frozenset[str] = frozenset({"T1w", "T2w", "FLAIR", "PD"})

__all__ = [
    "DEFACE_SUFFIXES",
    "IDENTIFYING_SIDECAR_KEYS",
    "bids_suffix",
    "group_anat",
    "is_bids_root",
    "left_behind_kind",
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
