"""Encrypted, authenticated, append-only linkage store: original -> pseudonym pairs.

Only a holder of the linkage key can go back from a pseudonym to the patient. The file
holds no plaintext identifier: every record is sealed with AES-256-GCM.

File format (version 1)
-----------------------
``header`` (48 bytes, written once)::

    magic   b"DKLINK\\x00\\x01"        8 bytes (format name + version)
    mode    1 byte                    0 = key derived from the project key, 1 = separate key
    pad     3 bytes (zero)
    file_id 16 random bytes           salt of this file's encryption key
    kcv     16 bytes                  key check value: HMAC(linkage key, file_id), truncated
    fp      4 bytes                   first bytes of the project key fingerprint

``record`` (appended, any number)::

    length  4 bytes big-endian        length of nonce + ciphertext
    check   4 bytes                   CRC-32 of the length (seeded): tells damage from a torn end
    nonce   12 random bytes
    sealed  AES-GCM(JSON list of [kind, original, pseudonym]), 16-byte tag included

The record's AAD is the header plus the record's byte offset, so a record cannot be moved,
reordered, dropped from the middle or copied into another file without failing
authentication. A record only counts once fully written and fsynced; a crash mid-append
leaves a *torn tail* (a short or zero-filled prefix, or a body shorter than its length
promises), which readers report
and skip and the next append truncates. Earlier records are never rewritten. Whole records
cut from the end of the file cannot be detected by the file alone (keep the run reports).

:meth:`LinkageStore.check` (``deidkit linkage check``) reads up to the first record it cannot
read and reports how many records and entries it read and the index of the record where it
stopped: a torn tail (``truncated``), a record that fails authentication or whose length is
damaged (``damaged``), or no record at all after the header (``no_records``: every append
writes one, so such a file was cut). Any of these makes the file incomplete (the command
exits 1); counts and positions only, never a value.

Appends take an exclusive ``fcntl.flock`` on the file, so parallel workers and concurrent
runs never interleave records (POSIX only).

Which key encrypts
------------------
By default the encryption key is derived from the project key (HMAC purpose
``linkage-aead``): one secret to manage, but every site holding the project key can also
re-identify. A separate ``--linkage-key-file`` keeps re-identification with one custodian
while sites share only the pseudonymisation key; losing that file makes the linkage
unreadable for good.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import logging
import os
import secrets
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from deidkit.core.errors import LinkageError
from deidkit.core.keys import ProjectKey, load_key, load_key_file

logger = logging.getLogger(__name__)

MAGIC = b"DKLINK\x00\x01"
HEADER_SIZE = 48
NONCE_SIZE = 12
PREFIX_SIZE = 8
_PREFIX_SEED = 0x444B4C4B  # CRC start value: an all-zero prefix never checks out
TAG_SIZE = 16
MODE_DERIVED = 0
MODE_SEPARATE = 1
PURPOSE_AEAD = "linkage-aead"
PURPOSE_KCV = "linkage-kcv"

#: Entry kinds written by scrub and pseudonymise. ``DateOffset``: original = patient id,
#: pseudonym = the offset in days as text.
ENTRY_KINDS = (
    "PatientID",
    "PatientName",
    "AccessionNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "UID",
    "StudyID",
    "DateOffset",
    "Site",
    "Identifier",
)
UID_KINDS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "UID"})

ERR_WRONG_KEY = (
    "linkage file {name}: the key does not open it (key check value mismatch); "
    "it was written with {mode}"
)
ERR_TAMPERED = (
    "linkage file {name}: record at byte {offset} failed authentication; "
    "the file was modified or damaged"
)
ERR_NOT_LINKAGE = "linkage file {name} is not a deidkit linkage file (bad header)"
ERR_OTHER_PROJECT = (
    "linkage file {name} belongs to a different project key; refusing to mix pseudonyms"
)


@dataclass(frozen=True)
class LinkageEntry:
    """One original -> pseudonym pair (the original is PHI: never log it)."""

    kind: str
    original: str
    pseudonym: str

    def as_dict(self) -> dict[str, str]:
        """``{"kind", "original", "pseudonym"}``: the JSON form of exports and reidentify."""
        return {"kind": self.kind, "original": self.original, "pseudonym": self.pseudonym}


@dataclass(frozen=True)
class LinkageCheck:
    """Result of reading a linkage file up to its end or its first unreadable record.

    Counts and positions only, no values. ``records`` and ``entries`` count what was read;
    ``damage`` is the error that stopped the reading (it names the file and a byte offset).
    """

    records: int
    entries: int
    torn_tail_bytes: int
    damage: str | None = None

    @property
    def problem(self) -> str | None:
        """``damaged``, ``truncated``, ``no_records``, or None for a complete file."""
        if self.damage is not None:
            return "damaged"
        if self.torn_tail_bytes:
            return "truncated"
        return "no_records" if self.records == 0 else None

    @property
    def complete(self) -> bool:
        """Every byte of the file was read as authenticated records (and there is one)."""
        return self.problem is None

    @property
    def stopped_at_record(self) -> int | None:
        """Index (from 0) of the record where reading stopped; None when it reached the end."""
        return None if self.complete else self.records

    def to_json(self) -> dict[str, int | str | bool | None]:
        """The counts as ``deidkit linkage check --json`` prints them."""
        return {
            "records": self.records,
            "entries": self.entries,
            "torn_tail_bytes": self.torn_tail_bytes,
            "complete": self.complete,
            "problem": self.problem,
            "stopped_at_record": self.stopped_at_record,
        }


class _RecordDamaged(LinkageError):
    """A record cannot be read though header and key are fine (check counts up to it)."""


def _mode_text(mode: int) -> str:
    if mode == MODE_SEPARATE:
        return "a separate linkage key (--linkage-key-file)"
    return "a key derived from the project key"


class LinkageStore:
    """An encrypted append-only linkage file.

    Parameters
    ----------
    path
        The linkage file; created on the first append.
    key
        The project key. It derives the encryption key unless ``linkage_key`` is given,
        and its fingerprint guards against mixing projects in one file.
    linkage_key
        A separate encryption key (see the module docstring for the trade-off).
    """

    def __init__(
        self, path: Path, *, key: ProjectKey, linkage_key: ProjectKey | None = None
    ) -> None:
        self.path = Path(path)
        self._key = key
        self._secret_key = linkage_key if linkage_key is not None else key
        self._mode = MODE_SEPARATE if linkage_key is not None else MODE_DERIVED
        self._seen: set[tuple[str, str, str]] = set()
        self.torn_tail_bytes = 0

    # -- header -------------------------------------------------------------------------
    def _kcv(self, file_id: bytes) -> bytes:
        return self._secret_key.digest(PURPOSE_KCV, file_id)[:16]

    def _new_header(self) -> bytes:
        file_id = secrets.token_bytes(16)
        fp = bytes.fromhex(self._key.fingerprint)[:4]
        return MAGIC + bytes([self._mode, 0, 0, 0]) + file_id + self._kcv(file_id) + fp

    def _open_header(self, header: bytes, *, for_append: bool) -> AESGCM:
        name = self.path.name
        if len(header) != HEADER_SIZE or header[:8] != MAGIC:
            raise LinkageError(ERR_NOT_LINKAGE.format(name=name))
        mode, file_id, kcv, fp = header[8], header[12:28], header[28:44], header[44:48]
        if not hmac.compare_digest(kcv, self._kcv(file_id)):
            raise LinkageError(ERR_WRONG_KEY.format(name=name, mode=_mode_text(mode)))
        if for_append and fp != bytes.fromhex(self._key.fingerprint)[:4]:
            raise LinkageError(ERR_OTHER_PROJECT.format(name=name))
        return AESGCM(self._secret_key.digest(PURPOSE_AEAD, file_id))

    # -- records ------------------------------------------------------------------------
    def _frames(self, handle: BinaryIO) -> Iterator[tuple[int, int]]:
        """Yield (offset, body length) per complete record; note a torn tail.

        The length prefix carries its own check, so a modified length is reported as
        damage instead of being mistaken for a torn tail (which an append would drop).
        """
        size = os.fstat(handle.fileno()).st_size
        offset = HEADER_SIZE
        self.torn_tail_bytes = 0
        while offset < size:
            handle.seek(offset)
            prefix = handle.read(PREFIX_SIZE)
            if len(prefix) == PREFIX_SIZE and _prefix_ok(prefix):
                length = struct.unpack(">I", prefix[:4])[0]
                if offset + PREFIX_SIZE + length <= size:
                    yield offset, length
                    offset += PREFIX_SIZE + length
                    continue
            elif len(prefix) == PREFIX_SIZE and (prefix + handle.read(size)).strip(b"\x00"):
                raise _RecordDamaged(ERR_TAMPERED.format(name=self.path.name, offset=offset))
            # Short prefix, zero-filled tail or a body cut short: an interrupted append.
            self.torn_tail_bytes = size - offset
            logger.warning(
                "linkage file %s ends in a torn record (%d bytes, an interrupted append); "
                "earlier records are intact",
                self.path.name,
                self.torn_tail_bytes,
            )
            return

    def _scan(
        self, handle: BinaryIO, header: bytes, aead: AESGCM, *, eager: bool = True
    ) -> Iterator[tuple[int, bytes]]:
        """Yield (offset, plaintext) per record, authenticating each.

        ``eager`` checks the framing of the whole file before the first record is yielded,
        so a reader never acts on part of a damaged file; :meth:`check` reads lazily, to
        count the records before the damage.
        """
        frames = self._frames(handle)
        for offset, length in list(frames) if eager else frames:
            handle.seek(offset + PREFIX_SIZE)
            body = handle.read(length)
            aad = header + struct.pack(">Q", offset)
            try:
                if length < NONCE_SIZE + TAG_SIZE:
                    raise InvalidTag
                plain = aead.decrypt(body[:NONCE_SIZE], body[NONCE_SIZE:], aad)
            except InvalidTag:
                raise _RecordDamaged(
                    ERR_TAMPERED.format(name=self.path.name, offset=offset)
                ) from None
            yield offset, plain

    def _read_header(self, handle: BinaryIO) -> bytes:
        handle.seek(0)
        return handle.read(HEADER_SIZE)

    def check_writable(self) -> None:
        """Raise :class:`LinkageError` now if :meth:`append` would refuse this file.

        Lets a command fail before it writes any output (wrong key, other project).
        """
        if not self.path.is_file():
            return
        with self.path.open("rb") as handle:
            header = handle.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE and MAGIC.startswith(header[:8]):
            return  # empty, or a header torn before any record: the first append starts afresh
        self._open_header(header, for_append=True)

    def append(self, entries: Iterable[LinkageEntry]) -> int:
        """Append entries as one sealed record; return how many new entries were written.

        Entries this store object already wrote are skipped (SOP Instance UIDs, unique
        per file, are not tracked). Safe across processes: the
        write happens under an exclusive lock and is fsynced before returning.
        """
        batch: list[list[str]] = []
        for entry in entries:
            item = (entry.kind, entry.original, entry.pseudonym)
            if entry.kind == "SOPInstanceUID":
                # One per file: remembering them would only cost memory on big batches.
                batch.append(list(item))
            elif item not in self._seen:
                self._seen.add(item)
                batch.append(list(item))
        if not batch:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+b") as handle, _locked(handle, exclusive=True):
            header = self._read_header(handle)
            if len(header) < HEADER_SIZE and MAGIC.startswith(header[:8]):
                # Empty, or a header torn by a crash before any record existed: start afresh.
                handle.truncate(0)
                header = self._new_header()
                handle.seek(0)
                handle.write(header)
                handle.flush()
                os.fsync(handle.fileno())
            aead = self._open_header(header, for_append=True)
            end = HEADER_SIZE
            for offset, length in self._frames(handle):
                end = offset + PREFIX_SIZE + length
            if self.torn_tail_bytes:
                # The torn record was never acknowledged (its writer crashed): drop it.
                handle.truncate(end)
                logger.warning("linkage file %s: dropped a torn tail record", self.path.name)
            plaintext = json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode()
            nonce = secrets.token_bytes(NONCE_SIZE)
            sealed = aead.encrypt(nonce, plaintext, header + struct.pack(">Q", end))
            handle.seek(end)
            handle.write(_prefix(len(nonce) + len(sealed)) + nonce + sealed)
            handle.flush()
            os.fsync(handle.fileno())
        return len(batch)

    def _records(self, *, eager: bool = True) -> Iterator[list[LinkageEntry]]:
        """Yield the entries of each authenticated record, holding a shared lock."""
        if not self.path.exists():
            raise LinkageError(f"linkage file {self.path.name} does not exist")
        with self.path.open("rb") as handle, _locked(handle, exclusive=False):
            header = self._read_header(handle)
            if len(header) < HEADER_SIZE and MAGIC.startswith(header[:8]):
                self.torn_tail_bytes = len(header)  # crashed before the first record
                return
            aead = self._open_header(header, for_append=False)
            for offset, plain in self._scan(handle, header, aead, eager=eager):
                try:
                    items = json.loads(plain.decode("utf-8"))
                    record = [LinkageEntry(str(k), str(o), str(p)) for k, o, p in items]
                except (ValueError, TypeError):
                    raise _RecordDamaged(
                        ERR_TAMPERED.format(name=self.path.name, offset=offset)
                    ) from None
                yield record

    def entries(self) -> Iterator[LinkageEntry]:
        """Decrypt and authenticate every record, yielding its entries in file order.

        Raises
        ------
        LinkageError
            If the key is wrong, the file is not a linkage file, or a record was modified.
        """
        for record in self._records():
            yield from record

    def check(self) -> LinkageCheck:
        """Read the file up to its end or its first unreadable record, counting both.

        A damaged record or a truncated file is reported (:attr:`LinkageCheck.problem`),
        not raised, so the caller learns how much is readable and where reading stopped.

        Raises
        ------
        LinkageError
            If nothing can be read: no such file, not a linkage file, or the wrong key.
        """
        records = entries = 0
        damage = None
        try:
            for record in self._records(eager=False):
                records += 1
                entries += len(record)
        except _RecordDamaged as exc:
            damage = str(exc)
        return LinkageCheck(
            records=records, entries=entries, torn_tail_bytes=self.torn_tail_bytes, damage=damage
        )

    def unique_entries(self) -> list[LinkageEntry]:
        """All distinct entries, sorted by kind, pseudonym and original (stable exports)."""
        unique = set(self.entries())
        return sorted(unique, key=lambda e: (e.kind, e.pseudonym, e.original))

    def lookup(self, pseudonym: str) -> list[LinkageEntry]:
        """Entries whose pseudonym is ``pseudonym``, plus the date offset of a patient found.

        ``DateOffset`` entries are never matched by their value (many patients share one).
        """
        return self.lookup_many([pseudonym])[pseudonym.strip()]

    def lookup_many(self, pseudonyms: Iterable[str]) -> dict[str, list[LinkageEntry]]:
        """:meth:`lookup` for many pseudonyms in one pass over the file."""
        wanted: dict[str, list[LinkageEntry]] = {p.strip(): [] for p in pseudonyms}
        offsets: dict[str, list[LinkageEntry]] = {}
        for entry in self.entries():
            if entry.kind == "DateOffset":
                offsets.setdefault(entry.original, []).append(entry)
            elif entry.pseudonym in wanted:
                wanted[entry.pseudonym].append(entry)
        for pseudonym, found in wanted.items():
            unique = list(dict.fromkeys(found))
            for entry in list(unique):
                if entry.kind == "PatientID":
                    # DateOffset is keyed by the original patient id; accept the
                    # pseudonym too, so either convention of a writer is found.
                    unique.extend(offsets.get(entry.original, []))
                    unique.extend(offsets.get(entry.pseudonym, []))
            wanted[pseudonym] = list(dict.fromkeys(unique))
        return wanted


def open_linkage(
    path: Path, *, key: ProjectKey, linkage_key_file: Path | None = None
) -> LinkageStore:
    """The linkage store at ``path`` for ``key``, encrypted with a separate key if one is given.

    Nothing is read from ``path`` yet (it may not exist: the first append creates it).

    Raises
    ------
    KeyFileError
        If ``linkage_key_file`` cannot be loaded (missing, malformed, readable by others).
    """
    linkage_key = None
    if linkage_key_file is not None:
        linkage_key = load_key_file(linkage_key_file, option="--linkage-key-file")
    return LinkageStore(path, key=key, linkage_key=linkage_key)


def open_linkage_reader(
    path: Path,
    *,
    key_file: Path | None = None,
    linkage_key_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> LinkageStore:
    """Open the linkage store at ``path`` for reading (reidentify, export, check).

    The project key comes from ``key_file``, else ``$DEIDKIT_KEY`` (``env``, default the
    process environment). Reading needs only the key that encrypts: with a separate
    ``linkage_key_file`` the project key is optional (it guards appends only) and a random
    stand-in is used when none is given.

    Raises
    ------
    KeyFileError
        If no project key is given and there is no separate linkage key, or a key file
        cannot be loaded.
    """
    key = load_key(key_file, env=env, allow_ephemeral=linkage_key_file is not None)
    return open_linkage(path, key=key, linkage_key_file=linkage_key_file)


def _prefix(length: int) -> bytes:
    packed = struct.pack(">I", length)
    return packed + struct.pack(">I", zlib.crc32(packed, _PREFIX_SEED))


def _prefix_ok(prefix: bytes) -> bool:
    return bool(struct.unpack(">I", prefix[4:])[0] == zlib.crc32(prefix[:4], _PREFIX_SEED))


@contextlib.contextmanager
def _locked(handle: BinaryIO, *, exclusive: bool) -> Iterator[None]:
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
