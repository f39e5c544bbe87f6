"""pixels.scan.scan_tree: files read at once, reported in walk order."""

from __future__ import annotations

from pathlib import Path

import pytest
from pixel_builders import mono_picture, tesseract_missing, to_bytes

from deidkit.pixels.scan import scan_tree

pytestmark = pytest.mark.skipif(tesseract_missing() is not None, reason=str(tesseract_missing()))


def test_files_read_at_once_are_reported_in_walk_order(tmp_path: Path) -> None:
    names = ["a_text.dcm", "b_blank.dcm", "c_broken.dcm", "d_text.dcm", "e_blank.dcm"]
    for name in names:
        if "text" in name:
            data = to_bytes(mono_picture().ds)
        elif "blank" in name:
            data = to_bytes(mono_picture(items=[]).ds)
        else:  # pixel data shorter than its attributes say
            broken = mono_picture(items=[]).ds
            broken.PixelData = broken.PixelData[:100]
            data = to_bytes(broken)
        (tmp_path / name).write_bytes(data)
    seen: list[int] = []
    summary = scan_tree(tmp_path, on_file=seen.append)
    assert [f.number for f in summary.files] == [1, 2, 3, 4, 5] == seen
    assert [f.source for f in summary.files] == names
    assert [bool(f.boxes) for f in summary.files] == [True, False, False, True, False]
    assert summary.files[2].error is not None and summary.files[2].frames == 0
    assert summary.frames == 4
