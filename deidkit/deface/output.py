"""The OUTPUT folder of a deface run: which folder may be written, and its report.

A run writes into a new or empty folder, or into the output of an earlier deface run, which
it recognises by the report it left there (:data:`REPORT_NAME`); any other non-empty folder
needs ``force``, and an existing file is refused. The report is written first (``complete``
false), so that a run interrupted half way is still recognised, and again at the end. It
holds counts, options and the names of the files the run wrote (names already in OUTPUT),
never the name of a file that failed or was left behind, and a record of each image group
that finished (its results and output digests, :mod:`deidkit.deface.resume`), rewritten as
groups finish, so that a rerun skips them.

At the end, files an earlier run wrote that this run did not write again are removed (so
OUTPUT never holds a stale image the report does not list), and so are folders the run
created that stayed empty (a refused image leaves no empty ``sub-*/anat/``).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from deidkit.core.errors import OutputPathError
from deidkit.core.io import atomic_write_text

__all__ = [
    "REPORT_FORMAT",
    "REPORT_NAME",
    "REPORT_TOOL",
    "OutputFolder",
    "listed_outputs",
    "prepare_output",
    "previous_records",
    "safe_rel",
]

#: The report's name inside OUTPUT: a dotfile, which BIDS tools (and deface's own planner)
#: skip, so a defaced BIDS dataset stays valid.
REPORT_NAME = ".deidkit-deface.json"
REPORT_TOOL = "deidkit deface"
REPORT_FORMAT = 1

ERR_FILE = "OUTPUT is an existing file; give a folder"
ERR_FOREIGN = (
    "OUTPUT is a folder that holds files and is not the output of an earlier deidkit deface "
    "run; give a new or empty folder, or pass --force to write into it"
)


@dataclass
class OutputFolder:
    """OUTPUT as this run found it: created or not, earlier outputs, folders that existed."""

    root: Path
    ours: bool
    previous_outputs: tuple[str, ...] = ()
    #: The earlier run's records of finished image groups (:mod:`deidkit.deface.resume`).
    previous_records: dict[str, Any] = field(default_factory=dict)
    existing_dirs: frozenset[str] = field(default_factory=frozenset)

    def write_report(self, document: dict[str, Any]) -> None:
        """Write the run report (``document`` plus the tool's marker keys) into OUTPUT."""
        payload = {"tool": REPORT_TOOL, "format": REPORT_FORMAT, **document}
        atomic_write_text(self.root / REPORT_NAME, json.dumps(payload, indent=2) + "\n")

    def tidy(self, outputs: set[str] | None) -> int:
        """Remove stale earlier outputs and the empty folders this run may remove.

        ``outputs`` are the files this run wrote; None (a run that did not finish) keeps
        every earlier output. Returns the number of stale files removed.
        """
        removed = 0
        kept = self.previous_outputs if outputs is None else outputs
        stale = [r for r in self.previous_outputs if r not in kept]
        for rel in stale:
            path = self.root / rel
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        self._remove_empty_dirs()
        return removed

    def _remove_empty_dirs(self) -> None:
        # Bottom-up, so a folder emptied by removing its empty children goes too. In a
        # foreign folder (--force) only folders this run created are candidates.
        keep = frozenset() if self.ours else self.existing_dirs
        for folder, dirnames, filenames in os.walk(self.root, topdown=False):
            here = Path(folder)
            if here == self.root or dirnames or filenames:
                continue
            if here.relative_to(self.root).as_posix() in keep:
                continue
            with contextlib.suppress(OSError):
                here.rmdir()


def safe_rel(value: object) -> str | None:
    """``value`` as a plain relative name inside OUTPUT, or None (a report read back)."""
    if not isinstance(value, str) or not value or "\\" in value:
        return None
    rel = PurePosixPath(value)
    if rel.is_absolute() or ".." in rel.parts or rel.name == REPORT_NAME:
        return None
    return rel.as_posix()


def read_report(root: Path) -> dict[str, Any] | None:
    """The report an earlier deface run left in ``root``, or None if there is none."""
    path = root / REPORT_NAME
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("tool") != REPORT_TOOL:
        return None
    return data


def _existing_dirs(root: Path) -> frozenset[str]:
    found = set()
    for folder, _dirs, _files in os.walk(root):
        found.add(Path(folder).relative_to(root).as_posix())
    return frozenset(found)


def _make(output: Path) -> None:
    if output.is_symlink():
        raise OutputPathError("OUTPUT is a link to nothing; give a folder")
    try:
        output.mkdir(parents=True)
    except OSError as exc:  # a parent that is a file, no permission, read-only disk
        raise OutputPathError(f"OUTPUT cannot be created ({type(exc).__name__})") from None


def prepare_output(output: Path, *, force: bool = False) -> OutputFolder:
    """Check OUTPUT, create it if needed, and return what the run needs to tidy it later.

    Raises
    ------
    OutputPathError
        If OUTPUT is an existing file, or a non-empty folder that is neither an earlier
        deface output nor allowed by ``force``.
    """
    if output.exists() and not output.is_dir():
        raise OutputPathError(ERR_FILE)
    if not output.exists():
        _make(output)
        return OutputFolder(output, ours=True)
    if not any(output.iterdir()):
        return OutputFolder(output, ours=True)
    report = read_report(output)
    if report is None:
        if not force:
            raise OutputPathError(ERR_FOREIGN)
        return OutputFolder(output, ours=False, existing_dirs=_existing_dirs(output))
    return OutputFolder(
        output,
        ours=True,
        previous_outputs=listed_outputs(report),
        previous_records=previous_records(report),
    )


def listed_outputs(report: dict[str, Any]) -> tuple[str, ...]:
    """The outputs an earlier run's report lists: plain relative names inside OUTPUT only."""
    listed = report.get("outputs")
    previous = [safe_rel(v) for v in listed] if isinstance(listed, list) else []
    return tuple(p for p in previous if p)


def previous_records(report: dict[str, Any]) -> dict[str, Any]:
    """The image-group records an earlier run's report holds (checked when they are used)."""
    groups = report.get("groups")
    if not isinstance(groups, dict):
        return {}
    return {k: v for k, v in groups.items() if isinstance(k, str) and isinstance(v, dict)}
