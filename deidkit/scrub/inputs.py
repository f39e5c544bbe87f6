"""Input discovery: walk a PACS export in a fixed order and read each file as DICOM or say why not.

The walk streams (one directory listing in memory per level) and sorts every listing, so
the same tree always yields the same sequence whatever the file system returns.
:func:`read_input` accepts DICOM with or without preamble and file meta, and turns every
way a file can fail into an :class:`~deidkit.core.errors.InputFileError` with a stable reason
code; it never lets a half-read file pass as complete.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from deidkit.core.errors import InputFileError, UsageError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# Reason codes (stable: the run report and tests match them).
REASON_EMPTY: Final = "empty"
REASON_NOT_DICOM: Final = "not_dicom"
REASON_TRUNCATED: Final = "truncated"
REASON_UNREADABLE: Final = "unreadable"
REASON_NO_UIDS: Final = "missing_uids"
REASON_DICOMDIR: Final = "dicomdir"

DICOMDIR_SOP_CLASS: Final = "1.2.840.10008.1.3.10"
_MEDIA_CLASS: Final = 0x00020002
_DIRECTORY_RECORDS: Final = 0x00041220
_SOP_CLASS: Final = 0x00080016
_SOP_INSTANCE: Final = 0x00080018
_UNDEFINED: Final = 0xFFFFFFFF


@dataclass(frozen=True)
class InputFile:
    """One file found under the input root."""

    path: Path
    relpath: str  # POSIX path relative to the input root (names PHI; keep it out of OUTPUT)


def iter_input_files(root: Path) -> Iterator[InputFile]:
    """Yield every regular file under ``root`` (or ``root`` itself) in sorted order.

    Symbolic links to directories are not followed (they can loop); file links are read.

    Raises
    ------
    UsageError
        If ``root`` does not exist.
    """
    for path, rel in iter_input_paths(root):
        yield InputFile(Path(path), rel)


def iter_input_paths(root: Path) -> Iterator[tuple[str, str]]:
    """:func:`iter_input_files` as ``(path, relative path)`` strings: the batch's own walk.

    No :class:`~pathlib.Path` per file: building them cost more than listing the folders.

    Raises
    ------
    UsageError
        If ``root`` does not exist.
    """
    root = Path(root)
    if root.is_file():
        yield str(root), root.name
        return
    if not root.is_dir():
        raise UsageError(f"INPUT {root} does not exist")
    yield from _walk(str(root), "")


def _walk(directory: str, prefix: str) -> Iterator[tuple[str, str]]:
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError:
        return  # an unreadable folder holds nothing we can release
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, rel + "/")
        elif entry.is_file():
            yield entry.path, rel


def is_dicomdir_name(relpath: str) -> bool:
    """Whether the file is named like a DICOMDIR (checked before reading it)."""
    return relpath.rsplit("/", 1)[-1].upper() == "DICOMDIR"


def read_input(data: bytes) -> Dataset:
    """Parse one file's bytes as DICOM, with or without preamble and file meta.

    Parameters
    ----------
    data
        The whole file (read once; the caller never re-opens the input).

    Returns
    -------
    Dataset
        The parsed dataset with every top-level element complete.

    Raises
    ------
    InputFileError
        ``empty``, ``not_dicom``, ``truncated``, ``unreadable``, ``missing_uids`` or
        ``dicomdir``. Messages never carry values read from the file.
    """
    if not data:
        raise InputFileError(REASON_EMPTY)
    has_preamble = data[128:132] == b"DICM"
    if not has_preamble and not _looks_like_raw_dataset(data):
        raise InputFileError(REASON_NOT_DICOM)
    try:
        with warnings.catch_warnings():
            # pydicom warnings can quote element values (PHI); never let them reach stderr.
            warnings.simplefilter("ignore")
            ds = _read_dicom(data)
            _classify(ds, has_preamble)
    except InputFileError:
        raise
    except EOFError:
        raise InputFileError(REASON_TRUNCATED) from None
    except Exception as exc:  # pydicom raises many types on garbage; the batch must go on
        # Only the exception type: pydicom messages can quote values read from the file.
        raise InputFileError(
            REASON_UNREADABLE, f"unreadable DICOM ({type(exc).__name__})"
        ) from None
    return ds


def _read_dicom(data: bytes) -> Dataset:
    # local import: walking the tree (the scrub CLI's parent) must not load pydicom
    from deidkit.scrub.codec import read_dicom

    return read_dicom(data)


def _classify(ds: Dataset, has_preamble: bool) -> None:
    # integer tags on the raw dict: keyword lookups and decoding cost more than the checks
    from deidkit.scrub.codec import element_map

    elements: dict[Any, Any] = element_map(ds)
    meta: dict[Any, Any] = element_map(ds.file_meta) if ds.file_meta else {}
    media = meta.get(_MEDIA_CLASS)
    media_class = ""
    if media is not None:
        value = media.value
        if isinstance(value, bytes):
            media_class = value.decode("latin-1").rstrip("\x00 ")
        else:
            media_class = str(value or "")
    if media_class == DICOMDIR_SOP_CLASS or _DIRECTORY_RECORDS in elements:
        raise InputFileError(REASON_DICOMDIR)
    if _is_truncated(ds):
        raise InputFileError(REASON_TRUNCATED)
    if _SOP_INSTANCE not in elements or _SOP_CLASS not in elements:
        if not has_preamble and len(ds) < 3:
            raise InputFileError(REASON_NOT_DICOM)
        raise InputFileError(REASON_NO_UIDS)


def _looks_like_raw_dataset(data: bytes) -> bool:
    # A dataset without preamble starts with a low group tag: file meta (0002) or an
    # identifying/patient group (0008..0010), little or big endian (explicit VR big endian
    # data sets without file meta exist in the wild). Text and other formats do not.
    if len(data) < 8:
        return False
    for order in ("little", "big"):
        group = int.from_bytes(data[0:2], order)
        element = int.from_bytes(data[2:4], order)
        if group in (0x0002, 0x0008, 0x0010) and element < 0x1000:
            return True
    return False


def _is_truncated(ds: Dataset) -> bool:
    from deidkit.scrub.codec import is_short_read

    # pydicom stops quietly at end of file: compare declared lengths with what was read.
    # Only a file that ends inside an element is truncated: image attributes without Pixel
    # Data are a complete file in the wild (CSA headers, pydicom's charset files).
    return is_short_read(ds)
