"""Atomic writes (including the failure path) and output-location checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from deidkit.errors import OutputPathError
from deidkit.io import atomic_open, atomic_write_bytes, atomic_write_text, check_output_location


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_atomic_write_creates_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "f.bin"
    atomic_write_bytes(target, b"hello")
    assert target.read_bytes() == b"hello"
    atomic_write_text(target, "héllo")
    assert target.read_text(encoding="utf-8") == "héllo"
    assert _leftovers(target.parent) == []


def test_exception_mid_write_leaves_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"original")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write(b"partial new content")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"original"
    assert _leftovers(tmp_path) == []


def test_interrupt_mid_write_of_new_file_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt), atomic_open(target) as handle:
        handle.write(b"x" * 1000)
        raise KeyboardInterrupt
    assert not target.exists() and _leftovers(tmp_path) == []


def test_atomic_open_refuses_read_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_open(tmp_path / "f", mode="rb"):
        pass


def test_check_output_location(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    with pytest.raises(OutputPathError):
        check_output_location(src, src)
    with pytest.raises(OutputPathError):
        check_output_location(src, src / "out")
    with pytest.raises(OutputPathError):
        check_output_location(src, tmp_path)  # OUTPUT would contain INPUT
    with pytest.raises(OutputPathError):
        check_output_location(src, src / ".." / "in")
    check_output_location(src, tmp_path / "out")  # a sibling is fine
