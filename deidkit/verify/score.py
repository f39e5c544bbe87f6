"""A MIDI-B-style score: the share of required de-identification actions done right.

MIDI-B (MICCAI 2024, scorer CBIIT/MIDI_validation_script) scores correct actions over
required actions. Here each original file is paired with its released file through the
mapping (the encrypted linkage store, MIDI-B ``uid_mapping.csv`` / ``patid_mapping.csv``, a
``kind,original,pseudonym`` CSV, or the project key itself), and its attributes are scored
by category, at every depth of nested sequences (patient ID and research values at the top
level only):

``text_removed``
    Attributes the profile removes, empties or replaces (X, Z, D and mixed codes): the
    release has them absent, empty or different from the original. A non-empty sequence
    the profile removes (X, Z, X/Z) counts once; inside a sequence the profile lets the
    release drop, every coded attribute counts as removed when the sequence is gone.
``date_shifted``
    Dates under Retain Longitudinal Modified Dates: absent or empty, or no longer holding
    the original date (the public scorer checks no offset).
``uid_changed`` / ``uid_consistent``
    Replaced UIDs are absent or empty, or no longer hold the original; and are absent or
    empty, or equal the mapping's pseudonym.
``patient_id_consistent``
    Patient ID is absent or empty, or equals the mapping's pseudonym.

Absent passes exactly where the public scorer passes it (CBIIT/MIDI_validation_script,
``modules/curation_validator.py``): removing a UID or a date is not a failure.
``research_retained``
    Research-relevant values (:data:`RESEARCH_KEYWORDS`, plus anything an option keeps)
    survive unchanged: over-scrubbing is a failure too.

The original side is read once, as :data:`ScoreFact` tuples collected in the same parse
that harvests the originals' PHI (:mod:`deidkit.verify.originals`), so no original file is
parsed twice. Only counts leave this module; the facts live in memory only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from deidkit.core.errors import UsageError
from deidkit.core.keys import ProjectKey
from deidkit.verify.checks import is_pseudonym_or_dummy
from deidkit.verify.records import Rules, keyword_of
from deidkit.verify.score_facts import (
    RESEARCH_KEYWORDS,
    ReleaseView,
    ScoreFact,
    original_facts,
)

CATEGORIES: tuple[str, ...] = (
    "text_removed",
    "date_shifted",
    "uid_changed",
    "uid_consistent",
    "patient_id_consistent",
    "research_retained",
)
_REMOVE_CODES = frozenset({"X", "Z", "D", "X/Z", "X/D", "Z/D", "X/Z/D"})
_UID_CODES = frozenset({"U", "X/Z/U*"})
_UID = re.compile(r"^[0-9]+(?:\.[0-9]+)+$")


@dataclass
class IdentifierMap:
    """Original -> pseudonym maps by kind (held in memory only: originals are PHI)."""

    uids: dict[str, str] = field(default_factory=dict)
    patient_ids: dict[str, str] = field(default_factory=dict)
    date_offsets: dict[str, int] = field(default_factory=dict)
    key: ProjectKey | None = None

    def new_uid(self, uid: str) -> str | None:
        """The release UID for an original UID, from the mapping or the key."""
        found = self.uids.get(uid)
        if found is None and self.key is not None:
            from deidkit.core.pseudonym import pseudonymous_uid

            found = pseudonymous_uid(self.key, uid)
        return found

    def new_patient_id(self, patient_id: str) -> str | None:
        """The release Patient ID for an original one."""
        found = self.patient_ids.get(patient_id)
        if found is None and self.key is not None:
            from deidkit.core.pseudonym import patient_pseudonym

            found = patient_pseudonym(self.key, patient_id)
        return found

    def offset(self, patient_id: str, rules_range: tuple[int, int] | None) -> int | None:
        """The date offset of a patient, from the mapping or the key."""
        if patient_id in self.date_offsets:
            return self.date_offsets[patient_id]
        if self.key is not None and rules_range is not None:
            from deidkit.core.pseudonym import date_offset_days

            return date_offset_days(self.key, patient_id, shift_range=rules_range)
        return None


def load_mapping(path: Path | None, *, key: ProjectKey | None) -> IdentifierMap:
    """Read a mapping: a deidkit linkage store, MIDI-B CSV(s) or a ``kind,original,pseudonym`` CSV.

    A folder is searched for ``uid_mapping.csv`` and ``patid_mapping.csv``.

    Raises
    ------
    UsageError
        If the file is missing or in no known layout.
    """
    mapping = IdentifierMap(key=key)
    if path is None:
        return mapping
    if path.is_dir():
        files = [
            p
            for p in (path / "uid_mapping.csv", path / "patid_mapping.csv", path / "linkage.csv")
            if p.is_file()
        ]
        if not files:
            raise UsageError(
                f"mapping folder {path.name} holds no uid_mapping.csv / patid_mapping.csv"
            )
        for file in files:
            _read_csv(file, mapping)
        return mapping
    if not path.is_file():
        raise UsageError(f"mapping file {path.name} does not exist")
    if path.suffix.lower() == ".csv":
        _read_csv(path, mapping)
        return mapping
    if key is None:
        raise UsageError("--linkage needs --key-file to open an encrypted linkage store")
    from deidkit.pseudonymise.linkage import LinkageStore

    for entry in LinkageStore(path, key=key).entries():
        _add(mapping, entry.kind, entry.original, entry.pseudonym)
    return mapping


def _add(mapping: IdentifierMap, kind: str, original: str, pseudonym: str) -> None:
    if kind in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "UID"):
        mapping.uids[original] = pseudonym
    elif kind == "PatientID":
        mapping.patient_ids[original] = pseudonym
    elif kind == "DateOffset":
        try:
            mapping.date_offsets[original] = int(pseudonym)
        except ValueError:
            pass


def _read_csv(path: Path, mapping: IdentifierMap) -> None:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = {f.strip().lower() for f in reader.fieldnames or []}
        for row in reader:
            norm = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if {"kind", "original", "pseudonym"} <= fields:
                _add(mapping, norm["kind"], norm["original"], norm["pseudonym"])
            elif {"id_old", "id_new"} <= fields:
                old, new = norm["id_old"], norm["id_new"]
                is_uid = "uid" in path.name.lower() or bool(_UID.match(old))
                _add(mapping, "UID" if is_uid else "PatientID", old, new)
            else:
                raise UsageError(
                    f"mapping file {path.name}: expected columns id_old,id_new "
                    "or kind,original,pseudonym"
                )


@dataclass
class ScoreCounts:
    """Done / required per category."""

    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    required: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))

    def tick(self, category: str, ok: bool) -> None:
        """Count one required action, done right or not."""
        self.required[category] += 1
        self.done[category] += int(ok)

    def merge(self, other: ScoreCounts) -> None:
        """Add another file's counts."""
        for cat in CATEGORIES:
            self.done[cat] += other.done[cat]
            self.required[cat] += other.required[cat]

    def as_dict(self) -> dict[str, object]:
        """Per-category and overall shares (None where nothing was required)."""
        per = {
            cat: {
                "done": self.done[cat],
                "required": self.required[cat],
                "score": round(self.done[cat] / self.required[cat], 4)
                if self.required[cat]
                else None,
            }
            for cat in CATEGORIES
        }
        total_req = sum(self.required.values())
        total = round(sum(self.done.values()) / total_req, 4) if total_req else None
        return {"overall": total, "categories": per}


def _value(ds: Dataset, tag: int) -> str | None:
    """The element's value as text, from the raw bytes where possible (no conversion).

    Raw bytes compare equal exactly when the values do, as long as both files share the
    character set (the scrubber keeps Specific Character Set).
    """
    if tag not in ds:
        return None
    raw = ds.get_item(tag)
    value = raw.value
    if isinstance(raw, RawDataElement):
        if not isinstance(value, bytes):
            return None
        return value.decode("latin-1").strip(" \x00")
    if value is None or isinstance(value, bytes):
        return None
    text = "\\".join(str(v) for v in value) if type(value).__name__ == "MultiValue" else str(value)
    return text.strip(" \x00")


_SEQUENCE_REMOVE_CODES = frozenset({"X", "Z", "X/Z"})


def score_pair(
    original: bytes,
    released: bytes | Dataset,
    *,
    rules: Rules,
    mapping: IdentifierMap,
    shift_range: tuple[int, int] | None,
) -> ScoreCounts:
    """Score one original/released file pair (attributes at every depth)."""
    orig = pydicom.dcmread(io.BytesIO(original), force=True, stop_before_pixels=True)
    if isinstance(released, Dataset):
        rel = released
    else:
        rel = pydicom.dcmread(io.BytesIO(released), force=True, stop_before_pixels=True)
    patient_id = _value(orig, 0x00100020) or ""
    return score_facts(
        original_facts(orig, rules),
        patient_id,
        ReleaseView.of(rel, rules),
        rules=rules,
        mapping=mapping,
        shift_range=shift_range,
    )


def score_facts(
    facts: Sequence[ScoreFact],
    patient_id: str,
    released: ReleaseView,
    *,
    rules: Rules,
    mapping: IdentifierMap,
    shift_range: tuple[int, int] | None,
) -> ScoreCounts:
    """Score the facts of one original file against the view of its released file.

    Top-level attributes are scored in every category. Nested ones (any depth) count for
    text removed, date shifted and UID changed / consistent; inside a sequence the profile
    lets the release drop (and it did), every attribute with an action code counts as removed.
    """
    counts = ScoreCounts()
    for path, tag, vr, before in facts:
        code = rules.code_for(tag)
        present = released.has_item(path)
        if vr == "SQ":
            if code in _SEQUENCE_REMOVE_CODES and int(before):
                gone = not present or not released.items.get((path, tag), 0)
                counts.tick("text_removed", gone)
            continue
        if not present and code is not None and _removed_ancestor(path, rules):
            counts.tick("text_removed", True)
            continue
        _score_element(
            counts,
            tag,
            vr,
            before,
            released.values.get((path, tag)) if present else None,
            rules=rules,
            mapping=mapping,
            nested=bool(path),
        )
    return counts


def _removed_ancestor(path: tuple[tuple[int, int], ...], rules: Rules) -> bool:
    """Whether the profile lets (or makes) the release drop a sequence on ``path``."""
    for seq_tag, _ in path:
        code = rules.code_for(seq_tag)
        if code is not None and code.startswith(("X", "Z", "D")):
            return True
    return False


def _score_element(
    counts: ScoreCounts,
    tag: int,
    vr: str,
    before: str,
    after: str | None,
    *,
    rules: Rules,
    mapping: IdentifierMap,
    nested: bool = False,
) -> None:
    code = rules.code_for(tag)
    # As the public scorer (CBIIT/MIDI_validation_script, curation_validator.py): an
    # absent or empty value passes patid/uid consistency, uid_changed and date_shifted; a
    # present one fails when it still holds the original (changed checks) or differs from
    # the mapping (consistency checks).
    if tag == 0x00100020 and not nested:
        target = mapping.new_patient_id(before)
        if target is not None:
            counts.tick("patient_id_consistent", not after or after == target)
        counts.tick("text_removed", after != before)
    elif vr == "UI" and code in _UID_CODES and "retain_uids" not in rules.options:
        counts.tick("uid_changed", not after or not _still_holds(before, after))
        target = mapping.new_uid(before)
        if target is not None:
            counts.tick("uid_consistent", not after or after == target)
    elif vr in ("DA", "DT") and code == "C":
        counts.tick("date_shifted", not after or not _still_holds(before, after))
    elif code in _REMOVE_CODES:
        counts.tick("text_removed", _removed_right(code, before, after))
    elif not nested and (keyword_of(tag) in RESEARCH_KEYWORDS or code == "K"):
        counts.tick("research_retained", after == before)


def _still_holds(before: str, after: str) -> bool:
    """Whether a released value contains the original one (multi-values joined, as the scorer)."""
    return before.replace("\\", "") in after.replace("\\", "")


def _removed_right(code: str, before: str, after: str | None) -> bool:
    """X: gone; Z: empty or a dummy; D (alone or in a mixed code): anything but the original."""
    if not after:
        return True
    if code == "X":
        return False
    if code in ("Z", "X/Z"):
        return is_pseudonym_or_dummy(after)
    return after != before


def summarise(counts: ScoreCounts, *, pairs: int, unpaired: int) -> Mapping[str, object]:
    """The score as a JSON-ready mapping."""
    result = dict(counts.as_dict())
    result["pairs"] = pairs
    result["unpaired_originals"] = unpaired
    return result
