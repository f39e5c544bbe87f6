"""Map a pydicom/deid recipe's header actions onto deidkit profile overrides.

The recipe is parsed by the deid library's own parser (:class:`deid.config.DeidRecipe`), so
recipes from deid keep working unchanged. Each header action becomes an action code on the
tags it names; field expanders are expanded over the PS3.6 data dictionary, matched like
deid does (case-insensitive regular expression on the keyword and the attribute name):

========================  =========================================================
deid action               deidkit override
========================  =========================================================
``REMOVE f``              ``X``
``BLANK f``               ``Z``
``KEEP f``                ``K``
``REPLACE f literal``     ``R:<literal>`` (the recipe's own literal, never patient data)
``REPLACE f deid_func:dicom_uuid`` / ``...:generate_uid``  ``U`` (keyed UID)
``ADD f literal``         ``A:<literal>`` (added when absent, replaced when present)
``JITTER f days``         ``J:<days>`` (dates shifted by a fixed number of days)
========================  =========================================================

Identity attributes keep the output valid and linkable: an action that removes or blanks
a UI attribute maps to ``U`` (the original UID is replaced by the keyed UID; registered UIDs
such as SOP Classes identify no one and stay), and any action on Patient ID maps to ``D``
(Patient ID always becomes the keyed patient pseudonym). Group 0002 is never touched.

``%filter`` sections (deid's pixel-cleaning whitelist/graylist/blacklist rules) are not
applied, and not silently dropped either: :func:`map_recipe` returns one note per recipe
saying so, which the CLI prints and the run report lists. deidkit flags and holds back
files with a burned-in text risk itself (:func:`deidkit.scrub.provenance.burned_in_risk`)
and never changes pixel data in ``scrub``.

A plain field that names no attribute (deid's default recipe has ``PatientsName``) changes
nothing in deid; here it changes nothing either and gets a note. Anything else
(``func:``/``var:`` values, ``%values``/``%fields`` sections, ``select:``/``fields:``/
``values:`` expanders) is a :class:`~deidkit.core.errors.RecipeError` naming the action.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from deidkit.core.errors import RecipeError
from deidkit.core.optional import import_optional
from deidkit.rules.standard import normalise_tag, tag_text

_UID_FUNCS = frozenset({"deid_func:dicom_uuid", "deid_func:generate_uid", "func:generate_uid"})
_SIMPLE = {"REMOVE": "X", "BLANK": "Z", "KEEP": "K"}
_EXPANDERS = frozenset({"endswith", "startswith", "contains", "except"})
_PATIENT_ID = "(0010,0020)"


@contextlib.contextmanager
def _quiet_deid() -> Iterator[None]:
    # deid prints DEBUG lines to stdout unless told otherwise; stdout carries our results.
    from deid.logger import bot

    previous = bot.level
    bot.level = 0
    try:
        yield
    finally:
        bot.level = previous


@lru_cache(maxsize=1)
def _dictionary() -> tuple[tuple[int, str, str, str], ...]:
    """(tag, keyword, lower-case name, VR) for every standard attribute (no group 0002)."""
    # local import: the scrub CLI's parent loads profiles (and this module) without pydicom
    # public (documented in pydicom.datadict), re-exported there without __all__
    from pydicom.datadict import DicomDictionary  # type: ignore[attr-defined]

    entries = []
    for tag, (vr, _vm, name, _retired, keyword) in DicomDictionary.items():
        if keyword and tag >> 16 != 0x0002 and tag >> 16 != 0x0000:
            entries.append((int(tag), keyword, name.lower(), vr))
    return tuple(entries)


def expand_field(field: str, *, where: str) -> list[tuple[str, str]]:
    """Tags ("(GGGG,EEEE)", VR) that a deid field spec names.

    Raises
    ------
    RecipeError
        If the expander is not supported or the field is unknown.
    """
    spec = field.strip()
    if spec.upper() == "ALL":
        return [(tag_text(tag), vr) for tag, _k, _n, vr in _dictionary()]
    if ":" in spec:
        expander, expression = spec.split(":", 1)
        if expander.lower() not in _EXPANDERS:
            raise RecipeError(f"{where}: field expander '{expander}:' cannot be mapped")
        pattern = expression.lower()
        if expander.lower() == "endswith":
            regex = re.compile(f"({pattern})$")
        elif expander.lower() == "startswith":
            regex = re.compile(f"^({pattern})")
        else:
            regex = re.compile(pattern)
        negate = expander.lower() == "except"
        return [
            (tag_text(tag), vr)
            for tag, keyword, name, vr in _dictionary()
            if bool(regex.search(keyword.lower()) or regex.search(name)) != negate
        ]
    # deid matches a plain field exactly, case-insensitively, on keyword, name or tag
    by_text = _plain_fields()
    if spec.lower() in by_text:
        return [by_text[spec.lower()]]
    try:
        tag = normalise_tag(spec, where=where)
    except Exception:
        raise RecipeError(f"{where}: unknown field '{spec}'") from None
    tag_int = int(tag[1:5] + tag[6:10], 16)
    vr = next((v for t, _k, _n, v in _dictionary() if t == tag_int), "")
    return [(tag, vr)]


@lru_cache(maxsize=1)
def _plain_fields() -> Mapping[str, tuple[str, str]]:
    """Lower-case keyword and name -> ("(GGGG,EEEE)", VR), as deid's exact field match."""
    table: dict[str, tuple[str, str]] = {}
    for tag, keyword, name, vr in _dictionary():
        table.setdefault(keyword.lower(), (tag_text(tag), vr))
        table.setdefault(name, (tag_text(tag), vr))
    return MappingProxyType(table)


def _names_no_attribute(field: str) -> bool:
    """Whether a plain field (no expander) names no DICOM attribute at all."""
    spec = field.strip()
    if ":" in spec or spec.upper() == "ALL" or spec.lower() in _plain_fields():
        return False
    try:
        normalise_tag(spec, where="recipe")
    except Exception:
        return True
    return False


def _code_for(action: str, value: str | None, where: str) -> str:
    if action in _SIMPLE:
        return _SIMPLE[action]
    if value is None:
        raise RecipeError(f"{where}: {action} needs a value")
    if action == "REPLACE" and value.strip() in _UID_FUNCS:
        return "U"
    if value.startswith(("func:", "var:", "deid_func:")):
        raise RecipeError(
            f"{where}: {action} with a '{value.split(':', 1)[0]}:' value cannot be mapped"
        )
    if action == "REPLACE":
        return f"R:{value}"
    if action == "ADD":
        return f"A:{value}"
    if action == "JITTER":
        if not re.fullmatch(r"-?\d+", value.strip()):
            raise RecipeError(f"{where}: JITTER needs a whole number of days")
        return f"J:{int(value)}"
    raise RecipeError(f"{where}: action '{action}' cannot be mapped")


def _map(action: str, code: str, tag: str, vr: str) -> str:
    if tag == _PATIENT_ID:
        return "D"
    if vr == "UI" and code in {"X", "Z"}:
        return "U"
    return code


@dataclass(frozen=True)
class RecipeMapping:
    """A deid recipe mapped onto deidkit: tag overrides plus what is deliberately not applied.

    Attributes
    ----------
    overrides : Mapping[str, str]
        "(GGGG,EEEE)" -> action code, from the recipe's ``%header`` actions.
    notes : tuple of str
        One sentence per recipe part that is not applied (``%filter`` sections), naming the
        recipe file and the sections; recipe text only, never patient data.
    """

    overrides: Mapping[str, str]
    notes: tuple[str, ...]


#: Note for recipe ``%filter`` sections (format fields: recipe, sections).
NOTE_FILTERS_NOT_APPLIED = (
    "recipe {recipe}: pixel filter section(s) {sections} are not applied; deidkit holds "
    "back burned-in-risk files instead (see the run report)"
)


#: Note for header actions on a field that names no attribute (format fields: recipe, actions).
NOTE_UNKNOWN_FIELDS = (
    "recipe {recipe}: header action(s) {actions} name no DICOM attribute and change nothing "
    "(as in deid)"
)


def recipe_overrides(path: Path) -> dict[str, str]:
    """Parse a deid recipe and return its header actions as profile overrides.

    Shorthand for ``dict(map_recipe(path).overrides)``; see :func:`map_recipe`.
    """
    return dict(map_recipe(path).overrides)


def map_recipe(path: Path) -> RecipeMapping:
    """Parse a deid recipe: header actions as profile overrides, filters as notes.

    Later actions win over earlier ones for the same tag, as in deid.

    Raises
    ------
    RecipeError
        If the file cannot be parsed or holds an action that cannot be mapped.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path.name} does not exist")
    import_optional("deid", feature="--recipe", extra="recipes")
    from deid.config import DeidRecipe

    try:
        with _quiet_deid():
            recipe = DeidRecipe(str(path), base=False)
    except Exception as exc:  # deid raises plain exceptions and SystemExit on bad recipes
        raise RecipeError(f"recipe {path.name} cannot be parsed ({type(exc).__name__})") from None
    except SystemExit:
        raise RecipeError(f"recipe {path.name} cannot be parsed") from None
    data: dict[str, Any] = dict(recipe.deid or {})
    unsupported = sorted(set(data) - {"format", "header", "filter"})
    if unsupported:
        raise RecipeError(
            f"recipe {path.name}: section(s) {unsupported} cannot be mapped "
            "(remove the %values/%fields sections and the expanders that use them)"
        )
    overrides: dict[str, str] = {}
    unknown: list[str] = []
    for index, entry in enumerate(data.get("header") or [], start=1):
        action = str(entry.get("action", "")).upper()
        field = str(entry.get("field", ""))
        where = f"recipe {path.name} header action {index} ({action} {field})"
        code = _code_for(action, entry.get("value"), where)
        if _names_no_attribute(field):
            # deid applies such an action to nothing (e.g. its own default recipe's
            # "PatientsName", a pre-2008 keyword); so does deidkit, but it says so
            unknown.append(f"{action} {field}")
            continue
        for tag, vr in expand_field(field, where=where):
            overrides[tag] = _map(action, code, tag, vr)
    notes: list[str] = []
    filters = data.get("filter") or {}
    if filters:
        sections = ", ".join(
            f"{name} ({len(rules or [])} rule{'s' if len(rules or []) != 1 else ''})"
            for name, rules in filters.items()
        )
        notes.append(NOTE_FILTERS_NOT_APPLIED.format(recipe=path.name, sections=sections))
    if unknown:
        notes.append(NOTE_UNKNOWN_FIELDS.format(recipe=path.name, actions="; ".join(unknown)))
    return RecipeMapping(overrides=MappingProxyType(dict(overrides)), notes=tuple(notes))
