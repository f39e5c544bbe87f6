"""core.locations: local paths and fsspec URLs, the sorted streaming walk, atomic puts."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deidkit.core.errors import UsageError
from deidkit.core.locations import TEMP_PREFIX, Location, is_url
from deidkit.scrub.inputs import iter_input_paths

fsspec = pytest.importorskip("fsspec", reason="needs the 'cloud' extra (fsspec)")


def _tree(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(name.encode())


def test_paths_and_file_urls_are_local() -> None:
    assert Location.parse(Path("rel/x"), option="INPUT") == Location("", "rel/x")
    assert Location.parse("rel/x", option="INPUT").local_path == Path("rel/x")
    assert Location.parse("file:///srv/export", option="INPUT") == Location("", "/srv/export")
    assert Location.parse("file://localhost/srv", option="INPUT").local_path == Path("/srv")
    assert not Location.parse("/srv", option="INPUT").is_remote
    assert is_url("s3://b/k") and not is_url(Path("s3://b/k")) and not is_url("a/b")
    with pytest.raises(UsageError, match="absolute"):
        Location.parse("file://relative/x", option="INPUT")


def test_urls_keep_protocol_and_root_and_pickle() -> None:
    place = Location.parse("memory://in/", option="INPUT")
    assert (place.protocol, place.root, place.is_remote) == ("memory", "/in", True)
    assert not place.shared  # one process's memory
    assert Location.parse("local:///tmp/x", option="INPUT").shared
    assert pickle.loads(pickle.dumps(place)) == place
    assert place.child("a/b.dcm") == "/in/a/b.dcm"
    assert place.with_suffix_beside(".run-report.json").root == "/in.run-report.json"


@pytest.mark.parametrize(
    ("url", "needed"),
    [("nosuchfs://bucket-PATIENT/x", "'cloud'"), ("s3://bucket-PATIENT/x", "pip install s3fs")],
)
def test_unusable_urls_are_usage_errors_naming_only_the_scheme(
    url: str, needed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(UsageError) as caught:
        Location.parse(url, option="OUTPUT")
    message = str(caught.value)
    assert message.startswith("OUTPUT") and needed in message
    assert url.split("://")[0] + "://" in message and "PATIENT" not in message


def test_missing_fsspec_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(UsageError, match=r"deidkit-auditkit\[cloud\]"):
        Location.parse("memory://x", option="INPUT")
    assert Location.parse("/x", option="INPUT").root == "/x"  # paths never need it


def test_walk_is_the_local_walk(tmp_path: Path) -> None:
    _tree(tmp_path, ["b/2", "a/1", "b/1", "c", "a.dcm", "a/z/9", "A"])
    (tmp_path / "loop").symlink_to(tmp_path)  # neither walk follows a linked folder
    (tmp_path / "c-link").symlink_to(tmp_path / "c")  # both read a linked file
    local = list(iter_input_paths(tmp_path))
    url = Location.parse(f"local://{tmp_path}", option="INPUT")
    walked = list(url.walk())
    assert [rel for _path, rel, _size in walked] == [rel for _path, rel in local]
    assert [size for *_rest, size in walked] == [Path(path).stat().st_size for path, _r in local]
    single = Location.parse(f"local://{tmp_path}/c", option="INPUT")
    assert [rel for _p, rel, _s in single.walk()] == ["c"]
    with pytest.raises(UsageError, match="does not exist"):
        list(Location.parse(f"local://{tmp_path}/missing", option="INPUT").walk())


def test_walk_streams_one_listing_per_level(memory: tuple[Any, str]) -> None:
    fs, root = memory
    for folder in range(3):
        for i in range(2):
            fs.pipe_file(f"{root}/{folder}/{i}.dcm", b"x")
    place = Location("memory", root)
    walk = place.walk()
    first = next(walk)  # the first file comes before later folders are listed
    assert first[1] == "0/0.dcm"
    fs.pipe_file(f"{root}/2/late.dcm", b"y")  # listed only when the walk gets there
    assert [rel for _p, rel, _s in walk][-1] == "2/late.dcm"


def test_puts_are_atomic_and_leave_no_temp_files(tmp_path: Path, memory: tuple[Any, str]) -> None:
    fs, root = memory
    store = Location("memory", root)
    assert store.is_empty() and store.atomic_put
    store.put_bytes(store.child("p/q.dcm"), b"one")
    assert not store.is_empty() and store.read_bytes(store.child("p/q.dcm")) == b"one"

    disk = Location.parse(f"local://{tmp_path}/out", option="OUTPUT")  # no atomic put there
    assert not disk.atomic_put
    disk.put_bytes(disk.child("a/b.dcm"), b"bytes")
    assert (tmp_path / "out/a/b.dcm").read_bytes() == b"bytes"
    assert not list((tmp_path / "out").rglob(f"{TEMP_PREFIX}*"))


def test_a_failed_put_leaves_the_target_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = Location.parse(f"local://{tmp_path}/out", option="OUTPUT")
    disk.put_bytes(disk.child("a.dcm"), b"old")
    fs = disk.fs

    def broken_mv(*_args: object, **_kw: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(fs, "mv", broken_mv)
    with pytest.raises(OSError):
        disk.put_bytes(disk.child("a.dcm"), b"new")
    assert (tmp_path / "out/a.dcm").read_bytes() == b"old"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.dcm"]


def test_remove_temp_files_clears_what_a_killed_writer_left(tmp_path: Path) -> None:
    _tree(tmp_path / "out", ["x/a.dcm", f"x/{TEMP_PREFIX}dead.part", f"{TEMP_PREFIX}1.part"])
    Location.parse(f"local://{tmp_path}/out", option="OUTPUT").remove_temp_files()
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == ["a.dcm"]


def test_overlaps() -> None:
    a, b = Location("s3", "bucket/export"), Location("s3", "bucket/export/release")
    assert a.overlaps(b) and b.overlaps(a) and a.overlaps(a)
    assert not a.overlaps(Location("s3", "bucket/export2"))
    assert not a.overlaps(Location("gs", "bucket/export"))


def test_download_copies_the_tree_and_skips_escaping_keys(
    tmp_path: Path, memory: tuple[Any, str]
) -> None:
    fs, root = memory
    fs.pipe_file(f"{root}/r/a/1.dcm", b"1")
    fs.pipe_file(f"{root}/r/b.dcm", b"2")
    place = Location("memory", f"{root}/r")
    assert place.is_dir()
    assert place.download(tmp_path / "copy") == 2
    assert (tmp_path / "copy/a/1.dcm").read_bytes() == b"1"
    assert (tmp_path / "copy/b.dcm").read_bytes() == b"2"

    class Escaping(Location):
        def walk(self) -> Iterator[tuple[str, str, int]]:
            yield f"{root}/r/b.dcm", "../../outside.dcm", 1

    assert Escaping("memory", f"{root}/r").download(tmp_path / "esc" / "copy") == 0
    assert not (tmp_path / "outside.dcm").exists()


def test_backend_logs_stay_quiet_even_when_verbose(memory: tuple[Any, str]) -> None:
    import logging

    _fs, root = memory
    logging.getLogger("fsspec").setLevel(logging.NOTSET)  # as after basicConfig(level=DEBUG)
    logging.getLogger("s3fs").setLevel(logging.DEBUG)
    Location("memory", root).exists()
    for name in ("fsspec", "fsspec.memory", "s3fs", "botocore.endpoint"):
        assert not logging.getLogger(name).isEnabledFor(logging.WARNING), name
