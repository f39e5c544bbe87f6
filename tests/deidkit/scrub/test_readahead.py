"""Read-ahead of input files: advice only, never a change to the inputs, never a blocked caller."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deidkit.scrub.workers.readahead import ReadAhead

pytestmark = pytest.mark.skipif(
    not hasattr(os, "posix_fadvise"), reason="posix_fadvise is not available on this platform"
)


def test_advises_every_readable_file_and_skips_the_rest(tmp_path: Path) -> None:
    files = [tmp_path / f"{i}.dcm" for i in range(5)]
    for i, path in enumerate(files):
        path.write_bytes(bytes([i]) * 1000)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    with ReadAhead() as ahead:
        ahead.add(str(p) for p in files[:3])
        ahead.add([str(tmp_path / "missing.dcm"), str(tmp_path), *map(str, files[3:])])
    assert ahead.advised == 6  # five files and the folder (opened read-only, like a file)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before


def test_add_never_blocks_and_is_a_no_op_after_exit(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(b"x")
    with ReadAhead(depth=1) as ahead:
        for _ in range(200):  # far more than the queue holds: the surplus advice is dropped
            ahead.add([str(path)])
    advised = ahead.advised
    assert 1 <= advised <= 200
    ahead.add([str(path)])
    assert ahead.advised == advised
