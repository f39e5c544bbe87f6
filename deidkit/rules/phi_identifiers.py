"""This patient's identifying values, read from a header before it is cleaned.

:func:`collect_identifiers` gathers, from one dataset, the values the span detector
(:func:`deidkit.rules.phi_text.find_phi_spans`) looks for in free text: person names (every
part, so ``SMITH^JOHN`` is found as ``John Smith``, ``J. Smith``, ``Smith, John``), dates (found
in every common format), IDs and accession numbers, phone numbers, addresses, institution and
department names. :class:`PatientIdentifiers` is immutable and merges with ``|``, so a caller
holding several files of one patient can join theirs. The values live in memory only and are
never logged.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element

__all__ = ["PatientIdentifiers", "collect_identifiers", "identifiers_from_values"]

#: Tags whose values are IDs of the patient, the study or the request.
_ID_KEYWORDS = (
    "PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "RequestedProcedureID",
    "ScheduledProcedureStepID", "PerformedProcedureStepID", "AdmissionID", "ServiceEpisodeID",
    "MedicalRecordLocator", "IssuerOfPatientID", "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest", "DeviceSerialNumber",
)
_PHONE_KEYWORDS = (
    "PatientTelephoneNumbers", "ReferringPhysicianTelephoneNumbers",
    "PersonTelephoneNumbers", "InstitutionTelephoneNumbers",
)
_ADDRESS_KEYWORDS = (
    "PatientAddress", "InstitutionAddress", "ReferringPhysicianAddress", "PersonAddress",
    "RegionOfResidence", "CountryOfResidence",
)
_INSTITUTION_KEYWORDS = (
    "InstitutionName", "InstitutionalDepartmentName", "StationName",
    "PerformedStationName", "ScheduledStationName",
)
#: Words of an institution's name or address too common to point at it alone.
_GENERIC_WORDS = frozenset(
    """
    hospital hospitals clinic clinics medical center centre health healthcare system
    university universitat universite universitario institute department dept radiology
    imaging diagnostic diagnostics general regional community memorial national county
    city state saint st the of and for de la le du der des und children childrens womens
    street road avenue lane drive boulevard way court place suite floor building unit
    north south east west new mr ct us pet nm xr room scanner station
    """.split()
)
_NAME_AFFIXES = frozenset({"dr", "mr", "mrs", "ms", "miss", "prof", "jr", "sr", "ii", "iii",
                           "iv", "md", "phd", "rn", "mx", "von", "van", "de", "der", "la", "le"})
_SPLIT_NAME = re.compile(r"[\s^=,.;/\\()\"'-]+")
_DIGITS = re.compile(r"\d")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:$|T)")


@dataclass(frozen=True)
class PatientIdentifiers:
    """One patient's identifying values, normalised for matching (lower case, digits only).

    ``names``: name parts of every person named in the headers (patient and staff);
    ``dates``: calendar dates; ``ids``: IDs and accession numbers; ``phones``: phone digits;
    ``addresses``, ``institutions``: whole values and their distinctive words.
    """

    names: frozenset[str] = frozenset()
    dates: frozenset[_dt.date] = frozenset()
    ids: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()
    institutions: frozenset[str] = frozenset()
    _kinds: tuple[str, ...] = field(
        default=("names", "dates", "ids", "phones", "addresses", "institutions"),
        repr=False, compare=False,
    )

    def __or__(self, other: PatientIdentifiers) -> PatientIdentifiers:
        """Both sets of values (files of one patient in a run)."""
        return PatientIdentifiers(
            **{k: getattr(self, k) | getattr(other, k) for k in self._kinds}
        )

    def __bool__(self) -> bool:
        return any(getattr(self, k) for k in self._kinds)

    def __repr__(self) -> str:
        # never the values: a repr may end up in a traceback or a log
        counts = ", ".join(f"{k}={len(getattr(self, k))}" for k in self._kinds)
        return f"PatientIdentifiers({counts})"

    def merge(self, others: Iterable[PatientIdentifiers]) -> PatientIdentifiers:
        """This and every one of ``others``."""
        merged = self
        for other in others:
            merged = merged | other
        return merged


def _texts(value: Any) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, bytes):
        yield value.decode("latin-1", "replace")
    elif isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        for item in value:
            yield from _texts(item)
    else:
        yield str(value)


def _name_parts(text: str) -> Iterator[str]:
    for part in _SPLIT_NAME.split(text.lower()):
        if len(part) >= 2 and part not in _NAME_AFFIXES:
            yield part


def _date(text: str) -> _dt.date | None:
    digits = text.strip()[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _distinctive(text: str) -> Iterator[str]:
    low = " ".join(text.lower().split())
    if len(low) >= 3:
        yield low
    for word in re.findall(r"[^\W\d_]{4,}", low):
        if word not in _GENERIC_WORDS:
            yield word


@dataclass
class _Collector:
    names: set[str] = field(default_factory=set)
    dates: set[_dt.date] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    institutions: set[str] = field(default_factory=set)

    def add(self, keyword: str, vr: str, value: Any) -> None:
        for text in _texts(value):
            text = text.strip(" \x00")
            if not text:
                continue
            if vr == "PN":
                self.names.update(_name_parts(text))
            elif vr in ("DA", "DT"):
                # a BIDS sidecar writes ISO dates ("2019-05-04T10:11:12")
                iso = _ISO_DATE.match(text)
                text = iso.group(1) + iso.group(2) + iso.group(3) if iso else text
                for part in text.split("-"):
                    found = _date(part)
                    if found is not None:
                        self.dates.add(found)
            elif keyword in _ID_KEYWORDS and len(text) >= 4:
                self.ids.add(text.lower())
            elif keyword in _PHONE_KEYWORDS:
                digits = "".join(_DIGITS.findall(text))
                if len(digits) >= 7:
                    self.phones.add(digits)
            elif keyword in _ADDRESS_KEYWORDS:
                self.addresses.update(_distinctive(text))
            elif keyword in _INSTITUTION_KEYWORDS:
                self.institutions.update(_distinctive(text))

    def frozen(self) -> PatientIdentifiers:
        return PatientIdentifiers(
            names=frozenset(self.names),
            dates=frozenset(self.dates),
            ids=frozenset(self.ids),
            phones=frozenset(self.phones),
            addresses=frozenset(self.addresses),
            institutions=frozenset(self.institutions),
        )


_WANTED_VRS = frozenset({"PN", "DA", "DT", "LO", "SH", "ST", "LT", "UT", "UC", "SQ"})


def _elements(ds: pydicom.Dataset) -> Iterator[DataElement]:
    """The public elements of one level, decoded without storing the decoded form.

    ``for elem in ds`` would replace every raw element of the caller's dataset by a decoded
    one, and the scrub rewrites still-raw elements byte for byte: reading must not change that.
    """
    encoding = ds._character_set
    for tag, raw in list(ds._dict.items()):
        if tag >> 16 & 1 or tag >> 16 in (0x7FE0, 0x0002):
            continue
        if isinstance(raw, RawDataElement):
            vr = raw.VR or _dictionary_vr(tag)
            if vr not in _WANTED_VRS:
                continue
            try:
                yield convert_raw_data_element(raw, encoding=encoding, ds=ds)
            except Exception:  # noqa: BLE001 - a damaged element is the scrub's to judge
                continue
        else:
            yield raw


def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(dictionary_VR(tag)).split(" ")[0]
    except KeyError:
        return None


def _walk(ds: pydicom.Dataset, out: _Collector, depth: int) -> None:
    for elem in _elements(ds):
        vr = elem.VR
        if vr not in _WANTED_VRS:
            continue
        if vr == "SQ":
            if depth < 8:
                for item in elem.value or ():
                    _walk(item, out, depth + 1)
            continue
        out.add(elem.keyword or "", vr, elem.value)


def identifiers_from_values(items: Iterable[tuple[str, str, Any]]) -> PatientIdentifiers:
    """Identifiers from ``(keyword, VR, value)`` triples (a BIDS sidecar's DICOM keys, say)."""
    out = _Collector()
    for keyword, vr, value in items:
        out.add(keyword, vr, value)
    return out.frozen()


def collect_identifiers(dataset: pydicom.Dataset) -> PatientIdentifiers:
    """The identifying values of one header, at every depth, before anything is cleaned.

    Private elements are not read (they are removed or kept by their own rules). Values stay
    in memory; nothing is logged.
    """
    out = _Collector()
    _walk(dataset, out, 0)
    return out.frozen()
