"""Safe file output: atomic writes and checks that never let an output touch the input."""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from deidkit.core.errors import OutputPathError


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
) -> Iterator[IO[bytes]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temp file is removed and ``path`` is left untouched, so a
    reader never sees a partial file. ``permissions`` defaults to what a plain ``open``
    would give (0666 less the umask); pass 0o600 for secrets.

    ``durable=False`` skips the two fsyncs (file and folder). The rename is still atomic, so
    no reader sees a partial file; a batch that writes thousands of files uses it and makes
    the whole batch durable with one ``os.sync()`` before it declares the run complete.
    ``buffering`` is :func:`open`'s (a long log written line by line wants a big buffer).
    """
    if "w" not in mode:
        raise ValueError("atomic_open only supports write modes")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _default_permissions() if permissions is None else permissions)
        with os.fdopen(fd, mode, buffering=buffering) as handle:
            yield handle
            handle.flush()
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
    (``O_EXCL``, mode 0666 less the umask, as a plain ``open`` gives), writes the bytes,
    and renames it over the target: a reader never sees a partial file, and on any error
    the temp file is removed. Unlike :func:`atomic_write_bytes` it neither fsyncs nor
    creates the target's folder again for every file: the folders it made or saw are
    remembered (a bounded set). The caller makes the batch durable at the end (one
    ``os.sync()``).

    One instance per process: the process id in the temp name keeps concurrent writers
    apart, and a temp name left by an interrupted run is skipped, never reused.
    """

    _MAX_FOLDERS = 4096  # remembered folders; the set is cleared when it grows past this

    def __init__(self) -> None:
        self._folders: set[str] = set()
        self._counter = itertools.count()

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
        try:
            try:
                view = memoryview(data)
                while view:  # os.write may write less than asked (signals, huge buffers)
                    view = view[os.write(fd, view) :]
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
                return tmp, os.open(tmp, flags, 0o666)
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


def check_output_location(source: Path, output: Path) -> None:
    """Refuse an output that equals the input, lies inside it, or contains it.

    Raises
    ------
    OutputPathError
        If writing to ``output`` could modify or mix with ``source``.
    """
    src = source.resolve()
    out = output.resolve()
    if out == src:
        raise OutputPathError("OUTPUT must not be the same location as INPUT")
    if src.is_dir() and out.is_relative_to(src):
        raise OutputPathError("OUTPUT must not lie inside INPUT")
    if out.is_dir() and src.is_relative_to(out):
        raise OutputPathError("INPUT must not lie inside OUTPUT")
