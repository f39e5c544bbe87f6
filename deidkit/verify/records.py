"""Data types of the residual-PHI scanner: check names, findings, rules, per-file reports.

Plain frozen dataclasses, picklable so worker processes can receive rules and return
findings. None of them ever holds a value read from patient data, except
:class:`OriginalIndex`, which lives in memory only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from deidkit.rules.standard import CID7050, CID7050_BASIC, row_for_tag

# Check names: stable, parsed by CI and shown in the report.
CHECK_PROFILE_ACTION = "profile-action"
CHECK_PRIVATE = "private-element"
CHECK_PERSON_NAME = "person-name"
CHECK_DATE = "date"
CHECK_UID = "uid"
CHECK_PROVENANCE = "provenance"
CHECK_BURNED_IN = "burned-in"
CHECK_FREE_TEXT = "free-text"
CHECK_FILE_NAME = "file-name"
CHECK_NIFTI = "nifti-header"
CHECK_JSON = "json-sidecar"
CHECK_TEXT_FILE = "text-file"
CHECK_RAW = "raw-bytes"
CHECK_ORIGINAL_VALUE = "original-value"
CHECK_ORIGINAL_UID = "original-uid"
CHECK_UID_ROOT = "uid-root"
CHECK_UNREADABLE = "unreadable"
# Completeness of the release against its run report and action log (beside the release).
CHECK_RUN_REPORT = "run-report"
CHECK_RUN_STATUS = "run-status"
CHECK_MISSING_OUTPUT = "missing-output"
CHECK_STRAY_FILE = "stray-file"
#: Findings of these checks say that something could not be checked, never that PHI was
#: found: their errors make the verdict "incomplete" (exit 1), never "phi-found".
UNCHECKED_CHECKS: frozenset[str] = frozenset({CHECK_UNREADABLE, CHECK_RUN_REPORT})
#: Findings of these checks say that the release is not what its scrub wrote (a run that did
#: not complete, a file missing, a file added), not that PHI was found: alone, they make the
#: verdict "release-incomplete" (exit 3 all the same: the release must not go out).
COMPLETENESS_CHECKS: frozenset[str] = frozenset(
    {CHECK_RUN_STATUS, CHECK_MISSING_OUTPUT, CHECK_STRAY_FILE}
)

#: Checks run on every release, with or without originals (shown with zero counts).
BASE_CHECKS: tuple[str, ...] = (
    CHECK_PROFILE_ACTION,
    CHECK_PRIVATE,
    CHECK_PERSON_NAME,
    CHECK_DATE,
    CHECK_UID,
    CHECK_PROVENANCE,
    CHECK_BURNED_IN,
    CHECK_FREE_TEXT,
    CHECK_FILE_NAME,
    CHECK_NIFTI,
    CHECK_JSON,
    CHECK_TEXT_FILE,
    CHECK_RAW,
    CHECK_UNREADABLE,
)
ORIGINAL_CHECKS: tuple[str, ...] = (CHECK_ORIGINAL_VALUE, CHECK_ORIGINAL_UID, CHECK_UID_ROOT)

SEVERITIES = ("error", "warn", "info")


@lru_cache(maxsize=8192)
def keyword_of(tag: int) -> str:
    """The dictionary keyword of a tag ("" if none); cached, as the scanner asks per element."""
    return str(keyword_for_tag(tag))


def vr_of(raw: DataElement | RawDataElement, tag: int) -> str:
    """The element's VR, else the dictionary's, else "UN" (implicit-VR private elements)."""
    if raw.VR:
        return str(raw.VR)
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def element_text(elem: Any) -> str:
    """A trimmed string from an element, a raw value or None (``ds.get`` returns either)."""
    value = elem.value if isinstance(elem, DataElement | RawDataElement) else elem
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip().rstrip("\x00").strip()


@dataclass(frozen=True)
class Finding:
    """One place that may hold PHI. Never carries the value itself.

    ``tag_path`` is e.g. ``(0040,A730)[0]>(0040,A160)`` (or ``nifti:descrip``, ``json:key``,
    ``name:2``, ``-``); ``keyword`` its keyword form; ``pattern`` which text pattern fired;
    ``matched_attribute`` which original attribute keyword a matched value came from.
    """

    file: str
    tag_path: str
    check: str
    severity: str
    keyword: str = ""
    pattern: str = ""
    matched_attribute: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, str]:
        """A plain dict with the non-empty fields (for JSON and the HTML report)."""
        return {k: v for k, v in asdict(self).items() if v}


@dataclass(frozen=True)
class Rules:
    """What the profile demands, resolved per tag from Table E.1-1 (picklable, no PHI)."""

    profile_name: str
    options: frozenset[str]
    overrides: Mapping[str, str] = field(default_factory=dict)
    #: Private elements the profile keeps by name: (creator, group, element byte).
    keep_private: frozenset[tuple[str, int, int]] = frozenset()
    #: Per-instance memo of :meth:`code_for` (asked for every element of every file).
    _codes: dict[int, str | None] = field(default_factory=dict, compare=False, repr=False)
    #: Memo of the score's per-element choice (deidkit.verify.score_facts.FactCollector).
    facts_wanted: dict[tuple[int, str, bool], bool] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def dates_allowed(self) -> bool:
        """Whether the profile keeps (full or shifted) dates."""
        return bool({"retain_long_full_dates", "retain_long_modified_dates"} & self.options)

    @property
    def expected_method_codes(self) -> frozenset[str]:
        """CID 7050 codes the method code sequence must hold for this profile."""
        return frozenset({CID7050_BASIC[0]} | {CID7050[o][0] for o in self.options if o in CID7050})

    def keeps_private(self, creator: str, group: int, element_byte: int | None = None) -> bool:
        """Whether ``keep_private`` names this element (None: any element of the block)."""
        return any(
            c == creator and g == group and element_byte in (None, e)
            for c, g, e in self.keep_private
        )

    def code_for(self, tag: int) -> str | None:
        """The action code the profile demands for a standard tag, or None if unlisted."""
        try:
            return self._codes[tag]
        except KeyError:
            code = _code_for(tag, self.options, tuple(sorted(self.overrides.items())))
            self._codes[tag] = code
            return code


@lru_cache(maxsize=4096)
def _code_for(
    tag: int, options: frozenset[str], overrides: tuple[tuple[str, str], ...]
) -> str | None:
    text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    for key, code in overrides:
        if key == text:
            return code
    row = row_for_tag(tag)
    if row is None:
        return None
    codes = {row.options[o] for o in options if o in row.options}
    # Several options may speak for one tag: the most permissive one is what a conformant
    # scrubber may have done, so verify accepts it.
    for permissive in ("K", "C", "U"):
        if permissive in codes:
            return permissive
    return next(iter(sorted(codes))) if codes else row.basic


@dataclass(frozen=True)
class OriginalIndex:
    """PHI collected from the originals, for searching the release (lives in memory only).

    ``values`` maps a case-folded value to the attribute keyword it came from; ``uids`` maps
    original UIDs to their keyword; ``uid_roots`` are organisation roots ("1.2.3.4.5.");
    ``patient_dates`` and ``offsets`` (only with a key) map a patient pseudonym to the
    original dates of that patient and to its date shift, so a shifted date that happens
    to equal a real date is no false alarm. Without them a date match is only a warning.
    """

    values: Mapping[str, str]
    uids: Mapping[str, str]
    uid_roots: frozenset[str]
    patient_dates: Mapping[str, frozenset[str]] | None = None
    offsets: Mapping[str, int] | None = None
    #: Tag -> case-folded values the originals hold in attributes every profile keeps
    #: (standard, not in Table E.1-1 or K; short string VRs): see :data:`RETAINED_VRS`.
    retained: Mapping[int, frozenset[str]] = field(default_factory=dict)
    #: With the key: case-folded value -> pseudonyms of the original patients holding it.
    #: A value found only in another patient's file is a warning (coincidence, e.g. an
    #: anatomy word that is also a name elsewhere in the batch), not an error.
    owners: Mapping[str, frozenset[str]] | None = None
    #: A case-folded single word of a multi-word original name (never indexed whole) -> the
    #: name's other words: found alone, an ordinary word of it is a warning (checks).
    word_parts: Mapping[str, frozenset[str]] = field(default_factory=dict)


#: Attributes whose values verify --original searches for besides names, dates and UIDs
#: (IDs, accession numbers, addresses, institution and physician data).
IDENTIFYING_KEYWORDS = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "IssuerOfPatientID",
        "AccessionNumber",
        "StudyID",
        "MedicalRecordLocator",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "DeviceSerialNumber",
        "AdmissionID",
        "ServiceEpisodeID",
        "RequestedProcedureID",
        "PerformedProcedureStepID",
        "ScheduledProcedureStepID",
        "PlacerOrderNumberImagingServiceRequest",
        "FillerOrderNumberImagingServiceRequest",
        "ResponsibleOrganization",
        "MilitaryRank",
        "BranchOfService",
        "RegionOfResidence",
        "CurrentPatientLocation",
        "Occupation",
        "PatientInsurancePlanCodeSequence",
        "IssuerOfAdmissionID",
        "PatientBirthName",
        "PatientMotherBirthName",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "ConsultingPhysicianName",
        "RequestingPhysician",
        "ScheduledPerformingPhysicianName",
        "ResponsiblePerson",
        "PersonAddress",
        "PersonTelephoneNumbers",
        "OtherPatientNames",
        "PatientComments",
        "AdditionalPatientHistory",
        "SourceApplicationEntityTitle",
        "StationAETitle",
        "ScheduledStationAETitle",
        "PerformedStationAETitle",
    }
)

#: UIDs that name a registry entry, never an instance or a patient: the coding scheme of a
#: code (SNOMED CT 2.16.840.1.113883.6.96, LOINC ...; PS3.16 Table 8-1), a context group or a
#: mapping resource. A release keeps them, so they are not searched for as original UIDs.
REGISTRY_UID_KEYWORDS = frozenset(
    {
        "CodingSchemeUID",
        "ContextUID",
        "ContextGroupExtensionCreatorUID",
        "MappingResourceUID",
    }
)


def is_registry_uid(keyword: str) -> bool:
    """Whether an attribute's UID names a registry entry or a class (SOP Class UID and the
    like, private SOP classes included), never an instance: not an original UID to find."""
    return keyword in REGISTRY_UID_KEYWORDS or keyword.endswith("ClassUID")


#: VRs whose values are indexed as "retained" (coded and short strings; never PN, dates or
#: long free text).
RETAINED_VRS = frozenset({"CS", "SH", "LO"})


@dataclass
class FileReport:
    """What one worker learnt about one released file (UIDs here are pseudonymous)."""

    rel: str
    kind: str
    modality: str = ""
    findings: list[Finding] = field(default_factory=list)
    unreadable: bool = False
    sop_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    patient_id: str = ""
    references: tuple[str, ...] = ()
    #: What the score compares (``(item path, tag, VR, value)`` tuples of this released
    #: file, see deidkit.verify.score_facts), only when asked for.
    score_facts: tuple[tuple[tuple[tuple[int, int], ...], int, str, str], ...] | None = field(
        default=None, repr=False
    )
    #: The parsed data set, only with ``keep_dataset`` and never sent between processes.
    dataset: Dataset | None = field(default=None, repr=False)
