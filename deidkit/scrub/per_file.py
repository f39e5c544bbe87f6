"""One file through the engine: read -> scrub -> encode -> write atomically.

This is the per-file stage of :mod:`deidkit.scrub.pipeline`, run in worker processes. It never
raises for a bad file: every failure becomes a :class:`~deidkit.core.runreport.FileOutcome`
with a stable reason code, and nothing it logs or returns carries a value read from a
header (pydicom's own warnings and log messages quote values, so both are silenced).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from deidkit import __version__
from deidkit.core.errors import DeidkitError, InputFileError
from deidkit.core.io import publish_bytes
from deidkit.core.keys import ProjectKey
from deidkit.core.locations import Location
from deidkit.core.quiet import silence_pydicom
from deidkit.core.runreport import (
    STATUS_DRY_RUN,
    STATUS_HELD_BACK,
    STATUS_SKIPPED,
    STATUS_UNCHANGED,
    STATUS_WRITTEN,
    FileOutcome,
    FileReferences,
)
from deidkit.rules.profile import Profile
from deidkit.rules.standard import TABLE_EDITION
from deidkit.scrub.cache import KeyedCache
from deidkit.scrub.inputs import (
    REASON_DICOMDIR,
    REASON_NO_UIDS,
    REASON_UNREADABLE,
    is_dicomdir_name,
    read_input,
)
from deidkit.scrub.pixel_step import PixelStep

if TYPE_CHECKING:
    from pydicom import Dataset

    from deidkit.scrub.engine import ScrubResult

REASON_BURNED_IN: Final = "burned_in"
REASON_SCRUB_ERROR: Final = "scrub_error"
REASON_ENCODE_ERROR: Final = "encode_error"
REASON_WRITE_ERROR: Final = "write_error"
REASON_CONFLICT: Final = "output_conflict"
REASON_BAD_IDS: Final = "invalid_new_identifiers"
REASON_INTERNAL: Final = "internal_error"

_SAFE_COMPONENT: Final = re.compile(r"^[A-Za-z0-9.]{1,64}$")


@dataclass(frozen=True)
class ScrubSettings:
    """Everything that decides the bytes of a release (part of the settings fingerprint).

    Parameters
    ----------
    profile
        The resolved profile (recipe overrides already applied).
    key
        The project key; an ephemeral key makes the release unlinkable.
    allow_burned_in
        Release files flagged as likely to carry burned-in text (default: hold them back).
    recipe_name
        File name of a deid recipe folded into ``profile``, for provenance only.
    clean_pixels
        Read, clean and re-check the pixels of files flagged for burned-in text
        (:mod:`deidkit.scrub.pixel_step`) instead of holding them back.
    pixel_regions
        Region rules (:class:`deidkit.pixels.regions.RegionRule`) cleaned with them.
    """

    profile: Profile
    key: ProjectKey
    allow_burned_in: bool = False
    recipe_name: str | None = None
    clean_pixels: bool = False
    pixel_regions: tuple[Any, ...] = ()

    def fingerprint(self) -> str:
        """A digest of the settings (never of the key itself: its public fingerprint)."""
        payload = {
            "profile": profile_record(self.profile),
            "key": self.key.fingerprint,
            "allow_burned_in": self.allow_burned_in,
            "table_edition": TABLE_EDITION,
            "version": __version__,
        }
        if self.clean_pixels:  # only then: earlier runs keep their fingerprint
            payload["clean_pixels"] = [repr(rule) for rule in self.pixel_regions]
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def profile_record(profile: Profile) -> dict[str, Any]:
    """The profile as it goes into reports: name, source, options, overrides (and, where the
    profile has them, its vocabulary and kept private elements: verify reads the latter)."""
    record: dict[str, Any] = {
        "name": profile.name,
        "source": profile.source,
        "options": sorted(profile.options),
        "overrides": dict(sorted(profile.overrides.items())),
        "patient_name": profile.patient_name,
        "date_shift_range": list(profile.date_shift_range),
        "notes": list(profile.notes),
    }
    if profile.vocabulary:  # only then: earlier runs keep their fingerprint
        record["vocabulary"] = sorted(profile.vocabulary)
    if profile.keep_private:
        record["keep_private"] = profile.to_json()["keep_private"]
    return record


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs for every file: settings, OUTPUT and which extras to collect.

    ``source`` and ``release`` are set when INPUT or OUTPUT is an fsspec URL: inputs are then
    read, and outputs put, through that file system (``output`` is then unused).
    """

    settings: ScrubSettings
    output: Path
    dry_run: bool
    want_linkage: bool
    want_cohort: bool
    source: Location | None = None
    release: Location | None = None


# The engine (pydicom and the PS3.15 tables) and the encoder are imported on first use, not
# with this module: the scrub CLI's parent imports this module for the settings only, and the
# workers get both preloaded (deidkit.scrub.workers.prestart.WORKER_PRELOAD). Typed wrappers,
# not module-returning loaders, so mypy checks both calls.
def _scrub_dataset(
    ds: Dataset, *, profile: Profile, key: ProjectKey, cache: KeyedCache
) -> ScrubResult:
    from deidkit.scrub.engine import scrub_dataset

    return scrub_dataset(ds, profile=profile, key=key, cache=cache)


def _pixel_step(original: bytes, ds: Dataset, regions: tuple[Any, ...]) -> PixelStep:
    from deidkit.scrub.pixel_step import clean_pixels

    return clean_pixels(original, ds, regions=regions)


def _encode_file(ds: Dataset) -> bytes:
    from deidkit.scrub.codec.encode import encode_file

    return encode_file(ds)


_CONFIG: WorkerConfig | None = None
# One memo of keyed derivations per process; rebuilt whenever the key object changes.
_KEYED_CACHE: KeyedCache | None = None


def _keyed_cache(key: ProjectKey) -> KeyedCache:
    global _KEYED_CACHE
    if _KEYED_CACHE is None or _KEYED_CACHE.key is not key:
        _KEYED_CACHE = KeyedCache(key)
    return _KEYED_CACHE


def init_worker(config: WorkerConfig) -> None:
    """Process-pool initializer: keep the config for :func:`run_chunk`, silence pydicom.

    The worker also ends itself when the batch process dies (see
    :func:`deidkit.scrub.workers.prestart.exit_with_parent`), instead of idling forever.
    """
    from deidkit.scrub.workers.prestart import exit_with_parent

    global _CONFIG
    _CONFIG = config
    silence_pydicom()
    exit_with_parent()


def run_chunk(tasks: list[tuple[str, str]]) -> list[FileOutcome]:
    """Process ``(absolute path, relative path)`` pairs in a worker, in order."""
    if _CONFIG is None:  # pragma: no cover - the pool initializer always runs first
        raise RuntimeError("worker not initialised")
    outcomes = [process_file(path, rel, _CONFIG) for path, rel in tasks]
    # The files of one series nearly always get the same actions. One shared tuple per
    # distinct list is pickled once (pickle's memo), not once per file: the chunk's result
    # shrinks several-fold, and so do the worker's send and the batch process's receive.
    shared: dict[tuple[tuple[str, str, str, str], ...], tuple[tuple[str, str, str, str], ...]] = {}
    for i, outcome in enumerate(outcomes):
        actions = shared.setdefault(outcome.actions, outcome.actions)
        if actions is not outcome.actions:
            outcomes[i] = replace(outcome, actions=actions)
    return outcomes


def _held(source: str, reason: str, detail: str | None = None, **kw: Any) -> FileOutcome:
    return FileOutcome(source=source, status=STATUS_HELD_BACK, reason=reason, detail=detail, **kw)


def process_file(
    path: Path | str, rel: str, config: WorkerConfig, *, overwrite: bool = False
) -> FileOutcome:
    """Scrub one input file and write its output; never raises for a bad file.

    Parameters
    ----------
    path
        The input file (read once, never modified): a local path, or the fsspec path of
        ``config.source``.
    rel
        Its path relative to INPUT, as reported (it may carry PHI: never put it in OUTPUT).
    config
        Settings and OUTPUT.
    overwrite
        Replace an existing output (atomically) instead of reporting a conflict: the
        pipeline uses it to settle two inputs that map to one output in walk order.
    """
    try:
        return _process_file(path, rel, config, overwrite=overwrite)
    except Exception as exc:  # last line of defence: one file must never stop the batch
        return _held(rel, REASON_INTERNAL, type(exc).__name__)


def _process_file(
    path: Path | str, rel: str, config: WorkerConfig, *, overwrite: bool
) -> FileOutcome:
    if is_dicomdir_name(rel):
        return FileOutcome(source=rel, status=STATUS_SKIPPED, reason=REASON_DICOMDIR)
    try:
        if config.source is not None:
            data = config.source.read_bytes(str(path))
        else:
            data = Path(path).read_bytes()
    except OSError as exc:
        return _held(rel, REASON_UNREADABLE, type(exc).__name__)
    try:
        ds = read_input(data)
    except InputFileError as exc:
        status = STATUS_SKIPPED if exc.reason == REASON_DICOMDIR else STATUS_HELD_BACK
        detail = None if str(exc).endswith(exc.reason) else str(exc)
        return FileOutcome(source=rel, status=status, reason=exc.reason, detail=detail)
    settings = config.settings
    original = data if settings.clean_pixels else None  # the pixel step reads the original
    del data
    cohort = None
    if config.want_cohort:
        from deidkit.pseudonymise.cohort import series_attributes

        try:
            cohort = series_attributes(ds, key=settings.key)
        except Exception:  # a malformed attribute must not stop the scrub
            cohort = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warnings can quote values (PHI)
            result = _scrub_dataset(
                ds, profile=settings.profile, key=settings.key, cache=_keyed_cache(settings.key)
            )
    except DeidkitError as exc:  # typed errors carry no values by contract
        return _held(rel, REASON_SCRUB_ERROR, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # pydicom errors may quote values: keep the type only
        return _held(rel, REASON_SCRUB_ERROR, type(exc).__name__)
    return _finish(rel, ds, result, config, cohort, overwrite=overwrite, original=original)


def _finish(
    rel: str,
    ds: Dataset,
    result: ScrubResult,
    config: WorkerConfig,
    cohort: dict[str, str] | None,
    *,
    overwrite: bool = False,
    original: bytes | None = None,
) -> FileOutcome:
    ids = (result.patient_pseudonym, result.study_uid, result.series_uid)
    common: dict[str, Any] = {
        "modality": result.modality or None,
        "sop_class_uid": result.sop_class_uid or None,
        "burned_in_risk": result.burned_in_risk,
        "actions": tuple(map(tuple, result.actions)),  # plain tuples pickle smaller
        "warnings": tuple(str(w) for w in result.warnings),
    }
    if not result.study_uid or not result.series_uid:
        # Type 1 in every IOD; without them the instance has no place in the release.
        return _held(rel, REASON_NO_UIDS, "no Study or Series Instance UID", **common)
    if result.burned_in_risk is not None and original is not None:
        step = _pixel_step(original, ds, config.settings.pixel_regions)
        common["pixels"] = step.record
        if step.reason is not None:
            return _held(rel, step.reason, step.detail, **common)
    elif result.burned_in_risk is not None and not config.settings.allow_burned_in:
        return _held(rel, REASON_BURNED_IN, **common)
    parts = (*ids, result.sop_instance_uid)
    if not all(_SAFE_COMPONENT.match(str(p) or "") for p in parts):
        return _held(rel, REASON_BAD_IDS, **common)
    out_rel = f"{parts[0]}/{parts[1]}/{parts[2]}/{parts[3]}.dcm"
    common["target"] = out_rel
    extra: dict[str, Any] = {"output": out_rel, "ids": ids, "cohort": cohort}
    if config.want_linkage:
        extra["linkage"] = tuple((p.kind, p.original, p.pseudonym) for p in result.linkage)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            encoded = _encode_file(ds)
    except Exception as exc:
        return _held(rel, REASON_ENCODE_ERROR, type(exc).__name__, **common)
    common["digest"] = hashlib.sha256(encoded).hexdigest()
    extra["references"] = _references(ds, result)
    if config.dry_run:
        return FileOutcome(source=rel, status=STATUS_DRY_RUN, **common, **extra)
    if config.release is not None:
        status = _put(config.release, out_rel, encoded, overwrite=overwrite)
        if status == REASON_CONFLICT:
            return _held(rel, REASON_CONFLICT, "another input maps to this output", **common)
        if status != STATUS_WRITTEN and status != STATUS_UNCHANGED:
            return _held(rel, REASON_WRITE_ERROR, status, **common)
        return FileOutcome(source=rel, status=status, **common, **extra)
    target = config.output / out_rel
    try:
        if target.is_file() and not overwrite:
            if target.stat().st_size == len(encoded) and target.read_bytes() == encoded:
                return FileOutcome(source=rel, status=STATUS_UNCHANGED, **common, **extra)
            return _held(rel, REASON_CONFLICT, "another input maps to this output", **common)
        _publish(target, encoded)
    except OSError as exc:
        return _held(rel, REASON_WRITE_ERROR, type(exc).__name__, **common)
    return FileOutcome(source=rel, status=STATUS_WRITTEN, **common, **extra)


def _put(release: Location, out_rel: str, encoded: bytes, *, overwrite: bool) -> str:
    """Put one output into a URL OUTPUT by the local rule: written, unchanged or a conflict.

    Returns the status, :data:`REASON_CONFLICT`, or the type of the error that stopped the
    write (backends raise more than ``OSError``; their messages may hold the URL).
    """
    target = release.child(out_rel)
    try:
        if not overwrite:
            try:
                present = release.read_bytes(target)
            except FileNotFoundError:
                present = None
            if present is not None:
                return STATUS_UNCHANGED if present == encoded else REASON_CONFLICT
        release.put_bytes(target, encoded)
    except Exception as exc:
        return type(exc).__name__
    return STATUS_WRITTEN


def _references(ds: Dataset, result: ScrubResult) -> FileReferences | None:
    from deidkit.scrub.references import file_references

    try:
        return file_references(ds, {pair.pseudonym for pair in result.linkage})
    except Exception:  # the file is released all the same; the report then counts less
        return None


def _publish(target: Path, data: bytes) -> None:
    """Atomic but not yet durable write (temp file beside ``target``, then rename).

    The two fsyncs per file would cost more than reading, scrubbing and encoding it;
    :func:`scrub_tree` flushes the whole release with one ``os.sync()`` before it marks
    the run complete, and a resumed run re-derives every output and rewrites any that
    differ, so a crash before that sync cannot leave a wrong file behind.
    """
    publish_bytes(target, data)  # no fsync, no mkdir per file: see deidkit.core.io.BatchWriter
