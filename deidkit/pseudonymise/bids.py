"""Pseudonymise a BIDS tree into a new tree: ``sub-<label>`` -> ``sub-<pseudonym>``.

The BIDS subject label is taken as the patient id: ``sub-<label>`` becomes
``sub-<patient_pseudonym(key, label)>`` (``P`` + 16 base32 characters, alphanumeric, so a
valid BIDS label). Where the labels are the source PatientIDs, the tree joins to the
scrubbed DICOM release; otherwise it is consistent with itself and with tables pseudonymised
with the label as their patient column.

Subjects are the ``sub-*`` folders at the top of the tree plus the ``participant_id``
values of ``participants.tsv``. Every folder and file name holding ``sub-<label>`` is
renamed, and so is every ``sub-<label>`` token inside text files (``.json``, ``.tsv``,
``.csv``, ``.txt``, ``.md``), e.g.
``scans.tsv`` filenames and ``IntendedFor`` paths. The ``acq_time`` column of
``*_scans.tsv`` and ``*_sessions.tsv`` is shifted by the subject's date offset, as the
subject's images are.

Metadata is scrubbed by the rules ``deidkit deface`` uses: NIfTI images are rewritten with
their header text fields emptied and their extensions dropped (voxels, geometry, data type
and scaling unchanged) (:mod:`deidkit.core.metadata`); JSON files are scrubbed by the
profile's Table E.1-1 codes, as their keys are DICOM keywords
(:func:`deidkit.rules.sidecars.scrub_bids_json`, default the Basic Profile): a key whose
code removes, empties or replaces the value is removed, and under Retain Longitudinal
Modified Dates (``research``) the dates code C keeps are shifted by the subject's date
offset, as the tables are. A date the profile shifts that cannot be shifted (not a date, or
in a file outside every subject), a JSON file that does not parse, an unreadable NIfTI or an
ANALYZE ``.hdr`` stops the run with a message naming the (renamed) file, unless
``copy_metadata_as_is``, which copies headers and sidecars as they are, as earlier versions
did. Other files are copied
byte for byte and counted (``copied_unchanged``); the non-ID columns of ``participants.tsv``
are not inspected here (run ``deidkit verify``).

The output folder must not exist; the tree is built beside it and renamed into place only
when complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deidkit.core.errors import OutputPathError, TableInputError, UsageError
from deidkit.core.io import OutputKind, check_output_path
from deidkit.core.keys import ProjectKey
from deidkit.core.metadata import is_nifti_path
from deidkit.core.pseudonym import DEFAULT_DATE_SHIFT_RANGE, date_offset_days, patient_pseudonym
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore
from deidkit.pseudonymise.tables import shift_date_text
from deidkit.rules.profile import Profile
from deidkit.rules.sidecars import scrub_bids_json

TEXT_SUFFIXES = frozenset({".json", ".tsv", ".csv", ".txt", ".md"})
#: ANALYZE headers carry the same free-text fields as NIfTI but are not rewritten here.
_ANALYZE_SUFFIXES = frozenset({".hdr"})
_AS_IS_HINT = "or pass --copy-metadata-as-is to copy headers and sidecars unchanged"
_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9])sub-([A-Za-z0-9]+)")
_TIME_COLUMNS = ("acq_time", "session_time")


@dataclass(frozen=True)
class BidsResult:
    """Counts of what renaming a BIDS tree did (no labels)."""

    subjects: int
    files: int
    renamed: int
    rewritten: int
    linkage_entries: int = 0
    #: NIfTI images rewritten with a scrubbed header.
    nifti_scrubbed: int = 0
    #: JSON files that lost identifying keys or had dates shifted.
    sidecars_scrubbed: int = 0
    #: Files neither text nor NIfTI, copied byte for byte (``deidkit verify`` checks them).
    copied_unchanged: int = 0
    #: Headers and sidecars were copied as they are (``--copy-metadata-as-is``).
    metadata_as_is: bool = False

    def to_json(self) -> dict[str, int | bool]:
        """The counts, as ``pseudonymise --bids --json`` prints them."""
        return {
            "subjects": self.subjects,
            "files": self.files,
            "renamed": self.renamed,
            "rewritten": self.rewritten,
            "linkage_entries": self.linkage_entries,
            "nifti_scrubbed": self.nifti_scrubbed,
            "sidecars_scrubbed": self.sidecars_scrubbed,
            "copied_unchanged": self.copied_unchanged,
            "metadata_as_is": self.metadata_as_is,
        }


@dataclass(frozen=True)
class _Tree:
    """What every file of one run needs: the renaming, the offsets and the metadata rules."""

    mapping: dict[str, str]
    offsets: dict[str, int]
    metadata_as_is: bool
    profile: Profile | None = None


@dataclass
class _Tally:
    files: int = 0
    renamed: int = 0
    rewritten: int = 0
    nifti_scrubbed: int = 0
    sidecars_scrubbed: int = 0
    copied_unchanged: int = 0


def subject_labels(root: Path) -> list[str]:
    """Subject labels of a BIDS tree (folders and participants.tsv), sorted."""
    labels = {p.name[4:] for p in root.glob("sub-*") if p.is_dir()}
    participants = root / "participants.tsv"
    if participants.is_file():
        with participants.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            if reader.fieldnames is None or "participant_id" not in reader.fieldnames:
                raise TableInputError("participants.tsv has no participant_id column")
            for number, row in enumerate(reader, start=2):
                value = (row.get("participant_id") or "").strip()
                match = _TOKEN_RE.fullmatch(value)
                if match is None:
                    raise TableInputError(
                        f"participants.tsv row {number}: participant_id is not sub-<label>"
                    )
                labels.add(match.group(1))
    return sorted(labels)


def _replace_tokens(text: str, mapping: dict[str, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        new = mapping.get(match.group(1))
        return f"sub-{new}" if new is not None else match.group(0)

    return _TOKEN_RE.sub(swap, text)


def _shift_times(text: str, days: int | None) -> str:
    """Shift the ISO date part of acq_time/session_time cells in a scans/sessions TSV."""
    if days is None:
        return text
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    if not rows:
        return text
    columns = [i for i, name in enumerate(rows[0]) if name in _TIME_COLUMNS]
    for row in rows[1:]:
        for i in columns:
            if i < len(row) and row[i].strip() and row[i].strip().lower() != "n/a":
                shifted = shift_date_text(row[i], days)
                if shifted is None:
                    raise TableInputError("a scans/sessions TSV has an acq_time that is not a date")
                row[i] = shifted
    out = io.StringIO()
    csv.writer(out, delimiter="\t", lineterminator="\n").writerows(rows)
    return out.getvalue()


def _subject_of(relative: Path, mapping: dict[str, str]) -> str | None:
    for part in relative.parts:
        match = _TOKEN_RE.match(part)
        if match is not None and match.group(1) in mapping:
            return match.group(1)
    return None


def pseudonymise_bids(
    source: Path,
    output: Path,
    *,
    key: ProjectKey,
    linkage: LinkageStore | None = None,
    date_shift_range: tuple[int, int] = DEFAULT_DATE_SHIFT_RANGE,
    copy_metadata_as_is: bool = False,
    profile: Profile | None = None,
) -> BidsResult:
    """Copy the BIDS tree ``source`` to the new folder ``output`` with subjects renamed.

    NIfTI headers and JSON files are scrubbed (see the module docstring) unless
    ``copy_metadata_as_is``; ``profile`` (default: the Basic Profile) rules the JSON keys.

    Raises
    ------
    UsageError
        If ``source`` is not a folder with subjects.
    OutputPathError
        If ``output`` exists or overlaps ``source``.
    TableInputError
        If participants.tsv or a file cannot be read, or (without ``copy_metadata_as_is``) a
        NIfTI or JSON file cannot be scrubbed or a sidecar date cannot be shifted; nothing
        is written then.
    """
    source, output = Path(source), Path(output)
    if not source.is_dir():
        raise UsageError(f"{source.name} is not a folder")
    check_output_path(output, option="OUTPUT", kind=OutputKind.TREE, inputs={"SOURCE": source})
    if output.exists():
        raise OutputPathError("OUTPUT already exists; give a new output folder")
    if linkage is not None:
        linkage.check_writable()
    labels = subject_labels(source)
    if not labels:
        raise UsageError(f"{source.name} has no sub-<label> folders or participants.tsv")
    mapping = {label: patient_pseudonym(key, label) for label in labels}
    offsets = {
        label: date_offset_days(key, label, shift_range=date_shift_range) for label in labels
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-bids-", dir=output.parent))
    tree = _Tree(mapping, offsets, copy_metadata_as_is, profile)
    tally = _Tally()
    try:
        for folder, dirnames, filenames in os.walk(source):
            dirnames.sort()
            here = Path(folder)
            for name in sorted(filenames):
                _publish(here / name, (here / name).relative_to(source), staging, tree, tally)
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written = 0
    if linkage is not None:
        entries = [LinkageEntry("PatientID", label, mapping[label]) for label in labels]
        entries += [LinkageEntry("DateOffset", label, str(offsets[label])) for label in labels]
        written = linkage.append(entries)
    with contextlib.suppress(OSError):
        os.chmod(output, 0o755)  # mkdtemp made it owner-only; a release folder is shared
    return BidsResult(
        subjects=len(labels),
        files=tally.files,
        renamed=tally.renamed,
        rewritten=tally.rewritten,
        linkage_entries=written,
        nifti_scrubbed=tally.nifti_scrubbed,
        sidecars_scrubbed=tally.sidecars_scrubbed,
        copied_unchanged=tally.copied_unchanged,
        metadata_as_is=copy_metadata_as_is,
    )


def _publish(src: Path, relative: Path, staging: Path, tree: _Tree, tally: _Tally) -> None:
    """Write one file of the tree under its new name: scrubbed, rewritten or copied."""
    new_relative = Path(*(_replace_tokens(p, tree.mapping) for p in relative.parts))
    target = staging / new_relative
    target.parent.mkdir(parents=True, exist_ok=True)
    tally.renamed += new_relative != relative
    tally.files += 1
    suffix = relative.suffix.casefold()
    if not tree.metadata_as_is and is_nifti_path(relative):
        target.write_bytes(_scrubbed_nifti(src, new_relative))
        tally.nifti_scrubbed += 1
    elif not tree.metadata_as_is and suffix in _ANALYZE_SUFFIXES:
        raise TableInputError(
            f"{new_relative}: ANALYZE headers are not scrubbed; convert to NIfTI, {_AS_IS_HINT}"
        )
    elif suffix in TEXT_SUFFIXES:
        _publish_text(src, relative, new_relative, target, tree, tally)
    else:
        try:
            shutil.copyfile(src, target)
        except OSError:
            raise TableInputError(f"{new_relative} could not be copied") from None
        tally.copied_unchanged += 1


def _publish_text(
    src: Path, relative: Path, new_relative: Path, target: Path, tree: _Tree, tally: _Tally
) -> None:
    try:
        text = src.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise TableInputError(f"{new_relative} is not readable UTF-8 text") from None
    subject = _subject_of(relative, tree.mapping)
    days = tree.offsets[subject] if subject is not None else None
    scrubbed = text
    if relative.suffix.casefold() == ".json" and not tree.metadata_as_is:
        scrubbed = _scrubbed_sidecar(text, new_relative, days, tree.profile)
        tally.sidecars_scrubbed += scrubbed != text
    new_text = _replace_tokens(scrubbed, tree.mapping)
    if relative.name.endswith(("_scans.tsv", "_sessions.tsv")):
        new_text = _shift_times(new_text, days)
    tally.rewritten += new_text != text
    target.write_text(new_text, encoding="utf-8")


def _scrubbed_nifti(src: Path, new_relative: Path) -> bytes:
    """The image rewritten with its header text and extensions gone (voxels unchanged)."""
    import nibabel as nib  # only trees with images pay for it

    from deidkit.core.metadata import image_bytes

    try:
        img = nib.load(src)
        if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
            raise TypeError("not a single-file NIfTI image")
        return image_bytes(img, gz=src.name.casefold().endswith(".gz"))
    except Exception:  # nibabel raises many types for corrupt files; none names a value
        raise TableInputError(
            f"{new_relative} is not a readable NIfTI image, so its header cannot be "
            f"scrubbed; fix it, {_AS_IS_HINT}"
        ) from None


def _scrubbed_sidecar(
    text: str, new_relative: Path, days: int | None, profile: Profile | None
) -> str:
    """``text`` scrubbed by ``profile``'s rules, its C dates shifted by ``days``.

    Returns ``text`` itself when nothing changes, so that a clean sidecar keeps its layout.
    """
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise TableInputError(
            f"{new_relative} is not valid JSON, so its keys cannot be checked; fix it, "
            f"{_AS_IS_HINT}"
        ) from None

    def shift(value: str) -> str | None:
        return shift_date_text(value, days) if days is not None else None

    clean = scrub_bids_json(new_relative.name, data, profile=profile, shift_date=shift)
    # A date the profile keeps shifted that cannot be shifted would be lost silently.
    if clean.unshifted:
        why = "a date outside every subject" if days is None else "not a date this can shift"
        raise TableInputError(
            f"{new_relative}: {', '.join(clean.unshifted)} is {why}; remove it, {_AS_IS_HINT}"
        )
    if clean.data == data:
        return text
    return json.dumps(clean.data, indent=2, ensure_ascii=False) + "\n"
