"""Where a command reads and writes: a local path or an fsspec URL (``s3://``, ``gs://``, ...).

A :class:`Location` is parsed once from what the user gave (:meth:`Location.parse`):

* a plain path, or a ``file://`` URL, is a local path and every stage treats it exactly as
  before (the local pipeline, its atomic temp-file-and-rename writes);
* any other ``scheme://`` is an fsspec file system and a root inside it. fsspec is imported
  only here and only then; a missing fsspec (the ``cloud`` extra) or a missing backend (s3fs
  for ``s3://``, gcsfs for ``gs://``) is a :class:`~deidkit.core.errors.UsageError` (exit 2)
  naming the package, never more of the URL than its scheme.

A location holds only its protocol and root, so it pickles into worker processes and Dask
tasks; each process asks fsspec for the file system when it first needs it (fsspec caches one
instance per process; credentials come from fsspec's configuration and the environment, e.g.
``AWS_PROFILE``, never from the command line). ``memory://`` lives in one process's memory:
only an in-process run (or a Dask cluster of threads in that process) sees it
(:attr:`Location.shared`).

Atomic writes: a single object put is atomic on object stores (and in memory), so
:meth:`Location.put_bytes` puts each file once; on any other file system it writes a temp name
beside the target and moves it over (:data:`TEMP_PREFIX`), as the local writes do.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from deidkit.core.errors import UsageError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "CLOUD_EXTRA",
    "TEMP_PREFIX",
    "Location",
    "is_url",
]

#: The extra that installs fsspec.
CLOUD_EXTRA: Final = "cloud"
#: Temp objects of a non-atomic file system's writes start with this (and end in ``.part``).
TEMP_PREFIX: Final = ".tmp-"
_URL: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# The package that implements a protocol, for the message when it is missing.
_BACKENDS: Final = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}
# Object stores (and memory) make one put visible whole or not at all.
_ATOMIC_PUT: Final = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})
_IN_PROCESS: Final = frozenset({"memory"})
_BACKEND_LOGGERS: Final = ("fsspec", "s3fs", "gcsfs", "adlfs", "botocore", "aiobotocore", "google")


def is_url(text: str | Path) -> bool:
    """Whether ``text`` is a ``scheme://`` URL (a ``Path`` never is: it has lost a slash)."""
    return isinstance(text, str) and _URL.match(text) is not None


def _import_fsspec(option: str, scheme: str) -> Any:
    try:
        import fsspec
    except ImportError as exc:
        raise UsageError(
            f"{option} is a {scheme}:// URL: URLs need the optional package 'fsspec' of the "
            f"'{CLOUD_EXTRA}' extra: pip install 'deidkit-auditkit[{CLOUD_EXTRA}]'"
        ) from exc
    return fsspec


def _filesystem_class(option: str, scheme: str) -> Any:
    fsspec = _import_fsspec(option, scheme)
    try:
        return fsspec.get_filesystem_class(scheme)
    except ImportError as exc:
        package = _BACKENDS.get(scheme, f"the fsspec backend of {scheme}://")
        raise UsageError(
            f"{option} is a {scheme}:// URL, which needs the package {package} (not part of "
            f"the '{CLOUD_EXTRA}' extra): pip install {package}"
            if scheme in _BACKENDS
            else f"{option} is a {scheme}:// URL, which needs {package}"
        ) from exc
    except ValueError as exc:
        raise UsageError(
            f"{option}: {scheme}:// is not a protocol fsspec knows (the '{CLOUD_EXTRA}' "
            "extra reads local paths, file://, memory:// and, with their packages, s3:// "
            "(s3fs), gs:// (gcsfs) and the other fsspec protocols)"
        ) from exc


@dataclass(frozen=True)
class Location:
    """A local path (``protocol == ""``) or a root in an fsspec file system.

    Parameters
    ----------
    protocol
        fsspec's protocol name (``s3``, ``memory``); empty for a local path.
    root
        The local path, or the fsspec path without its protocol (``bucket/export``,
        ``/in``), without a trailing slash.
    """

    protocol: str
    root: str

    @classmethod
    def parse(cls, given: str | Path, *, option: str) -> Location:
        """Read what the user gave for ``option`` (``INPUT``, ``OUTPUT``, ``RELEASE``).

        Raises
        ------
        UsageError
            The URL's protocol is unknown, or fsspec or its backend is not installed. The
            message names ``option`` and the scheme only.
        """
        text = str(given) if isinstance(given, Path) else given
        match = _URL.match(text) if isinstance(given, str) else None
        if match is None:
            return cls("", text)
        scheme = match.group(1).lower()
        if scheme == "file":
            rest = text[match.end() :]
            rest = rest.removeprefix("localhost")
            if not rest.startswith("/"):
                raise UsageError(f"{option}: a file:// URL needs an absolute path (file:///...)")
            return cls("", rest)
        fs_class = _filesystem_class(option, scheme)
        root = str(fs_class._strip_protocol(text)).rstrip("/") or "/"
        return cls(scheme, root)

    # -- what it is ----------------------------------------------------------------------

    @property
    def is_remote(self) -> bool:
        """Whether this is an fsspec URL (not a local path)."""
        return bool(self.protocol)

    @property
    def shared(self) -> bool:
        """Whether other processes see the same files (``memory://`` is one process's)."""
        return self.protocol not in _IN_PROCESS

    @property
    def local_path(self) -> Path:
        """The local path (:meth:`parse` turned ``file://`` into one)."""
        if self.is_remote:
            raise ValueError("not a local path")
        return Path(self.root)

    @property
    def url(self) -> str:
        """The location as a URL (a local one as its path)."""
        return f"{self.protocol}://{self.root}" if self.is_remote else self.root

    def __str__(self) -> str:
        return self.url

    @property
    def fs(self) -> AbstractFileSystem:
        """This process's fsspec file system (configured by fsspec's config and environment)."""
        import fsspec

        _quiet_backend_logs()
        filesystem: AbstractFileSystem = fsspec.filesystem(self.protocol)
        return filesystem

    # -- paths ---------------------------------------------------------------------------

    def child(self, rel: str) -> str:
        """The fsspec path of ``rel`` (POSIX, relative) below the root."""
        return f"{self.root.rstrip('/')}/{rel}"

    def with_suffix_beside(self, suffix: str) -> Location:
        """The location named like this one plus ``suffix``, beside it (run report, log)."""
        return Location(self.protocol, self.root.rstrip("/") + suffix)

    def overlaps(self, other: Location) -> bool:
        """Whether the two are the same place or one lies inside the other."""
        if self.protocol != other.protocol:
            return False
        a, b = self.root.rstrip("/") + "/", other.root.rstrip("/") + "/"
        return a.startswith(b) or b.startswith(a)

    # -- reading -------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the root exists (a file or a folder)."""
        return bool(self.fs.exists(self.root))

    def is_file(self) -> bool:
        """Whether the root is a single file."""
        return bool(self.fs.isfile(self.root))

    def is_empty(self) -> bool:
        """Whether nothing lies below the root (a missing root is empty)."""
        fs = self.fs
        if not fs.isdir(self.root):
            return not fs.exists(self.root)
        with _fresh_listing(fs, self.root):
            return not any(self._entries(fs, self.root))

    def is_dir(self) -> bool:
        """Whether the root is a folder (on an object store: a prefix with objects below)."""
        return bool(self.fs.isdir(self.root))

    def download(self, into: Path) -> int:
        """Copy every file below the root to the local folder ``into`` (same relative paths).

        Streams file by file (one file's bytes in memory); returns how many were copied.
        The caller owns ``into`` (a private temp folder: the files may hold PHI).
        """
        copied = 0
        made: set[Path] = set()
        for path, rel, _size in self.walk():
            parts = rel.split("/")
            if any(part in ("", ".", "..") for part in parts):
                continue  # an object key no folder can hold (it would point outside ``into``)
            target = into.joinpath(*parts)
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                if len(made) > 4096:
                    made.clear()
                made.add(target.parent)
            target.write_bytes(self.read_bytes(path))
            copied += 1
        return copied

    def read_bytes(self, path: str) -> bytes:
        """The whole content of one file (``path`` as :meth:`child` or :meth:`walk` gave it)."""
        data: bytes = self.fs.cat_file(path)
        return data

    def read_root(self) -> bytes | None:
        """The content of the root as a file, or ``None`` when there is none."""
        try:
            return self.read_bytes(self.root)
        except (FileNotFoundError, IsADirectoryError):
            return None

    def walk(self) -> Iterator[tuple[str, str, int]]:
        """``(fsspec path, relative POSIX path, size)`` of every file, sorted as a local walk.

        Streams: one folder listing is held per level (and dropped from fsspec's listing
        cache once read), never the whole tree. A root that is a file yields itself.

        Raises
        ------
        UsageError
            If the root does not exist (the message does not name it).
        """
        fs = self.fs
        if fs.isfile(self.root):
            info = fs.info(self.root)
            yield self.root, posixpath.basename(self.root), int(info.get("size") or 0)
            return
        if not fs.isdir(self.root):
            raise UsageError(f"{self.protocol}:// location does not exist")
        yield from self._walk(fs, self.root, "")

    def _walk(
        self, fs: AbstractFileSystem, folder: str, prefix: str
    ) -> Iterator[tuple[str, str, int]]:
        try:
            with _fresh_listing(fs, folder):
                entries = sorted(self._entries(fs, folder), key=lambda e: e[0])
        except OSError:
            return  # an unreadable folder holds nothing we can release
        for name, path, kind, size in entries:
            rel = f"{prefix}{name}"
            if kind == "directory":
                yield from self._walk(fs, path, rel + "/")
            elif kind == "file":
                yield path, rel, size

    @staticmethod
    def _entries(fs: AbstractFileSystem, folder: str) -> Iterator[tuple[str, str, str, int]]:
        here = folder.rstrip("/")
        for entry in fs.ls(folder, detail=True):
            path = str(entry["name"]).rstrip("/")
            if path == here or not path:
                continue  # some object stores list a folder's own placeholder
            kind = str(entry.get("type"))
            if entry.get("islink"):
                # As the local walk: a linked file is read, a linked folder (it can loop) not.
                kind = "file" if kind == "file" or fs.isfile(path) else "link"
            yield posixpath.basename(path), path, kind, int(entry.get("size") or 0)

    # -- writing -------------------------------------------------------------------------

    @property
    def atomic_put(self) -> bool:
        """Whether one put of a file is atomic here (object stores, memory)."""
        return self.protocol in _ATOMIC_PUT

    def makedirs(self) -> None:
        """Create the root folder where the file system has folders (object stores do not)."""
        if self.protocol not in _ATOMIC_PUT or self.protocol in _IN_PROCESS:
            self.fs.makedirs(self.root, exist_ok=True)

    def put_bytes(self, path: str, data: bytes) -> None:
        """Write one file so that a reader sees all of ``data`` or the file as it was.

        Raises
        ------
        OSError
            (or the backend's own error) when the write fails; no temp object is left.
        """
        fs = self.fs
        if self.atomic_put:
            fs.pipe_file(path, data)
            return
        with self._temp_beside(fs, path) as tmp:
            fs.pipe_file(tmp, data)
            fs.mv(tmp, path)

    def put_file(self, local: Path, path: str) -> None:
        """Upload the local file ``local`` to ``path``, atomically as :meth:`put_bytes`."""
        fs = self.fs
        if self.atomic_put:
            fs.put_file(str(local), path)
            return
        with self._temp_beside(fs, path) as tmp:
            fs.put_file(str(local), tmp)
            fs.mv(tmp, path)

    @contextlib.contextmanager
    def _temp_beside(self, fs: AbstractFileSystem, path: str) -> Iterator[str]:
        folder = posixpath.dirname(path)
        fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/{TEMP_PREFIX}{uuid.uuid4().hex}.part"
        try:
            yield tmp
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            raise

    def remove_temp_files(self) -> None:
        """Remove the temp objects interrupted writes left (none where puts are atomic)."""
        if self.atomic_put:
            return
        fs = self.fs
        for path, rel, _size in self.walk():
            name = rel.rsplit("/", 1)[-1]
            if name.startswith(TEMP_PREFIX) and name.endswith(".part"):
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(path)


def _quiet_backend_logs() -> None:
    """Keep fsspec's and the backends' logs below ERROR quiet, ``--verbose`` or not.

    Their debug and warning lines quote object keys, i.e. input paths, which name patients;
    a failure reaches the caller as an exception, reported by its type.
    """
    for name in _BACKEND_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.ERROR:
            logger.setLevel(logging.ERROR)


@contextlib.contextmanager
def _fresh_listing(fs: AbstractFileSystem, folder: str) -> Iterator[None]:
    # fsspec keeps every listing it made (dircache); a walk of millions of files would keep
    # them all. Each folder is listed fresh and forgotten once read.
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            fs.invalidate_cache(folder)
