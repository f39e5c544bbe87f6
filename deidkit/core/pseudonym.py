"""Keyed, deterministic pseudonyms: one key, one derivation, used by every command.

Every identifier that ``deidkit scrub`` replaces in a DICOM header, ``deidkit pseudonymise``
replaces in a table, and ``deidkit deface`` / BIDS renaming uses comes from these functions,
so the same source value under the same key gives the same pseudonym everywhere.
Plain hashes are never used (dictionary attacks): everything is HMAC-SHA256 under the key.
"""

from __future__ import annotations

import base64

from deidkit.core.keys import ProjectKey

# Purposes domain-separate the HMAC so a UID and a patient ID never collide.
PURPOSE_PATIENT = "patient-id"
PURPOSE_UID = "uid"
PURPOSE_STUDY_ID = "study-id"
PURPOSE_ACCESSION = "accession"
PURPOSE_DATE_OFFSET = "date-offset"
PURPOSE_SITE = "site"
PURPOSE_GENERIC = "identifier"

DEFAULT_DATE_SHIFT_RANGE = (-3650, -365)


def normalise_identifier(value: str) -> str:
    """Canonical form of a source identifier before keying (DICOM pads; CSVs trim)."""
    return value.strip().rstrip("\x00").strip()


def _code(key: ProjectKey, purpose: str, value: str, *, prefix: str, length: int) -> str:
    digest = key.digest(purpose, normalise_identifier(value))
    return prefix + base64.b32encode(digest).decode("ascii")[:length]


def patient_pseudonym(key: ProjectKey, patient_id: str) -> str:
    """Pseudonym for a patient: ``P`` + 16 base32 characters (alphanumeric, BIDS-safe)."""
    return _code(key, PURPOSE_PATIENT, patient_id, prefix="P", length=16)


def study_id_pseudonym(key: ProjectKey, study_key: str) -> str:
    """Study ID (SH, <= 16 chars) for a study, keyed by its original Study Instance UID."""
    return _code(key, PURPOSE_STUDY_ID, study_key, prefix="S", length=15)


def accession_pseudonym(key: ProjectKey, accession: str) -> str:
    """Accession Number (SH, <= 16 chars)."""
    return _code(key, PURPOSE_ACCESSION, accession, prefix="A", length=15)


def site_pseudonym(key: ProjectKey, institution: str) -> str:
    """Site code for an institution name (never the name itself)."""
    return _code(key, PURPOSE_SITE, institution.casefold(), prefix="SITE", length=8)


def generic_pseudonym(key: ProjectKey, purpose: str, value: str, *, length: int = 16) -> str:
    """Pseudonym for any other identifier kind, domain-separated by ``purpose``."""
    return _code(key, f"{PURPOSE_GENERIC}:{purpose}", value, prefix="X", length=length)


def pseudonymous_uid(key: ProjectKey, uid: str) -> str:
    """New UID ``2.25.<decimal>`` (<= 44 chars, valid) for an original UID."""
    digest = key.digest(PURPOSE_UID, normalise_identifier(uid))
    # 2.25 UIDs are decimal renderings of 128-bit numbers; clear nothing, but avoid 0.
    number = int.from_bytes(digest[:16], "big") or 1
    return f"2.25.{number}"


def date_offset_days(
    key: ProjectKey,
    patient_id: str,
    *,
    shift_range: tuple[int, int] = DEFAULT_DATE_SHIFT_RANGE,
) -> int:
    """Per-patient date shift in days, uniform in ``shift_range`` (inclusive), never 0."""
    low, high = shift_range
    if low > high:
        raise ValueError("shift_range must be (low, high) with low <= high")
    digest = key.digest(PURPOSE_DATE_OFFSET, normalise_identifier(patient_id))
    span = high - low + 1
    offset = low + int.from_bytes(digest[:8], "big") % span
    if offset == 0:
        offset = low if low != 0 else high
    return offset
