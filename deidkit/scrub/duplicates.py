"""Settle input files that map to one output (the same instance exported twice).

A PACS export often holds one instance twice (two exports, a copy in another folder, the
same image in two transfer syntaxes). Both copies get the same new identifiers, hence the
same output path. Workers race to write it, so without a rule the bytes in the release
would depend on timing. The rule: the first input in walk order owns the output, whatever
the worker count. A later copy whose output is byte-identical is skipped as a
``duplicate``; one whose output differs is held back as an ``output_conflict``. When a later
copy reached the disk first, the owner is scrubbed again in the parent and its bytes put
back (atomically), so the release is the same as a one-worker run.

Memory: one small integer pair per released file (hashes of the output path and of its
bytes, and the walk index), not the paths themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Final

from deidkit.core.runreport import (
    RELEASED_STATUSES,
    STATUS_HELD_BACK,
    STATUS_SKIPPED,
    STATUS_WRITTEN,
    FileOutcome,
)
from deidkit.scrub.inputs import iter_input_files
from deidkit.scrub.per_file import REASON_CONFLICT, WorkerConfig, process_file

REASON_DUPLICATE: Final = "duplicate"
DETAIL_DUPLICATE: Final = "an earlier input has the same new identifiers and identical output"
DETAIL_CONFLICT: Final = "an earlier input has the same new identifiers; its output is kept"


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


class DuplicateSettler:
    """Apply the first-in-walk-order rule to outcomes as they arrive, in walk order.

    Parameters
    ----------
    source
        The input root (to find an owner's file again when it must be rewritten).
    config
        The workers' configuration (the parent scrubs an owner again with it).
    rescrub
        How to scrub one file again, overwriting its output (tests may observe calls).
    """

    def __init__(
        self,
        source: Path,
        config: WorkerConfig,
        rescrub: Callable[[Path | str, str, WorkerConfig], FileOutcome] | None = None,
    ) -> None:
        self._source = Path(source)
        self._config = config
        self._rescrub = rescrub or (lambda p, r, c: process_file(p, r, c, overwrite=True))
        self._index = -1
        # hash(output path) -> (walk index of the owner, hash of the owner's bytes)
        self._owners: dict[int, tuple[int, int]] = {}

    def settle(self, outcome: FileOutcome) -> FileOutcome:
        """Return the outcome to record for this input (possibly a duplicate/conflict)."""
        self._index += 1
        target = outcome.target
        claims = outcome.status in RELEASED_STATUSES or (
            outcome.status == STATUS_HELD_BACK and outcome.reason == REASON_CONFLICT
        )
        if target is None or not claims:
            return outcome
        key = _hash64(target)
        digest = _hash64(outcome.digest or "")
        owner = self._owners.get(key)
        if owner is None:
            self._owners[key] = (self._index, digest)
            if outcome.status == STATUS_HELD_BACK and not self._config.dry_run:
                # A later copy (another worker) wrote this output first: the owner's bytes win.
                return self._rewrite(outcome.source)
            return outcome
        owner_index, owner_digest = owner
        if outcome.status == STATUS_WRITTEN and digest != owner_digest:
            # This later copy replaced the owner's bytes in a race: put them back.
            self._rewrite(self._relpath(owner_index))
        if digest == owner_digest:
            status, reason, detail = STATUS_SKIPPED, REASON_DUPLICATE, DETAIL_DUPLICATE
        else:
            status, reason, detail = STATUS_HELD_BACK, REASON_CONFLICT, DETAIL_CONFLICT
        return replace(
            outcome,
            status=status,
            reason=reason,
            detail=detail,
            output=None,
            linkage=(),
            cohort=None,
            ids=None,
        )

    def _path(self, rel: str) -> Path | str:
        remote = self._config.source  # INPUT is a URL: find the file there
        if remote is not None:
            return remote.root if remote.is_file() else remote.child(rel)
        return self._source / rel if self._source.is_dir() else self._source

    def _relpath(self, index: int) -> str:
        remote = self._config.source
        walk = (
            (rel for _path, rel, _size in remote.walk())
            if remote is not None
            else (item.relpath for item in iter_input_files(self._source))
        )
        for i, rel in enumerate(walk):
            if i == index:
                return rel
        raise LookupError("input file vanished during the run")  # pragma: no cover

    def _rewrite(self, rel: str) -> FileOutcome:
        return self._rescrub(self._path(rel), rel, self._config)
