"""verify a release (or compare with originals) that lies at an fsspec URL.

verify reads a release many ways (every element, file and folder names, sidecars, the run
report and action log beside it), so a URL release is copied, file by file, into a private
temp folder (0700, removed afterwards) on the machine that runs verify, with its run report
and action log beside it as the scrub put them, and checked there exactly as a local
release. ``--original`` at a URL is copied the same way. The copy needs the release's size in
local disk (``TMPDIR`` chooses where); memory stays one file at a time.
"""

from __future__ import annotations

import contextlib
import posixpath
import tempfile
from collections.abc import Iterator
from pathlib import Path

from deidkit.core.errors import UsageError
from deidkit.core.locations import Location
from deidkit.core.runreport import ACTION_LOG_SUFFIX, RUN_REPORT_SUFFIX

__all__ = ["local_copies"]


@contextlib.contextmanager
def local_copies(
    release: Path | str, original: Path | str | None
) -> Iterator[tuple[Path, Path | None]]:
    """Local folders for RELEASE and ``--original``: as given, or private copies of URLs.

    Raises
    ------
    UsageError
        A URL that is not a folder, or RELEASE and ``--original`` overlapping; the messages
        name the option and scheme, never the URL.
    """
    rel = Location.parse(release, option="RELEASE")
    orig = None if original is None else Location.parse(original, option="--original")
    if not rel.is_remote and (orig is None or not orig.is_remote):
        yield rel.local_path, None if orig is None else orig.local_path
        return
    if orig is not None and rel.overlaps(orig):
        raise UsageError(
            "RELEASE and --original must be separate folders (neither inside the other)"
        )
    with tempfile.TemporaryDirectory(prefix="deidkit-verify-") as tmp:
        yield (
            _local(rel, Path(tmp) / "release", "RELEASE"),
            (None if orig is None else _local(orig, Path(tmp) / "original", "--original")),
        )


def _local(place: Location, folder: Path, option: str) -> Path:
    if not place.is_remote:
        return place.local_path
    if not place.is_dir():
        raise UsageError(f"{option} ({place.protocol}://) is not a folder")
    # The copy keeps the release's name: verify's report shows it (and only it).
    target = folder / (posixpath.basename(place.root.rstrip("/")) or "release")
    target.mkdir(parents=True)
    place.download(target)
    for suffix in (RUN_REPORT_SUFFIX, ACTION_LOG_SUFFIX):
        data = place.with_suffix_beside(suffix).read_root()
        if data is not None:
            target.with_name(target.name + suffix).write_bytes(data)
    return target
