"""Safe file output: atomic writes, and the one rule for where a command may write."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import IO, Final

from deidkit.core.errors import OutputPathError
from deidkit.core.runreport import RUN_REPORT_SUFFIX


def _fsync_dir(directory: Path) -> None:
    # A rename is only durable once the directory entry itself reaches the disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_permissions() -> int:
    # mkstemp creates 0600 files; outputs should get what open() would give them.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    *,
    mode: str = "wb",
    permissions: int | None = None,
    durable: bool = True,
    buffering: int = -1,
    prefix: str = ".tmp-",
) -> Iterator[IO[bytes]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temp file is removed and ``path`` is left untouched, so a
    reader never sees a partial file. ``permissions`` defaults to what a plain ``open``
    would give (0666 less the umask); pass 0o600 for secrets. The temp file is owner-only
    (0600) until it is complete: a process killed mid-write leaves a ``<prefix>XXXX.part``
    fragment that nobody else can read (``prefix`` lets its owner find it again).

    ``durable=False`` skips the two fsyncs (file and folder). The rename is still atomic, so
    no reader sees a partial file; a batch that writes thousands of files uses it and makes
    the whole batch durable with one ``os.sync()`` before it declares the run complete.
    ``buffering`` is :func:`open`'s (a long log written line by line wants a big buffer).
    """
    if "w" not in mode:
        raise ValueError("atomic_open only supports write modes")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=target.parent)  # 0600
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode, buffering=buffering) as handle:
            yield handle
            handle.flush()
            final = _default_permissions() if permissions is None else permissions
            os.fchmod(handle.fileno(), final)
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(target.parent)


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    permissions: int | None = None,
    durable: bool = True,
) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_open(path, mode="wb", permissions=permissions, durable=durable) as handle:
        handle.write(data)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, permissions: int | None = None
) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), permissions=permissions)


class BatchWriter:
    """Atomic, not yet durable writes of many files (a batch's outputs), cheaply.

    Each :meth:`write` creates a temp file ``.tmp-<pid>-<n>.part`` beside the target
    (``O_EXCL``, owner-only until complete), writes the bytes, gives it the mode a plain
    ``open`` gives (0666 less the umask) and renames it over the target: a reader never
    sees a partial file, and on any error the temp file is removed. Unlike
    :func:`atomic_write_bytes` it neither fsyncs nor creates the target's folder again for
    every file: the folders it made or saw are remembered (a bounded set). The caller
    makes the batch durable at the end (one ``os.sync()``).

    One instance per process: the process id in the temp name keeps concurrent writers
    apart, and a temp name left by an interrupted run is skipped, never reused.
    """

    _MAX_FOLDERS = 4096  # remembered folders; the set is cleared when it grows past this

    def __init__(self) -> None:
        self._folders: set[str] = set()
        self._counter = itertools.count()
        self._mode: int | None = None  # the final mode, read from the umask on first use

    def write(self, path: str | os.PathLike[str], data: bytes) -> None:
        """Write ``data`` to ``path`` atomically (not durably), creating its folder if needed.

        Raises
        ------
        OSError
            If the folder cannot be made or the file cannot be written; ``path`` is then
            left as it was and no temp file remains.
        """
        target = os.fspath(path)
        folder = os.path.dirname(target) or "."
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            if len(self._folders) >= self._MAX_FOLDERS:
                self._folders.clear()
            self._folders.add(folder)
        tmp, fd = self._create(folder)
        if self._mode is None:
            self._mode = _default_permissions()
        try:
            try:
                view = memoryview(data)
                while view:  # os.write may write less than asked (signals, huge buffers)
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, self._mode)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _create(self, folder: str) -> tuple[str, int]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        remade = False
        for _ in range(1000):
            tmp = os.path.join(folder, f".tmp-{os.getpid()}-{next(self._counter)}.part")
            try:
                return tmp, os.open(tmp, flags, 0o600)
            except FileExistsError:  # left by an interrupted run with the same process id
                continue
            except FileNotFoundError:
                if remade:  # the folder vanished again: give up
                    raise
                remade = True  # removed behind our back (a remembered folder): make it again
                os.makedirs(folder, exist_ok=True)
        raise FileExistsError(f"no free temp file name in {folder}")


_BATCH_WRITER = BatchWriter()  # per process: a forked worker gets its own (its pid differs)


def publish_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a batch output atomically, not durably, via this process's :class:`BatchWriter`.

    For a batch that makes everything durable with one ``os.sync()`` at its end (the
    scrub pipeline); everything else should use :func:`atomic_write_bytes`.
    """
    _BATCH_WRITER.write(path, data)


#: A folder holding this file (at any depth above an output) is a release.
RELEASE_MARKER: Final = ".deidkit-release"
#: File names inside a folder that mark it as a release (besides DICOM files).
RUN_REPORT_NAMES: Final = ("run-report.json", "deidkit-run-report.json")
_MAX_FILES_SCANNED = 5000

#: Option or argument name -> path (``None``: not given).
PathMap = Mapping[str, str | os.PathLike[str] | None]


class OutputKind(StrEnum):
    """What a command writes at an output path (decides which existing path is a clash)."""

    FILE = "file"  # written whole; an existing file is replaced only with --force
    APPEND = "append"  # a file appended to (a linkage store): it may exist
    FOLDER = "folder"  # a folder that receives named files; may exist
    TREE = "tree"  # a folder that is a deliverable as a whole: must not contain an input


def check_output_path(
    path: str | os.PathLike[str],
    *,
    option: str,
    kind: OutputKind = OutputKind.FILE,
    inputs: PathMap | None = None,
    releases: PathMap | None = None,
    others: PathMap | None = None,
    sensitive: bool = False,
    force: bool = False,
    force_option: str | None = "--force",
    error: Callable[[str], Exception] = OutputPathError,
) -> None:
    """Refuse an output path that would damage an input, leak into a release or clobber a file.

    The one rule every command applies to every output path, checked in this order:

    1. never one of the command's ``inputs`` (option name -> path), nor inside one of them;
       a ``TREE`` output never contains one either;
    2. never an existing path of another kind: a folder where a file goes, a file (or a
       device, a pipe) where a folder goes, or a path under an existing file;
    3. never the same path as, inside or around one of the command's ``others`` outputs;
    4. when ``sensitive`` (it holds identifiers or dates: re-identified values, linkage
       files, mapping exports, reports, cohort manifests), never inside a release: one of
       ``releases`` (the release the command writes or reads), a folder with a deidkit run
       report beside it (``<folder>.run-report.json``) or a ``.deidkit-release`` marker in
       it; a ``FOLDER`` that already holds a run report or DICOM files is a release too;
    5. a ``FILE`` that exists is replaced only when ``force`` (``force_option`` names the
       flag; ``None``: the command never replaces it).

    Parameters
    ----------
    path
        The output path as given.
    option
        The option or argument that gave it (``--out``, ``OUTPUT``): the message names it,
        never the path, whose folder names may come from patient data.
    error
        The exception type raised (auditkit passes its own usage error).

    Raises
    ------
    OutputPathError
        (or ``error``) with a one-line reason that names ``option``.
    """
    out = Path(os.path.realpath(path))
    reason = (
        _input_clash(out, inputs or {}, kind)
        or _kind_clash(out, kind)
        or _output_clash(out, others or {})
        or (_release_clash(out, releases or {}, kind) if sensitive else None)
        or _existing_clash(out, kind, force=force, force_option=force_option)
    )
    if reason is not None:
        raise error(f"{option} {reason}")


def _given(paths: PathMap) -> Iterator[tuple[str, Path]]:
    for name, given in paths.items():
        if given is not None:
            yield name, Path(os.path.realpath(given))


def _same_file(a: Path, b: Path) -> bool:
    # realpath misses hard links: two names of one inode are still one file.
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _input_clash(out: Path, inputs: PathMap, kind: OutputKind) -> str | None:
    for name, source in _given(inputs):
        if out == source or _same_file(out, source):
            return f"must not be {name} (an input of this command)"
        if out.is_relative_to(source):
            return f"must not lie inside {name}"
        if kind is OutputKind.TREE and source.is_relative_to(out):
            return f"must not contain {name}"
    return None


def _kind_clash(out: Path, kind: OutputKind) -> str | None:
    folder = kind in (OutputKind.FOLDER, OutputKind.TREE)
    if out.exists():
        if folder and not out.is_dir():
            return "exists and is not a folder"
        if not folder and out.is_dir():
            return "is an existing folder; give a file path"
        if not folder and not out.is_file():
            return "exists and is not a regular file"
        return None
    for parent in out.parents:
        if parent.exists():
            return None if parent.is_dir() else "lies under a file, not a folder"
    return None


def _output_clash(out: Path, others: PathMap) -> str | None:
    for name, other in _given(others):
        if out == other or _same_file(out, other):
            return f"must not be the same path as {name}"
        if out.is_relative_to(other) or other.is_relative_to(out):
            return f"must not lie inside or around {name}"
    return None


def _release_clash(out: Path, releases: PathMap, kind: OutputKind) -> str | None:
    why = _release_reason(out, releases, kind)
    if why is None:
        return None
    return f"must not lie in a release tree ({why}): it holds identifiers or dates"


def _release_reason(out: Path, releases: PathMap, kind: OutputKind) -> str | None:
    for name, release in _given(releases):
        if out.is_relative_to(release):
            return f"{name} is the release"
    folder = out if kind in (OutputKind.FOLDER, OutputKind.TREE) else out.parent
    for parent in (folder, *folder.parents):
        if (parent / RELEASE_MARKER).exists():
            return f"a folder above it holds a {RELEASE_MARKER} marker"
        if parent.name and parent.with_name(parent.name + RUN_REPORT_SUFFIX).exists():
            return "a folder above it has a deidkit run report beside it"
    if kind is OutputKind.FOLDER and out.is_dir():
        return _release_content(out)
    return None


def _release_content(folder: Path) -> str | None:
    """Why the existing ``folder`` already looks like a release (a bounded scan), or None."""
    for name in RUN_REPORT_NAMES:
        if (folder / name).exists():
            return "it holds a deidkit run report"
    scanned = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if _looks_like_dicom(Path(root) / name):
                return "it holds DICOM files"
            scanned += 1
            if scanned >= _MAX_FILES_SCANNED:
                return None
    return None


def _looks_like_dicom(path: Path) -> bool:
    if path.suffix.casefold() == ".dcm":
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _existing_clash(
    out: Path, kind: OutputKind, *, force: bool, force_option: str | None
) -> str | None:
    if kind is not OutputKind.FILE or force or not out.exists():
        return None
    if force_option is None:
        return "already exists; refusing to replace it"
    return f"already exists; use {force_option} to replace it"


def check_output_location(source: Path, output: Path) -> None:
    """Refuse an OUTPUT tree that equals INPUT, lies inside it, or contains it.

    :func:`check_output_path` with ``kind=TREE`` and INPUT as the only input.

    Raises
    ------
    OutputPathError
        If writing to ``output`` could modify or mix with ``source``.
    """
    reason = _input_clash(Path(os.path.realpath(output)), {"INPUT": source}, OutputKind.TREE)
    if reason is not None:
        raise OutputPathError(f"OUTPUT {reason}")
