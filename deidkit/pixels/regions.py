"""Known burned-in text regions by device and image size: the data file and its imports.

A rule names a manufacturer and model (case-insensitive substrings), an image size and
boxes that are cleaned whenever the rule matches, as CTP's DicomPixelAnonymizer and deid's
``%filter`` sections do. deidkit ships ``deidkit/data/burned-in-regions.json`` (empty: a
fixed box cleans control images too); a site adds its own devices with ``--regions FILE``,
in that JSON format, as a deid recipe (its ``LABEL`` / ``contains`` / ``equals`` /
``coordinates`` / ``ctpcoordinates`` lines) or as a CTP script
(``{ Manufacturer.containsIgnoreCase("X") * Rows.equals("480") } (x,y,w,h)``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from deidkit.core.errors import UsageError
from deidkit.core.resources import data_file

__all__ = [
    "RegionRule",
    "load_regions",
    "matching_boxes",
    "parse_ctp_script",
    "parse_deid_filters",
    "shipped_regions",
]

SHIPPED_FILE: Final = "burned-in-regions.json"
Box = tuple[int, int, int, int]  # left, top, width, height
_WHOLE: Final = 1 << 16  # deid's "coordinates all": wider than any image


@dataclass(frozen=True)
class RegionRule:
    """One device's text regions: where, for which files."""

    label: str
    boxes: tuple[Box, ...]
    manufacturer: str = ""
    model: str = ""
    rows: int = 0
    columns: int = 0
    #: further (keyword, operator, value) conditions from deid or CTP rules
    conditions: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)

    def matches(self, get: Callable[[str], str]) -> bool:
        """Whether a file matches; ``get(keyword)`` reads a top-level value as text."""
        if self.manufacturer and self.manufacturer.upper() not in get("Manufacturer").upper():
            return False
        if self.model and self.model.upper() not in get("ManufacturerModelName").upper():
            return False
        if self.rows and get("Rows") != str(self.rows):
            return False
        if self.columns and get("Columns") != str(self.columns):
            return False
        return all(_condition(get(k), op, v) for k, op, v in self.conditions)


def _condition(actual: str, op: str, value: str) -> bool:
    a, v = actual.strip().upper(), value.strip().upper()
    if op == "contains":
        return v in a
    if op == "notcontains":
        return v not in a
    if op == "equals":
        return a == v
    if op == "notequals":
        return a != v
    if op == "startswith":
        return a.startswith(v)
    if op == "present":
        return bool(a)
    return op == "empty" and not a


def _box(values: Iterable[Any]) -> Box:
    left, top, width, height = (int(float(v)) for v in values)
    if width <= 0 or height <= 0 or left < 0 or top < 0:
        raise ValueError("box")
    return (left, top, width, height)


def _rules_from_json(data: Any, name: str) -> list[RegionRule]:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise UsageError(f"regions file '{name}' has no 'rules' list")
    rules = []
    for index, item in enumerate(data["rules"]):
        try:
            rules.append(
                RegionRule(
                    label=str(item.get("label", f"rule {index + 1}")),
                    boxes=tuple(_box(b) for b in item["boxes"]),
                    manufacturer=str(item.get("manufacturer", "")),
                    model=str(item.get("model", "")),
                    rows=int(item.get("rows", 0)),
                    columns=int(item.get("columns", 0)),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UsageError(f"regions file '{name}': rule {index + 1} is malformed") from None
    return rules


_DEID_CONDITION: Final = re.compile(
    r"^\s*[+|]?\s*(contains|notcontains|equals|notequals|startswith|present|empty|missing)"
    r"\s+(\w+)\s*(.*)$",
    re.I,
)


def parse_deid_filters(text: str) -> list[RegionRule]:
    """The region rules of a deid recipe's ``%filter`` sections.

    ``coordinates`` are ``xmin,ymin,xmax,ymax``; ``ctpcoordinates`` ``x,y,width,height``;
    ``coordinates all`` is the whole image. A label without conditions matches nothing, as
    in deid.
    Conditions of one ``LABEL`` are combined with *and* (deid's ``||`` alternatives become
    separate rules only where they are written as separate labels).
    """
    rules: list[RegionRule] = []
    label, in_filter = "", False
    conditions: list[tuple[str, str, str]] = []
    boxes: list[Box] = []

    def flush() -> None:
        # deid flags nothing with a rule that has no condition; neither does this
        if label and boxes and conditions:
            rules.append(RegionRule(label=label, boxes=tuple(boxes), conditions=tuple(conditions)))

    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("%"):
            flush()
            label, conditions, boxes = "", [], []
            in_filter = line.lower().startswith("%filter")
            continue
        if not in_filter or not line:
            continue
        if line.upper().startswith("LABEL"):
            flush()
            label, conditions, boxes = line[5:].strip() or "deid filter", [], []
        elif line.lower().startswith(("coordinates", "ctpcoordinates", "keepcoordinates")):
            word, _, rest = line.partition(" ")
            if word.lower() == "keepcoordinates" or rest.strip().startswith("from:"):
                continue  # boxes read from header fields: not supported, never guessed
            if rest.strip().lower() == "all":
                boxes.append((0, 0, _WHOLE, _WHOLE))  # clipped to the image
                continue
            numbers = [float(v) for v in re.split(r"[,\s]+", rest.strip()) if v]
            if len(numbers) != 4:
                raise UsageError("deid %filter: coordinates need four numbers")
            if word.lower() == "coordinates":
                x0, y0, x1, y1 = numbers
                numbers = [x0, y0, x1 - x0, y1 - y0]
            boxes.append(_box(numbers))
        else:
            match = _DEID_CONDITION.match(line)
            if match:
                op, keyword, value = match.groups()
                op = "empty" if op.lower() == "missing" else op.lower()
                conditions.append((keyword, op, value.strip()))
    flush()
    return rules


_CTP_RULE: Final = re.compile(r"\{(?P<cond>[^}]*)\}\s*(?P<boxes>(?:\(\s*[\d\s,]+\)\s*)+)")
_CTP_TEST: Final = re.compile(r"\[?(\w+)\]?\s*\.\s*(\w+)\s*\(\s*\"([^\"]*)\"\s*\)")
_CTP_OPS: Final = {
    "equals": "equals",
    "equalsignorecase": "equals",
    "contains": "contains",
    "containsignorecase": "contains",
    "startswith": "startswith",
    "startswithignorecase": "startswith",
}


def parse_ctp_script(text: str) -> list[RegionRule]:
    """The rules of a CTP DicomPixelAnonymizer script (``*`` conditions; boxes x,y,w,h)."""
    rules: list[RegionRule] = []
    body = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    for number, match in enumerate(_CTP_RULE.finditer(body), start=1):
        conditions = []
        for keyword, method, value in _CTP_TEST.findall(match.group("cond")):
            op = _CTP_OPS.get(method.lower())
            if op is None:
                raise UsageError(f"CTP script rule {number}: test '{method}' is not supported")
            conditions.append((keyword, op, value))
        if "+" in match.group("cond"):
            raise UsageError(f"CTP script rule {number}: '+' (or) is not supported")
        boxes = [
            _box(re.split(r"\s*,\s*", b.strip()))
            for b in re.findall(r"\(([^)]*)\)", match.group("boxes"))
        ]
        rules.append(
            RegionRule(label=f"CTP rule {number}", boxes=tuple(boxes), conditions=tuple(conditions))
        )
    return rules


def load_regions(path: Path) -> list[RegionRule]:
    """Rules from a user's file: deidkit JSON, a deid recipe or a CTP script (by content)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"regions file '{path.name}' cannot be read") from exc
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            return _rules_from_json(json.loads(text), path.name)
        except json.JSONDecodeError:
            raise UsageError(f"regions file '{path.name}' is not valid JSON") from None
    if "%filter" in text:
        return parse_deid_filters(text)
    rules = parse_ctp_script(text)
    if not rules:
        raise UsageError(
            f"regions file '{path.name}' is neither deidkit JSON, a deid recipe with a "
            "%filter section nor a CTP DicomPixelAnonymizer script"
        )
    return rules


def shipped_regions() -> list[RegionRule]:
    """The rules shipped in ``deidkit/data`` (see the module docstring)."""
    path = data_file(SHIPPED_FILE)
    return _rules_from_json(json.loads(path.read_text(encoding="utf-8")), SHIPPED_FILE)


def matching_boxes(rules: Iterable[RegionRule], get: Callable[[str], str]) -> list[Box]:
    """The boxes of every rule that matches the file ``get`` reads."""
    return [box for rule in rules if rule.matches(get) for box in rule.boxes]
