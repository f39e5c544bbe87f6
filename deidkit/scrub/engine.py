"""Apply a profile to one DICOM dataset: :func:`scrub_dataset`.

The element walk lives in :mod:`deidkit.scrub.elements`, private-element rules in
:mod:`deidkit.scrub.private`, provenance and file meta in :mod:`deidkit.scrub.provenance`.
Pixel data is never decoded or changed; values never reach logs, records or errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import pydicom

from deidkit.core.errors import ScrubError
from deidkit.core.keys import ProjectKey
from deidkit.rules.decisions import compiled_table, pattern_decisions
from deidkit.rules.phi_identifiers import PatientIdentifiers, collect_identifiers
from deidkit.rules.profile import Profile
from deidkit.rules.standard import ciod_for_sop_class, is_known_ciod
from deidkit.scrub.cache import KeyedCache
from deidkit.scrub.codec.values import peek_text
from deidkit.scrub.elements import (
    TAG_PATIENT_ID,
    ActionRecord,
    LinkagePair,
    WalkContext,
    dict_vr,
    walk_dataset,
)
from deidkit.scrub.private import declared_safe
from deidkit.scrub.provenance import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    burned_in_risk,
    new_file_meta,
    patient_key,
    transfer_syntax,
    write_provenance,
)

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "ActionRecord",
    "KeyedCache",
    "LinkagePair",
    "ScrubResult",
    "scrub_dataset",
]


@dataclass(frozen=True)
class ScrubResult:
    """Outcome of :func:`scrub_dataset` for one instance (identifiers are the NEW ones)."""

    patient_pseudonym: str
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    modality: str
    sop_class_uid: str
    actions: tuple[ActionRecord, ...]
    linkage: tuple[LinkagePair, ...]
    date_offset_days: int | None
    burned_in_risk: str | None
    warnings: tuple[str, ...]


#: Options under which code C cleans free text (descriptors, SR text, annotations).
_TEXT_OPTIONS = frozenset({"clean_descriptors", "clean_structured_content", "clean_graphics"})


def _cleans_text(profile: Profile) -> bool:
    return bool(profile.options & _TEXT_OPTIONS) or bool(profile.keep_private)


def scrub_dataset(
    ds: pydicom.Dataset,
    *,
    profile: Profile,
    key: ProjectKey,
    cache: KeyedCache | None = None,
    identifiers: PatientIdentifiers | None = None,
) -> ScrubResult:
    """De-identify one dataset in place under ``profile`` with keyed pseudonyms from ``key``.

    The dataset is modified in place, including a new File Meta Information and a zeroed
    preamble; raw pixel data bytes are never decoded or changed.

    Parameters
    ----------
    ds
        A dataset read by pydicom (a fresh in-memory copy; it is modified).
    profile
        The resolved profile (:func:`deidkit.rules.profile.load_profile`).
    key
        The project key for pseudonyms, UIDs and date offsets.
    cache
        Optional memo of keyed values, kept by the caller across the files of a batch (one
        per worker); used only when it was made for this same ``key``.
    identifiers
        This patient's values from other files (a caller's per-patient pre-pass), added to
        those of this header, which are always collected where code C cleans free text.

    Returns
    -------
    ScrubResult
        New identifiers, the action log (no values) and the linkage pairs.
    """
    sop_class = peek_text(ds, 0x00080016)
    if not sop_class or not peek_text(ds, 0x00080018):
        # checked before any change: the caller's dataset stays untouched
        raise ScrubError("dataset has no SOPClassUID or SOPInstanceUID; not a valid instance")
    modality = peek_text(ds, 0x00080060)
    risk = burned_in_risk(ds)
    syntax = transfer_syntax(ds)
    pkey, warning = patient_key(ds)
    if cache is None or cache.key is not key:
        cache = KeyedCache(key)
    patient = cache.patient(pkey)
    offset = None
    if "retain_long_modified_dates" in profile.options:
        offset = cache.offset(pkey, profile.date_shift_range)
    ciod = ciod_for_sop_class(sop_class) if sop_class else None
    ctx = WalkContext(
        profile=profile,
        key=key,
        table=compiled_table(profile),
        patterns=pattern_decisions(profile),
        ciod=ciod,
        ciod_known=is_known_ciod(ciod),
        offset=offset,
        patient=patient,
        study_uid=peek_text(ds, 0x0020000D),
        declared=declared_safe(ds),
        cache=cache,
    )
    if _cleans_text(profile):
        # read before the walk changes anything: the header's own names, IDs, dates
        own = collect_identifiers(ds)
        ctx.identifiers = own | identifiers if identifiers is not None else own
    if warning:
        ctx.warnings.append(warning)
    if ciod is None:
        ctx.warnings.append(
            "SOP Class not in the IOD table; mixed codes use the safest valid choice"
        )
    ctx.linkage[("PatientID", pkey)] = patient
    if offset is not None:
        # keyed like the offset itself: the original patient key, never the pseudonym
        ctx.linkage[("DateOffset", pkey)] = str(offset)
    walk_dataset(ds, ctx, (), "", "keep")
    if TAG_PATIENT_ID not in ds:
        ds.PatientID = patient
    write_provenance(ds, profile)
    for key_text, code in profile.overrides.items():
        if code.startswith("A:"):
            tag = int(key_text[1:5] + key_text[6:10], 16)
            add_vr = dict_vr(tag)
            if tag not in ds and add_vr:
                ds.add_new(tag, add_vr, code[2:])
    new_file_meta(ds, syntax)
    return ScrubResult(
        patient_pseudonym=patient,
        study_uid=peek_text(ds, 0x0020000D),
        series_uid=peek_text(ds, 0x0020000E),
        sop_instance_uid=peek_text(ds, 0x00080018),
        modality=modality,
        sop_class_uid=sop_class,
        actions=tuple(ctx.actions),
        linkage=tuple(
            LinkagePair(kind, original, new) for (kind, original), new in ctx.linkage.items()
        ),
        date_offset_days=offset,
        burned_in_risk=risk,
        warnings=tuple(ctx.warnings),
    )
