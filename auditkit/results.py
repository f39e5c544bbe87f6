"""RESULTS.json: the contract between evaluate, report and gate.

The JSON Schema ships inside the package (``auditkit/schema/results.schema.json``) and is the
documentation of every key. The typed records below (:class:`ResultsDocument`,
:class:`GroupEntry`, :class:`MetricEntry`, :class:`DisparityEntry`, :class:`WarningEntry`)
spell out the same shape for code: :class:`~auditkit.evaluate.AuditResult` builds them and
they serialise unchanged. :func:`load_results` validates a file against the schema: with the
``jsonschema`` package when installed (full validation), otherwise with a built-in check of the
required keys and their types, so the report and gate work in a minimal install too. The
readers (:func:`group_entries`, :func:`attributes_in`, :func:`metric_of`) accept any mapping of
that shape, as report and gate do; frozen views (:class:`Results`, :class:`GroupResult`,
:class:`Disparity`) are provided for code that prefers attributes to dictionary keys.

This module is import-light (standard library only): evaluate, report and gate all use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, NotRequired, TypedDict

from auditkit.errors import ResultsFormatError
from auditkit.inputs import read_json

SCHEMA_PATH: Final = Path(__file__).parent / "schema" / "results.schema.json"
SUPPORTED_MAJOR: Final = "1"

MSG_INVALID: Final = "results: '{name}' does not follow the RESULTS.json schema: {detail}"
MSG_VERSION: Final = (
    "results: '{name}' has schema_version '{version}'; this auditkit reads {major}.x"
)


# --------------------------------------------------------------------------- typed records
Status = Literal["ok", "insufficient", "missing"]


class MetricEntry(TypedDict):
    """One metric of one group (``$defs/metric``): ``value`` is ``None`` when undefined."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    reason: NotRequired[str]
    wilson_low: NotRequired[float | None]
    wilson_high: NotRequired[float | None]
    ci_undefined_share: NotRequired[float]
    ci_method: NotRequired[str]


class GroupEntry(TypedDict):
    """One entry of ``overall``, ``groups`` or ``intersections`` (``$defs/entry``)."""

    attribute: str
    group: str
    n: int
    status: Status
    reason: str | None
    metrics: dict[str, MetricEntry]
    n_patients: NotRequired[int]
    per_class: NotRequired[dict[str, dict[str, MetricEntry]]]


class DisparityEntry(TypedDict):
    """One entry of ``disparities`` (``$defs/disparity``)."""

    attribute: str
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    significant_holm: bool | None
    groups_used: list[str]
    p_value: float | None
    p_value_holm: NotRequired[float | None]
    groups_compared: NotRequired[list[str]]
    group: NotRequired[str]
    based_on: NotRequired[str]
    reason: NotRequired[str]
    test: NotRequired[str]
    p_value_adjusted: NotRequired[float | None]
    adjustment: NotRequired[str]
    significant: NotRequired[bool | None]


class PairwiseEntry(TypedDict):
    """One entry of ``pairwise`` (``$defs/pairwise``): a group against its reference group."""

    attribute: str
    metric: str
    group: str
    reference: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_value_adjusted: float | None
    adjustment: str
    significant: bool | None


class WarningEntry(TypedDict):
    """One entry of ``warnings`` (``$defs/warning``): counts only, never values."""

    code: str
    message: str
    count: int


class ThresholdEntry(TypedDict):
    """``threshold``: the one global operating threshold and how it was chosen."""

    value: float | None
    method: str
    target_specificity: float | None


class SpecificityThresholdEntry(TypedDict):
    """``specificity_threshold``: the threshold behind ``tpr_at_fixed_specificity``."""

    target: float | None
    value: float | None


class BootstrapEntry(TypedDict):
    """``bootstrap``: how the intervals were computed."""

    n_boot: int
    seed: int
    unit: Literal["row", "patient"]
    ci_level: float
    method: Literal["percentile"]
    bca_metrics: NotRequired[list[str]]
    disparity_test: NotRequired[str]
    adjustment: NotRequired[str]


class ResultsDocument(TypedDict):
    """A whole RESULTS.json document, as :meth:`AuditResult.to_dict` writes it."""

    schema_version: str
    task: str
    threshold: ThresholdEntry
    specificity_threshold: SpecificityThresholdEntry | None
    min_group_size: int
    bootstrap: BootstrapEntry
    attributes: list[str]
    classes: list[str]
    overall: GroupEntry
    groups: list[GroupEntry]
    intersections: list[GroupEntry]
    disparities: list[DisparityEntry]
    pairwise: NotRequired[list[PairwiseEntry]]
    warnings: list[WarningEntry]
    provenance: dict[str, Any]
    operating_points: NotRequired[list[dict[str, Any]]]


#: What the readers accept: a RESULTS.json mapping (a :class:`ResultsDocument` or loaded JSON).
ResultsMapping = Mapping[str, Any]


# --------------------------------------------------------------------------- schema, files
@cache
def results_schema() -> dict[str, Any]:
    """The shipped JSON Schema of RESULTS.json."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _type_ok(value: Any, types: str | list[str]) -> bool:
    names = [types] if isinstance(types, str) else types
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return any(checks[name](value) for name in names)


def _basic_errors(node: Any, schema: dict[str, Any], root: dict[str, Any], where: str) -> list[str]:
    """A small validator for the subset of JSON Schema the results schema uses."""
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        return _basic_errors(node, root["$defs"][ref], root, where)
    if "type" in schema and not _type_ok(node, schema["type"]):
        return [f"{where or '/'} should be {schema['type']}"]
    if "enum" in schema and node not in schema["enum"]:
        return [f"{where} should be one of {schema['enum']}"]
    if "const" in schema and node != schema["const"]:
        return [f"{where} should be {schema['const']!r}"]
    errors: list[str] = []
    if isinstance(node, dict):
        errors += [
            f"{where}/{key} is missing" for key in schema.get("required", ()) if key not in node
        ]
        for key, sub in schema.get("properties", {}).items():
            if key in node:
                errors += _basic_errors(node[key], sub, root, f"{where}/{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in node.items():
                if key not in schema.get("properties", {}):
                    errors += _basic_errors(value, extra, root, f"{where}/{key}")
    if isinstance(node, list) and "items" in schema:
        for i, item in enumerate(node):
            errors += _basic_errors(item, schema["items"], root, f"{where}/{i}")
    return errors


def validation_errors(document: Any) -> list[str]:
    """Schema violations of a RESULTS.json document (empty when valid)."""
    schema = results_schema()
    try:
        import jsonschema
    except ImportError:
        return _basic_errors(document, schema, schema, "")
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]


def validate_results(document: Any, *, name: str = "RESULTS.json") -> dict[str, Any]:
    """Return ``document`` if it follows the schema, else raise :class:`ResultsFormatError`."""
    if isinstance(document, dict):
        version = str(document.get("schema_version", ""))
        if version and version.split(".")[0] != SUPPORTED_MAJOR:
            raise ResultsFormatError(
                MSG_VERSION.format(name=name, version=version, major=SUPPORTED_MAJOR)
            )
    errors = validation_errors(document)
    if errors:
        detail = "; ".join(errors[:5]) + (
            f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        )
        raise ResultsFormatError(MSG_INVALID.format(name=name, detail=detail))
    assert isinstance(document, dict)
    return document


def load_results(path: str | Path, *, what: str = "results") -> dict[str, Any]:
    """Read a RESULTS.json file and validate it against the shipped schema.

    ``what`` names the file in read errors ("results", "baseline").

    Raises
    ------
    ResultsFormatError
        The file is missing, not UTF-8 text, not JSON, has an unsupported major version,
        or breaks the schema.
    """
    path = Path(path)
    document = read_json(path, what=what, error=ResultsFormatError)
    return validate_results(document, name=path.name)


def dumps_results(document: Mapping[str, Any]) -> str:
    """Serialise a results document deterministically (sorted keys off: schema order kept).

    NaN and infinities are refused: the schema uses ``null`` for undefined values.
    """
    return json.dumps(document, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- readers


def check_results(data: Any, *, name: str = "RESULTS.json") -> None:
    """Raise :class:`ResultsFormatError` unless ``data`` has the RESULTS.json shape.

    A cheap structural check for mappings built in memory; files are checked in full against
    the schema by :func:`load_results`.
    """
    if not isinstance(data, Mapping):
        raise ResultsFormatError(f"{name}: the top level must be an object")
    for key in ("overall", "groups"):
        if key not in data:
            raise ResultsFormatError(f"{name}: missing key '{key}'")
    entries = [data["overall"], *data.get("groups", []), *(data.get("intersections") or [])]
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("metrics", {}), Mapping):
            raise ResultsFormatError(f"{name}: a group entry is not an object with 'metrics'")
    if not isinstance(data.get("disparities", []) or [], list):
        raise ResultsFormatError(f"{name}: 'disparities' must be a list")


def group_entries(results: ResultsMapping) -> Iterator[Mapping[str, Any]]:
    """Yield every group entry, single attributes first, then intersections."""
    yield from results.get("groups", []) or []
    yield from results.get("intersections", []) or []


def attributes_in(results: ResultsMapping) -> list[str]:
    """Attribute names in the order they first appear (intersections included)."""
    seen: dict[str, None] = {}
    for entry in group_entries(results):
        seen.setdefault(str(entry.get("attribute")), None)
    for entry in results.get("disparities", []) or []:
        seen.setdefault(str(entry.get("attribute")), None)
    return list(seen)


def metric_of(
    entry: Mapping[str, Any], metric: str
) -> tuple[float | None, float | None, float | None]:
    """Return ``(value, ci_low, ci_high)`` of a metric in a group entry (None if absent)."""
    raw = (entry.get("metrics") or {}).get(metric)
    if raw is None:
        return None, None, None
    if isinstance(raw, int | float):
        return finite_or_none(raw), None, None
    return (
        finite_or_none(raw.get("value")),
        finite_or_none(raw.get("ci_low")),
        finite_or_none(raw.get("ci_high")),
    )


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------- typed views
@dataclass(frozen=True)
class MetricValue:
    """One metric of one group: point value, bootstrap CI, optional Wilson CI and reason."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    reason: str | None = None
    wilson_low: float | None = None
    wilson_high: float | None = None

    @property
    def defined(self) -> bool:
        """Whether the metric has a finite value."""
        return self.value is not None and math.isfinite(self.value)


@dataclass(frozen=True)
class GroupResult:
    """One entry of ``overall``, ``groups`` or ``intersections``."""

    attribute: str
    group: str
    n: int
    status: str
    reason: str | None
    metrics: dict[str, MetricValue]
    n_patients: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the group has enough evidence to be compared."""
        return self.status == "ok"


@dataclass(frozen=True)
class Disparity:
    """One entry of ``disparities``."""

    attribute: str
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    significant_holm: bool | None
    groups_used: tuple[str, ...]
    reason: str | None = None


@dataclass(frozen=True)
class Results:
    """A typed view of a validated RESULTS.json document (the dict stays in ``raw``)."""

    schema_version: str
    task: str
    threshold: float | None
    overall: GroupResult
    groups: tuple[GroupResult, ...]
    intersections: tuple[GroupResult, ...]
    disparities: tuple[Disparity, ...]
    warnings: tuple[dict[str, Any], ...]
    raw: dict[str, Any]

    def attribute_groups(self, attribute: str) -> tuple[GroupResult, ...]:
        """Entries of one attribute (or intersection name)."""
        return tuple(g for g in self.groups + self.intersections if g.attribute == attribute)


def _metric(raw: dict[str, Any]) -> MetricValue:
    return MetricValue(
        value=raw.get("value"),
        ci_low=raw.get("ci_low"),
        ci_high=raw.get("ci_high"),
        reason=raw.get("reason"),
        wilson_low=raw.get("wilson_low"),
        wilson_high=raw.get("wilson_high"),
    )


def _group(raw: dict[str, Any]) -> GroupResult:
    return GroupResult(
        attribute=raw["attribute"],
        group=raw["group"],
        n=raw["n"],
        status=raw["status"],
        reason=raw.get("reason"),
        metrics={name: _metric(m) for name, m in raw["metrics"].items()},
        n_patients=raw.get("n_patients"),
    )


def parse_results(document: dict[str, Any]) -> Results:
    """Typed view of a document already checked by :func:`validate_results`."""
    return Results(
        schema_version=document["schema_version"],
        task=document["task"],
        threshold=document["threshold"].get("value"),
        overall=_group(document["overall"]),
        groups=tuple(_group(g) for g in document["groups"]),
        intersections=tuple(_group(g) for g in document["intersections"]),
        disparities=tuple(
            Disparity(
                attribute=d["attribute"],
                metric=d["metric"],
                value=d["value"],
                ci_low=d["ci_low"],
                ci_high=d["ci_high"],
                significant_holm=d["significant_holm"],
                groups_used=tuple(d["groups_used"]),
                reason=d.get("reason"),
            )
            for d in document["disparities"]
        ),
        warnings=tuple(document["warnings"]),
        raw=document,
    )
