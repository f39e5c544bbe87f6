"""Atomic writes (including the failure path) and output-location checks."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from deidkit.core.errors import OutputPathError
from deidkit.core.io import (
    BatchWriter,
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
    check_output_location,
    publish_bytes,
)
from deidkit.scrub.pipeline import _TEMP_FILE


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


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_batch_writer_publishes_like_atomic_write(tmp_path: Path) -> None:
    writer = BatchWriter()
    first, second = tmp_path / "P1" / "S1" / "a.dcm", tmp_path / "P1" / "S1" / "b.dcm"
    writer.write(first, b"one")
    writer.write(second, b"two")  # its folder is remembered: no mkdir
    writer.write(first, b"uno")  # replaces atomically
    assert first.read_bytes() == b"uno" and second.read_bytes() == b"two"
    assert _leftovers(first.parent) == []
    reference = tmp_path / "ref.bin"
    atomic_write_bytes(reference, b"x", durable=False)
    assert _mode(first) == _mode(reference)  # 0666 less the umask, like a plain open()


def test_batch_writer_failure_leaves_target_and_no_temp(tmp_path: Path) -> None:
    writer = BatchWriter()
    target = tmp_path / "S" / "f.dcm"
    writer.write(target, b"original")
    with pytest.raises(TypeError):
        writer.write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"original" and _leftovers(target.parent) == []
    folder = tmp_path / "S" / "g.dcm"
    folder.mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(OSError):
        writer.write(folder, b"data")
    assert folder.is_dir() and _leftovers(target.parent) == []


def test_batch_writer_recreates_a_remembered_folder(tmp_path: Path) -> None:
    writer = BatchWriter()
    target = tmp_path / "S" / "f.dcm"
    writer.write(target, b"1")
    shutil.rmtree(tmp_path / "S")  # e.g. a test or a user cleared OUTPUT between runs
    writer.write(target, b"2")
    assert target.read_bytes() == b"2"


def test_batch_writer_skips_a_stale_temp_name(tmp_path: Path) -> None:
    stale = tmp_path / f".tmp-{os.getpid()}-0.part"  # left by an interrupted run
    stale.write_bytes(b"stale")
    BatchWriter().write(tmp_path / "f.dcm", b"new")
    assert (tmp_path / "f.dcm").read_bytes() == b"new"
    assert stale.read_bytes() == b"stale"  # never reused (the resume clean-up removes it)
    assert _TEMP_FILE.match(stale.name)


def test_temp_names_match_the_resume_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    publish_bytes(tmp_path / "a" / "f.dcm", b"x")
    assert len(seen) == 1 and _TEMP_FILE.match(seen[0])


def test_temp_files_are_owner_only_until_complete(tmp_path: Path) -> None:
    target = tmp_path / "log.jsonl"
    with atomic_open(target, prefix=".tmp-log-") as handle:
        handle.write(b"input/path/of/a/patient\n")
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-log-")]
        assert len(temps) == 1 and temps[0].name.endswith(".part")
        assert _mode(temps[0]) == 0o600  # a fragment left by a kill is nobody else's to read
    umask = os.umask(0)
    os.umask(umask)
    assert _mode(target) == 0o666 & ~umask  # the finished file: what open() would give
    atomic_write_bytes(tmp_path / "secret", b"k", permissions=0o600)
    assert _mode(tmp_path / "secret") == 0o600


def test_batch_writer_temps_are_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = BatchWriter()
    real_open = os.open
    modes: list[int] = []

    def spy(path: str, flags: int, mode: int = 0o777) -> int:
        modes.append(mode)
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", spy)
    writer.write(tmp_path / "S" / "f.dcm", b"data")
    assert modes == [0o600]
    umask = os.umask(0)
    os.umask(umask)
    assert _mode(tmp_path / "S" / "f.dcm") == 0o666 & ~umask
