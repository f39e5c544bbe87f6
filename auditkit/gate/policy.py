"""Gate policies: load and validate a policy YAML file into frozen dataclasses.

A policy lists *checks*. Each check names one metric and one limit:

* ``min`` / ``max``: an absolute limit on a metric (``tpr >= 0.80`` for every group, or
  ``auroc_difference <= 0.05`` for the disparity of an attribute);
* ``max_drop`` / ``max_rise``: a limit on the change against a baseline RESULTS.json;
  ``max_drop_relative`` / ``max_rise_relative`` the same as a fraction of the baseline's value
  (0.05: at most 5 % of it).

The scope of a check follows from its metric and limit unless it is given: disparity metrics
(``auroc_difference`` ...) are checked per attribute, change limits per group against the
baseline, other metrics per group of every selected attribute; ``scope: overall`` checks the
whole test set. See ``profiles/policies/example.yaml`` for every key, documented.

Policies ship in ``profiles/policies/`` and are loaded by name (``strict-predeployment``);
any other policy by the path of its file (:func:`resolve_policy`).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from auditkit.errors import (
    MalformedLimitError,
    PolicyError,
    UnknownAttributeError,
    UnknownMetricError,
)
from auditkit.inputs import read_text
from auditkit.metrics.kernels import BINARY_METRICS
from deidkit.core.resources import shipped_dir

#: Per-group metrics of RESULTS.json (issue 7) a policy may limit: the binary metrics the
#: evaluator computes, plus the task-specific ones (segmentation, regression, multiclass).
GROUP_METRICS: Final[frozenset[str]] = frozenset(BINARY_METRICS) | {
    "dice",
    "hd95",
    "mae",
    "bias",
    "macro_auroc",
}

#: Disparity metrics of RESULTS.json, one value per attribute.
DISPARITY_METRICS: Final[frozenset[str]] = frozenset(
    {
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equal_opportunity_difference",
        "auroc_difference",
        "worst_group_auroc",
        "worst_group_tpr",
    }
)

MSG_NOT_A_MAPPING: Final = (
    "policy {path}: not a YAML mapping; the file must hold a mapping of keys (see example.yaml)"
)
MSG_UNKNOWN_KEY: Final = "policy {path}: unknown key '{key}' in {where}; known keys: {known}"
MSG_UNKNOWN_METRIC: Final = (
    "policy {path}: check '{check}' names unknown metric '{metric}'; known metrics: {known}"
)
MSG_UNKNOWN_ATTRIBUTE: Final = (
    "policy {path}: check '{check}' selects attribute '{attribute}', which the results do not "
    "contain; attributes in the results: {known}"
)
MSG_LIMIT_COUNT: Final = (
    "policy {path}: check '{check}' needs exactly one limit of min, max, max_drop, max_rise, "
    "max_drop_relative, max_rise_relative (found {found})"
)
MSG_LIMIT_NUMBER: Final = "policy {path}: check '{check}': limit '{key}' must be a finite number"
MSG_LIMIT_NEGATIVE: Final = "policy {path}: check '{check}': '{key}' must be zero or positive"
MSG_BAD_CHOICE: Final = "policy {path}: '{key}' must be one of {choices}, not '{value}'"
MSG_BAD_SCOPE: Final = "policy {path}: check '{check}': scope '{scope}' does not fit {why}"
MSG_UNKNOWN_POLICY: Final = (
    "unknown policy '{name}' (shipped policies: {known}); a policy file is named by a path "
    "with a '/' or a .yaml suffix, e.g. ./{name}.yaml"
)

#: How the source of a shipped policy reads in messages (``builtin:strict-predeployment``).
BUILTIN_PREFIX: Final = "builtin:"
# A shipped policy's name: a file stem with no separator and no suffix, so that any value
# of --policy with a '/' or a '.yaml' is a path, and every other value a name.
_POLICY_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class Scope(enum.Enum):
    """Where a check looks in RESULTS.json."""

    GROUP = "group"
    OVERALL = "overall"
    DISPARITY = "disparity"
    CHANGE = "change"


class LimitKind(enum.Enum):
    """How a check's limit compares: ``value >= limit``, ``value <= limit`` or a change."""

    MIN = "min"
    MAX = "max"
    MAX_DROP = "max_drop"
    MAX_RISE = "max_rise"
    MAX_DROP_RELATIVE = "max_drop_relative"
    MAX_RISE_RELATIVE = "max_rise_relative"

    @property
    def is_change(self) -> bool:
        """Whether the limit is on the change against a baseline."""
        return self not in (LimitKind.MIN, LimitKind.MAX)

    @property
    def needs_at_least(self) -> bool:
        """Whether the value (or change) must reach the limit from above (``>=``)."""
        return self in (LimitKind.MIN, LimitKind.MAX_DROP, LimitKind.MAX_DROP_RELATIVE)


class InsufficientAction(enum.Enum):
    """What an "insufficient evidence" outcome does to the gate's verdict."""

    FAIL = "fail"
    WARN = "warn"


@dataclass(frozen=True)
class MinimumEvidence:
    """Evidence a group needs before a check judges it (else: insufficient evidence)."""

    min_group_size: int = 30
    min_positives: int = 0
    min_negatives: int = 0


@dataclass(frozen=True)
class Check:
    """One rule of a policy: a metric, a scope, a limit and the attributes it covers.

    ``attributes`` empty means "the policy's default selection" (and, when that is empty
    too, every attribute in the results).
    """

    id: str
    metric: str
    scope: Scope
    limit_kind: LimitKind
    limit: float
    attributes: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Policy:
    """A validated gate policy."""

    name: str
    checks: tuple[Check, ...]
    attributes: tuple[str, ...] = ()
    insufficient: InsufficientAction = InsufficientAction.FAIL
    check_missing_groups: bool = False
    min_evidence: MinimumEvidence = MinimumEvidence()
    min_cell_size: int = 10
    description: str = ""
    source: str = ""

    def attributes_for(self, check: Check, available: Iterable[str]) -> tuple[str, ...]:
        """Return the attributes ``check`` covers, given those present in the results."""
        if check.attributes:
            return check.attributes
        if self.attributes:
            return self.attributes
        return tuple(a for a in available if " | " not in a)

    def validate_attributes(self, available: Iterable[str]) -> None:
        """Raise :class:`UnknownAttributeError` if a check names an absent attribute.

        Only attributes a check names itself are validated (a typo there must not pass
        silently); absent attributes of the policy-wide default selection are reported by
        the gate as skipped checks, so one policy can serve data sets with fewer columns.

        Parameters
        ----------
        available
            Attribute names present in RESULTS.json (groups and intersections).
        """
        known = sorted(set(available))
        for check in self.checks:
            if check.scope is Scope.OVERALL:
                continue
            for attribute in check.attributes:
                if attribute not in known:
                    raise UnknownAttributeError(
                        MSG_UNKNOWN_ATTRIBUTE.format(
                            path=self.source or self.name,
                            check=check.id,
                            attribute=attribute,
                            known=", ".join(known) or "(none)",
                        )
                    )


_TOP_KEYS: Final = frozenset(
    {
        "schema_version",
        "name",
        "description",
        "insufficient_evidence",
        "missing_groups",
        "min_evidence",
        "privacy",
        "attributes",
        "checks",
    }
)
_CHECK_KEYS: Final = frozenset(
    {"id", "description", "metric", "scope", "attributes"} | {k.value for k in LimitKind}
)
_EVIDENCE_KEYS: Final = frozenset({"min_group_size", "min_positives", "min_negatives"})
_PRIVACY_KEYS: Final = frozenset({"min_cell_size"})


def _reject_unknown(
    path: str, mapping: Mapping[str, Any], known: frozenset[str], where: str
) -> None:
    for key in mapping:
        if key not in known:
            raise PolicyError(
                MSG_UNKNOWN_KEY.format(
                    path=path, key=key, where=where, known=", ".join(sorted(known))
                )
            )


def _choice(path: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise PolicyError(
            MSG_BAD_CHOICE.format(path=path, key=key, choices=", ".join(choices), value=value)
        )
    return text


def _count(path: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"policy {path}: '{key}' must be a whole number >= 0")
    return value


def _names(path: str, where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PolicyError(f"policy {path}: '{where}' must be a list of attribute names")
    return tuple(v.strip() for v in value)


def _parse_check(path: str, index: int, raw: Any) -> Check:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"policy {path}: checks[{index}] must be a mapping")
    check_id = str(raw.get("id") or f"check-{index + 1}")
    _reject_unknown(path, raw, _CHECK_KEYS, f"check '{check_id}'")
    metric = raw.get("metric")
    known_metrics = GROUP_METRICS | DISPARITY_METRICS
    if not isinstance(metric, str) or metric not in known_metrics:
        raise UnknownMetricError(
            MSG_UNKNOWN_METRIC.format(
                path=path, check=check_id, metric=metric, known=", ".join(sorted(known_metrics))
            )
        )
    limits = [k.value for k in LimitKind if k.value in raw]
    if len(limits) != 1:
        raise MalformedLimitError(
            MSG_LIMIT_COUNT.format(path=path, check=check_id, found=", ".join(limits) or "none")
        )
    kind = LimitKind(limits[0])
    value = raw[kind.value]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedLimitError(
            MSG_LIMIT_NUMBER.format(path=path, check=check_id, key=kind.value)
        )
    if kind.is_change and value < 0:
        raise MalformedLimitError(
            MSG_LIMIT_NEGATIVE.format(path=path, check=check_id, key=kind.value)
        )
    scope = _infer_scope(path, check_id, raw.get("scope"), metric, kind)
    return Check(
        id=check_id,
        metric=metric,
        scope=scope,
        limit_kind=kind,
        limit=float(value),
        attributes=_names(path, f"{check_id}.attributes", raw.get("attributes")),
        description=str(raw.get("description") or ""),
    )


def _infer_scope(path: str, check_id: str, raw: Any, metric: str, kind: LimitKind) -> Scope:
    is_change = kind.is_change
    is_disparity = metric in DISPARITY_METRICS
    if raw is None:
        if is_change:
            return Scope.CHANGE
        return Scope.DISPARITY if is_disparity else Scope.GROUP
    choice = Scope(_choice(path, f"{check_id}.scope", raw, tuple(s.value for s in Scope)))
    why = ""
    if choice is Scope.CHANGE and not is_change:
        why = "an absolute limit (use max_drop, max_rise or their _relative forms)"
    elif choice is not Scope.CHANGE and is_change:
        why = "a change limit (max_drop/max_rise and their _relative forms need scope: change)"
    elif choice is Scope.DISPARITY and not is_disparity:
        why = f"the per-group metric '{metric}'"
    elif choice in (Scope.GROUP, Scope.OVERALL) and is_disparity:
        why = f"the disparity metric '{metric}' (use scope: disparity)"
    if why:
        raise PolicyError(
            MSG_BAD_SCOPE.format(path=path, check=check_id, scope=choice.value, why=why)
        )
    return choice


def parse_policy(data: Any, *, source: str = "<policy>") -> Policy:
    """Validate a parsed policy mapping into a :class:`Policy`.

    Parameters
    ----------
    data
        The mapping read from YAML.
    source
        Name used in error messages (the file path).

    Raises
    ------
    PolicyError
        Or its subclasses UnknownMetricError and MalformedLimitError, with the key named.
    """
    if not isinstance(data, Mapping):
        raise PolicyError(MSG_NOT_A_MAPPING.format(path=source))
    _reject_unknown(source, data, _TOP_KEYS, "the policy")
    raw_checks = data.get("checks")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise PolicyError(f"policy {source}: 'checks' must be a non-empty list")
    checks = tuple(_parse_check(source, i, raw) for i, raw in enumerate(raw_checks))
    ids = [c.id for c in checks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PolicyError(f"policy {source}: duplicate check ids: {', '.join(duplicates)}")
    evidence_raw = data.get("min_evidence") or {}
    privacy_raw = data.get("privacy") or {}
    for key, raw, known in (
        ("min_evidence", evidence_raw, _EVIDENCE_KEYS),
        ("privacy", privacy_raw, _PRIVACY_KEYS),
    ):
        if not isinstance(raw, Mapping):
            raise PolicyError(f"policy {source}: '{key}' must be a mapping")
        _reject_unknown(source, raw, known, f"'{key}'")
    evidence = MinimumEvidence(
        **{k: _count(source, f"min_evidence.{k}", v) for k, v in evidence_raw.items()}
    )
    insufficient = _choice(
        source, "insufficient_evidence", data.get("insufficient_evidence", "fail"), ("fail", "warn")
    )
    missing = _choice(
        source, "missing_groups", data.get("missing_groups", "skip"), ("skip", "check")
    )
    return Policy(
        name=str(data.get("name") or Path(source.removeprefix(BUILTIN_PREFIX)).stem),
        description=str(data.get("description") or "").strip(),
        checks=checks,
        attributes=_names(source, "attributes", data.get("attributes")),
        insufficient=InsufficientAction(insufficient),
        check_missing_groups=missing == "check",
        min_evidence=evidence,
        min_cell_size=_count(source, "privacy.min_cell_size", privacy_raw.get("min_cell_size", 10)),
        source=source,
    )


def shipped_policy_dir() -> Path:
    """The folder of the policies shipped with auditkit (``profiles/policies/``).

    Found through :func:`deidkit.core.resources.shipped_dir`, so the same in an editable
    install and in a wheel.
    """
    return shipped_dir("profiles") / "policies"


def list_policies() -> list[str]:
    """Names of the shipped policies, sorted: the values ``--policy NAME`` accepts."""
    return sorted(p.stem for p in shipped_policy_dir().glob("*.yaml") if p.is_file())


def resolve_policy(name_or_path: str | Path) -> tuple[Path, str]:
    """The file a ``--policy`` value names, and its source as messages show it.

    A bare name (no path separator, no ``.yaml`` suffix: ``strict-predeployment``) is a
    shipped policy, source ``builtin:NAME``; anything else is a path to a policy file,
    source the path as given. A bare name that no shipped policy has but a file in the
    working folder has is that file, so that calls made before policies had names keep
    working; a shipped policy of the same name wins (``./NAME`` picks the file).

    Raises
    ------
    PolicyError
        A bare name that is neither a shipped policy nor a file; the message lists the
        shipped names.
    """
    text = str(name_or_path)
    if _POLICY_NAME.fullmatch(text):
        shipped = shipped_policy_dir() / f"{text}.yaml"
        if shipped.is_file():
            return shipped, f"{BUILTIN_PREFIX}{text}"
        if not Path(text).is_file():
            known = ", ".join(list_policies()) or "(none)"
            raise PolicyError(MSG_UNKNOWN_POLICY.format(name=text, known=known))
    return Path(text), text


def load_policy(name_or_path: str | Path) -> Policy:
    """Read and validate a policy: a shipped one by name, or a YAML file by path.

    ``name_or_path`` follows :func:`resolve_policy`: ``"strict-predeployment"`` is the
    shipped policy (see :func:`list_policies`), ``"./team.yaml"`` a file.

    Raises
    ------
    PolicyError
        If the name is unknown, the file is missing or unreadable, is not UTF-8 text, is not
        YAML, or fails validation.
    """
    path, source = resolve_policy(name_or_path)
    text = read_text(path, what="policy", error=PolicyError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"policy {source}: not valid YAML{where}") from None
    except RecursionError:
        # The YAML composer recurses once per nesting level.
        raise PolicyError(f"policy {source}: not valid YAML (nested too deeply)") from None
    return parse_policy(data, source=source)


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """A JSON-ready view of a validated policy (``auditkit policies show --json``)."""
    return {
        "name": policy.name,
        "source": policy.source,
        "description": policy.description,
        "insufficient_evidence": policy.insufficient.value,
        "missing_groups": "check" if policy.check_missing_groups else "skip",
        "min_evidence": {
            "min_group_size": policy.min_evidence.min_group_size,
            "min_positives": policy.min_evidence.min_positives,
            "min_negatives": policy.min_evidence.min_negatives,
        },
        "min_cell_size": policy.min_cell_size,
        "attributes": list(policy.attributes),
        "checks": [_check_to_dict(check) for check in policy.checks],
    }


def _check_to_dict(check: Check) -> dict[str, Any]:
    return {
        "id": check.id,
        "metric": check.metric,
        "scope": check.scope.value,
        "limit": {"kind": check.limit_kind.value, "value": check.limit},
        "attributes": list(check.attributes),
        "description": check.description,
    }
