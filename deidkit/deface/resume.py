"""Resume a deface run: skip the image groups an earlier run into the same OUTPUT finished.

As each image group (a NIfTI with its applyto images and sidecars, a DICOM series) finishes,
the run report (:mod:`deidkit.deface.output`) keeps a *record* of it under ``groups``: the
settings fingerprint (:func:`settings_fingerprint`), a digest of the group's input files
(names and SHA-256 of their bytes), its results (status, message, QC record, outputs) and the
SHA-256 of each output and, with ``--qc``, of its QC files. A rerun into the same OUTPUT
skips a group whose record has the same settings and inputs and whose outputs (and QC
files) are all there with the recorded digests: its recorded results stand in for defacing
it, so the final report, ``--json`` and QC JSON equal an uninterrupted run's. Any mismatch
(a missing or changed output, other settings or inputs) defaces the group again.

Only groups whose every result is ``defaced`` or ``scrubbed`` are recorded: the report never
names a file that failed. The check runs in the worker, where the group's inputs are local
(a URL INPUT's group is fetched first) and OUTPUT is read back through ``at_output``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deidkit import __version__
from deidkit.deface.output import safe_rel
from deidkit.deface.tasks import DefaceOptions, FileResult, Task

__all__ = [
    "RESUMABLE_KINDS",
    "GroupJob",
    "GroupOutcome",
    "group_key",
    "input_digest",
    "reuse_or_run",
    "settings_fingerprint",
]

#: Task kinds worth skipping; a BIDS ``description`` costs less to write than to check.
RESUMABLE_KINDS = ("nifti", "dicom")
_RECORDED_STATUSES = ("defaced", "scrubbed")

#: Reads a file of OUTPUT by its relative name; None when it is not there.
Reader = Callable[[str], bytes | None]


@dataclass(frozen=True)
class GroupJob:
    """A task with what a worker needs to decide whether an earlier run already did it."""

    task: Task
    settings: str = ""
    #: The record an earlier run left for this group (None: none, deface it).
    previous: dict[str, Any] | None = None


@dataclass(frozen=True)
class GroupOutcome:
    """A group's results, the record the report keeps for it, and whether it was skipped."""

    results: list[FileResult]
    record: dict[str, Any] | None = None
    reused: bool = False


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settings_fingerprint(options: DefaceOptions) -> str:
    """A digest of everything besides the inputs that decides a group's outputs.

    The brain mask counts by its bytes, the QC folder by whether there is one; the subject
    selection does not count (it picks groups, it does not change them).
    """
    mask = options.brain_mask
    payload = {
        "version": __version__,
        "method": options.method,
        "blur": options.blur,
        "strict": options.strict,
        "margin_mm": options.margin_mm,
        "ears": options.ears,
        "qc": options.qc_dir is not None,
        "brain_mask": _file_digest(mask) if mask is not None else None,
        "profile": options.profile.to_json() if options.profile is not None else None,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return _sha256(text.encode("utf-8"))[:32]


def _file_digest(path: Path) -> str:
    try:
        return _sha256(path.read_bytes())
    except OSError:  # each group then fails on it, as it always has; never the whole run
        return "unreadable"


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def group_key(task: Task) -> str:
    """The group's key in the report: 16 hex digits of SHA-256 of its first input's name."""
    return _sha256(_rel(task.sources[0], task.root).encode("utf-8"))[:16]


def input_digest(task: Task) -> str:
    """SHA-256 over the names and bytes of every file the group reads (all local)."""
    digest = hashlib.sha256()
    for path in (*task.sources, *task.applyto, *task.sidecars):
        digest.update(_rel(path, task.root).encode("utf-8") + b"\0")
        digest.update(bytes.fromhex(_sha256(path.read_bytes())))
    return digest.hexdigest()


def reuse_or_run(
    job: GroupJob,
    local: Task,
    options: DefaceOptions,
    *,
    deface: Callable[[], list[FileResult]],
    at_output: Reader,
) -> GroupOutcome:
    """The earlier run's results if its record still holds, else ``deface()`` and a record.

    ``local`` is the job's task with its inputs readable here; ``at_output`` reads OUTPUT.
    """
    if local.kind not in RESUMABLE_KINDS or not job.settings:
        return GroupOutcome(deface())
    inputs = input_digest(local)
    earlier = _reusable(job, inputs, options, at_output)
    if earlier is not None:
        return GroupOutcome(earlier, job.previous, reused=True)
    results = deface()
    return GroupOutcome(results, _record(job.settings, inputs, results, options, at_output))


def _record(
    settings: str,
    inputs: str,
    results: list[FileResult],
    options: DefaceOptions,
    at_output: Reader,
) -> dict[str, Any] | None:
    if not results or any(r.status not in _RECORDED_STATUSES for r in results):
        return None
    outputs = _digests([o for r in results for o in r.outputs], at_output)
    qc_files = _digests(_qc_names(results), _qc_reader(options.qc_dir))
    if outputs is None or qc_files is None:
        return None  # an output vanished already: nothing to vouch for
    return {
        "settings": settings,
        "inputs": inputs,
        "results": [{**asdict(r), "outputs": list(r.outputs)} for r in results],  # as JSON
        "outputs": outputs,
        "qc_files": qc_files,
    }


def _digests(names: list[str], read: Reader) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for name in names:
        data = read(name)
        if data is None:
            return None
        found[name] = _sha256(data)
    return found


def _qc_names(results: list[FileResult]) -> list[str]:
    names = []
    for r in results:
        if r.qc is not None:
            ident = r.qc.get("qc_id")
            if isinstance(ident, str) and ident.isalnum():  # a record read back: no paths
                names += [f"{ident}.png", f"{ident}.json"]
    return names


def _qc_reader(qc_dir: Path | None) -> Reader:
    return local_reader(qc_dir) if qc_dir is not None else lambda _name: None


def local_reader(root: Path) -> Reader:
    """A :data:`Reader` of the files under a local folder (links are never followed)."""

    def read(rel: str) -> bytes | None:
        path = root / rel
        if path.is_symlink() or not path.is_file():
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    return read


def _reusable(
    job: GroupJob, inputs: str, options: DefaceOptions, at_output: Reader
) -> list[FileResult] | None:
    record = job.previous
    if not isinstance(record, dict) or not job.settings:
        return None
    if record.get("settings") != job.settings or record.get("inputs") != inputs:
        return None
    try:
        results = [_result(entry) for entry in record["results"]]
        outputs, qc_files = dict(record["outputs"]), dict(record["qc_files"])
    except (KeyError, TypeError, ValueError):
        return None
    if not results or sorted(outputs) != sorted(o for r in results for o in r.outputs):
        return None
    if sorted(qc_files) != sorted(_qc_names(results)):
        return None
    if _digests(list(outputs), at_output) != outputs:
        return None
    if _digests(list(qc_files), _qc_reader(options.qc_dir)) != qc_files:
        return None
    return results


def _result(entry: Any) -> FileResult:
    """A result as the report holds it (raises on anything a run would not have written)."""
    if not isinstance(entry, dict):
        raise TypeError("a result is an object")
    path, status, message = entry["path"], entry["status"], entry["message"]
    qc, outputs = entry["qc"], entry["outputs"]
    if not (isinstance(path, str) and isinstance(message, str)):
        raise TypeError("path and message are text")
    if status not in _RECORDED_STATUSES or not (qc is None or isinstance(qc, dict)):
        raise ValueError("not a recorded result")
    if not isinstance(outputs, list) or not all(safe_rel(o) == o for o in outputs):
        raise ValueError("outputs are plain names inside OUTPUT")
    return FileResult(path, status, message, qc, tuple(outputs))
