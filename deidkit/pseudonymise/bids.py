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
subject's images are. Other files (NIfTI, ...) are copied byte for byte: their headers and
the non-ID columns of ``participants.tsv`` are not inspected here (run ``deidkit verify``).

The output folder must not exist; the tree is built beside it and renamed into place only
when complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deidkit.core.errors import OutputPathError, TableInputError, UsageError
from deidkit.core.io import check_output_location
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import DEFAULT_DATE_SHIFT_RANGE, date_offset_days, patient_pseudonym
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore
from deidkit.pseudonymise.tables import shift_date_text

TEXT_SUFFIXES = frozenset({".json", ".tsv", ".csv", ".txt", ".md"})
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

    def to_json(self) -> dict[str, int]:
        """The counts, as ``pseudonymise --bids --json`` prints them."""
        return {
            "subjects": self.subjects,
            "files": self.files,
            "renamed": self.renamed,
            "rewritten": self.rewritten,
            "linkage_entries": self.linkage_entries,
        }


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
) -> BidsResult:
    """Copy the BIDS tree ``source`` to the new folder ``output`` with subjects renamed.

    Raises
    ------
    UsageError
        If ``source`` is not a folder with subjects.
    OutputPathError
        If ``output`` exists or overlaps ``source``.
    TableInputError
        If participants.tsv or a file cannot be read.
    """
    source, output = Path(source), Path(output)
    if not source.is_dir():
        raise UsageError(f"{source.name} is not a folder")
    check_output_location(source, output)
    if output.exists():
        raise OutputPathError(f"{output.name} already exists; give a new output folder")
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
    files = renamed = rewritten = 0
    try:
        for folder, dirnames, filenames in os.walk(source):
            dirnames.sort()
            here = Path(folder)
            for name in sorted(filenames):
                relative = (here / name).relative_to(source)
                new_relative = Path(*(_replace_tokens(p, mapping) for p in relative.parts))
                target = staging / new_relative
                target.parent.mkdir(parents=True, exist_ok=True)
                renamed += new_relative != relative
                files += 1
                if relative.suffix.casefold() in TEXT_SUFFIXES:
                    try:
                        text = (here / name).read_text(encoding="utf-8")
                    except (OSError, UnicodeDecodeError):
                        raise TableInputError(f"{relative} is not readable UTF-8 text") from None
                    new_text = _replace_tokens(text, mapping)
                    if name.endswith(("_scans.tsv", "_sessions.tsv")):
                        subject = _subject_of(relative, mapping)
                        days = offsets[subject] if subject is not None else None
                        new_text = _shift_times(new_text, days)
                    rewritten += new_text != text
                    target.write_text(new_text, encoding="utf-8")
                else:
                    try:
                        shutil.copyfile(here / name, target)
                    except OSError:
                        raise TableInputError(f"{relative} could not be copied") from None
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
        files=files,
        renamed=renamed,
        rewritten=rewritten,
        linkage_entries=written,
    )
