"""De-identification profiles: load and validate a YAML profile into a frozen :class:`Profile`.

A profile names the PS3.15 options it applies on top of the Basic Profile, may extend
another profile (``extends: basic``) and may override single tags::

    name: research
    extends: basic
    options: [retain_safe_private, retain_long_modified_dates]
    overrides:
      SeriesDescription: K        # keyword or "(0008,103E)" / "0008103E"
    patient_name: pseudonym      # or "empty"
    date_shift_days: [-3650, -365]
    vocabulary: [myseq, bravo3d]  # never names in free text (or a file name beside the profile)
    keep_private:                # private elements kept by creator, group, element byte
      - {creator: SIEMENS CSA HEADER, group: "0029", elements: ["10", "20"]}

Validation is strict: an unknown key, option, keyword or action code is a
:class:`~deidkit.core.errors.ProfileError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from deidkit.core.errors import ProfileError
from deidkit.core.pseudonym import DEFAULT_DATE_SHIFT_RANGE
from deidkit.core.resources import shipped_dir
from deidkit.rules.recipe import map_recipe
from deidkit.rules.standard import OPTION_COLUMNS, TABLE_EDITION, normalise_tag

OPTION_NAMES: tuple[str, ...] = OPTION_COLUMNS

#: Plain action codes a profile may give a tag (PS3.15 E.1.1).
ACTION_CODES = frozenset({"K", "X", "Z", "D", "C", "U"})
#: Parametrised codes produced by recipes: replace with / add a literal, or shift dates by days.
_PARAM_CODE = re.compile(r"^(R|A):.*$|^J:-?\d+$", re.DOTALL)

PATIENT_NAME_MODES = frozenset({"pseudonym", "empty"})
_PROFILE_KEYS = frozenset(
    {
        "name", "description", "extends", "options", "overrides", "patient_name",
        "date_shift_days", "vocabulary", "keep_private",
    }
)
#: One kept private element: (creator, group, element byte within the block).
PrivateKeep = tuple[str, int, int]
_MAX_EXTENDS_DEPTH = 8


@dataclass(frozen=True)
class Profile:
    """A resolved, validated de-identification profile (Basic Profile + options + overrides).

    Attributes
    ----------
    name, description : str
        Human-readable identity of the profile.
    options : frozenset of str
        Subset of :data:`OPTION_NAMES` applied on top of the Basic Profile.
    overrides : Mapping[str, str]
        "(GGGG,EEEE)" -> action code; these win over the table. Read-only.
    patient_name : str
        "pseudonym" (Patient Name = patient pseudonym) or "empty".
    date_shift_range : tuple of int
        Inclusive range of the per-patient day offset under Retain Longitudinal Modified Dates.
    source : str
        File path or "builtin:<name>", for provenance.
    notes : tuple of str
        Parts of a folded-in recipe that are deliberately not applied (e.g. deid ``%filter``
        sections), each a sentence naming the recipe and section, for stderr and the run
        report. Never values from patient data.
    """

    name: str
    description: str
    options: frozenset[str]
    overrides: Mapping[str, str]
    patient_name: str
    date_shift_range: tuple[int, int]
    source: str
    notes: tuple[str, ...] = ()
    #: Words (lower case) the free-text detector never takes for a name (``vocabulary:``).
    vocabulary: frozenset[str] = frozenset()
    #: Private elements kept by creator, group and element byte (``keep_private:``).
    keep_private: frozenset[PrivateKeep] = frozenset()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # mappingproxy cannot be pickled; rebuild from a plain dict (worker processes)
        return (
            _rebuild_profile,
            (
                self.name,
                self.description,
                self.options,
                dict(self.overrides),
                self.patient_name,
                self.date_shift_range,
                self.source,
                self.notes,
                self.vocabulary,
                self.keep_private,
            ),
        )

    def __hash__(self) -> int:
        return self._hash

    def to_json(self) -> dict[str, Any]:
        """The profile as plain data (``deidkit profiles show --json``)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "table_edition": TABLE_EDITION,
            "options": sorted(self.options),
            "overrides": dict(self.overrides),
            "patient_name": self.patient_name,
            "date_shift_range": list(self.date_shift_range),
            "notes": list(self.notes),
            "vocabulary": sorted(self.vocabulary),
            "keep_private": [
                {"creator": c, "group": f"{g:04X}", "element": f"{e:02X}"}
                for c, g, e in sorted(self.keep_private)
            ],
        }

    @cached_property
    def _hash(self) -> int:
        # overrides is a mapping (unhashable): hash its sorted items so profiles can key
        # caches; computed once, as the engine's per-file table lookups hash the profile
        return hash(
            (
                self.name,
                self.options,
                tuple(sorted(self.overrides.items())),
                self.patient_name,
                self.date_shift_range,
                self.vocabulary,
                self.keep_private,
            )
        )


def _rebuild_profile(
    name: str,
    description: str,
    options: frozenset[str],
    overrides: dict[str, str],
    patient_name: str,
    date_shift_range: tuple[int, int],
    source: str,
    notes: tuple[str, ...] = (),
    vocabulary: frozenset[str] = frozenset(),
    keep_private: frozenset[PrivateKeep] = frozenset(),
) -> Profile:
    return Profile(
        name=name,
        description=description,
        options=options,
        overrides=MappingProxyType(overrides),
        patient_name=patient_name,
        date_shift_range=date_shift_range,
        source=source,
        notes=notes,
        vocabulary=vocabulary,
        keep_private=keep_private,
    )


def is_valid_code(code: str) -> bool:
    """Whether ``code`` is an action code a profile override may use."""
    return code in ACTION_CODES or bool(_PARAM_CODE.match(code))


def list_profiles() -> list[str]:
    """Names of the profiles shipped with deidkit (``profiles/*.yaml``), sorted."""
    folder = shipped_dir("profiles")
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _profile_path(name_or_path: str | Path) -> tuple[Path, str]:
    text = str(name_or_path)
    path = Path(text)
    if path.suffix.lower() in {".yaml", ".yml"} or path.is_file():
        if not path.is_file():
            raise ProfileError(f"profile file {path} does not exist")
        return path, str(path)
    shipped = shipped_dir("profiles") / f"{text}.yaml"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text) or not shipped.is_file():
        known = ", ".join(list_profiles())
        raise ProfileError(f"unknown profile '{text}' (shipped profiles: {known})")
    return shipped, f"builtin:{text}"


def _read_yaml(path: Path) -> dict[str, Any]:
    # Imported here: the scrub workers unpickle Profile objects and never read YAML.
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProfileError(
            f"profile {path.name} cannot be read as YAML: {type(exc).__name__}"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path.name} must be a mapping at top level")
    unknown = sorted(set(map(str, data)) - _PROFILE_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_PROFILE_KEYS))
        raise ProfileError(f"profile {path.name}: unknown key(s) {unknown}; allowed: {allowed}")
    return data


def _parse_options(raw: Any, where: str) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(o, str) for o in raw):
        raise ProfileError(f"{where}: 'options' must be a list of option names")
    unknown = sorted(set(raw) - set(OPTION_NAMES))
    if unknown:
        raise ProfileError(
            f"{where}: unknown option(s) {unknown}; known: {', '.join(OPTION_NAMES)}"
        )
    return frozenset(raw)


def _parse_overrides(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: 'overrides' must map a tag or keyword to an action code")
    result: dict[str, str] = {}
    for spec, code in raw.items():
        tag = normalise_tag(str(spec), where=where)
        code_text = str(code).strip()
        if code_text not in ACTION_CODES:
            raise ProfileError(
                f"{where}: override for {tag} has unknown action '{code_text}' "
                f"(use one of {', '.join(sorted(ACTION_CODES))})"
            )
        result[tag] = code_text
    return result


def _parse_shift(raw: Any, where: str) -> tuple[int, int] | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
        or raw[0] > raw[1]
        or raw[0] == raw[1] == 0
    ):
        raise ProfileError(f"{where}: 'date_shift_days' must be [low, high] integers, low <= high")
    return (raw[0], raw[1])


def _parse_vocabulary(raw: Any, path: Path, where: str) -> frozenset[str]:
    """A list of words, or the name of a vocabulary file beside the profile."""
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        # imported here: rules.phi_lexicon reads data files the profile loader rarely needs
        from deidkit.rules.phi_lexicon import extra_vocabulary

        target = path.parent / raw
        if not target.is_file():
            raise ProfileError(f"{where}: vocabulary file {target.name} does not exist")
        return extra_vocabulary(target)
    if not isinstance(raw, list) or not all(isinstance(w, str) for w in raw):
        raise ProfileError(f"{where}: 'vocabulary' must be a list of words or a file name")
    return frozenset(w.strip().lower() for w in raw if w.strip())


def _hex(raw: Any, digits: int, what: str, where: str) -> int:
    text = str(raw).strip().lower().removeprefix("0x")
    if isinstance(raw, bool) or not re.fullmatch(rf"[0-9a-f]{{1,{digits}}}", text):
        raise ProfileError(f"{where}: keep_private {what} must be hexadecimal, e.g. 0029 / 10")
    return int(text, 16)


def _parse_keep_private(raw: Any, where: str) -> frozenset[PrivateKeep]:
    """``[{creator: ..., group: "0029", elements: ["10", "20"]}, ...]``."""
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise ProfileError(f"{where}: 'keep_private' must be a list of creator/group/elements")
    kept: set[PrivateKeep] = set()
    for block in raw:
        unknown = sorted(set(map(str, block)) - {"creator", "group", "elements"})
        creator = str(block.get("creator") or "").strip()
        elements = block.get("elements")
        if unknown or not creator or not isinstance(elements, list) or not elements:
            raise ProfileError(
                f"{where}: each keep_private entry needs creator, group and a list of elements"
            )
        group = _hex(block.get("group"), 4, "group", where)
        if not group & 1:
            raise ProfileError(f"{where}: keep_private group {group:04X} is not private (odd)")
        for element in elements:
            kept.add((creator, group, _hex(element, 2, "element", where)))
    return frozenset(kept)


def _load_chain(path: Path, source: str, depth: int) -> dict[str, Any]:
    if depth > _MAX_EXTENDS_DEPTH:
        raise ProfileError(f"profile {path.name}: 'extends' chain too deep (a cycle?)")
    data = _read_yaml(path)
    where = f"profile {path.name}"
    merged: dict[str, Any] = {
        "name": path.stem,
        "description": "",
        "options": frozenset(),
        "overrides": {},
        "patient_name": "pseudonym",
        "date_shift_range": DEFAULT_DATE_SHIFT_RANGE,
        "vocabulary": frozenset(),
        "keep_private": frozenset(),
    }
    parent = data.get("extends")
    if parent is not None:
        beside = path.parent / str(parent)
        # a parent file is looked up beside the child profile first, then as given / shipped
        target = beside if beside.is_file() else str(parent)
        parent_path, parent_source = _profile_path(target)
        merged = _load_chain(parent_path, parent_source, depth + 1)
    merged["name"] = str(data.get("name") or path.stem)
    merged["description"] = str(data.get("description") or merged["description"])
    merged["options"] = merged["options"] | _parse_options(data.get("options"), where)
    merged["overrides"] = {**merged["overrides"], **_parse_overrides(data.get("overrides"), where)}
    if "patient_name" in data:
        mode = str(data["patient_name"])
        if mode not in PATIENT_NAME_MODES:
            raise ProfileError(f"{where}: patient_name must be 'pseudonym' or 'empty'")
        merged["patient_name"] = mode
    merged["vocabulary"] = merged["vocabulary"] | _parse_vocabulary(
        data.get("vocabulary"), path, where
    )
    merged["keep_private"] = merged["keep_private"] | _parse_keep_private(
        data.get("keep_private"), where
    )
    shift = _parse_shift(data.get("date_shift_days"), where)
    if shift is not None:
        merged["date_shift_range"] = shift
    if {"retain_long_full_dates", "retain_long_modified_dates"} <= merged["options"]:
        raise ProfileError(
            f"{where}: retain_long_full_dates and retain_long_modified_dates exclude each other"
        )
    return merged


def load_profile(name_or_path: str | Path, *, recipe: Path | None = None) -> Profile:
    """Load a shipped profile by name, or a profile YAML file by path.

    Parameters
    ----------
    name_or_path
        A shipped profile name (see :func:`list_profiles`) or a path to a ``.yaml`` file.
    recipe
        Optional pydicom/deid recipe whose header actions become overrides on top of the
        profile (see :mod:`deidkit.rules.recipe`).

    Raises
    ------
    ProfileError
        If the profile is unknown or invalid.
    RecipeError
        If the recipe holds an action that cannot be mapped. Recipe parts deidkit does not
        apply on purpose (deid ``%filter`` sections) are listed in ``Profile.notes`` instead.
    """
    path, source = _profile_path(name_or_path)
    merged = _load_chain(path, source, 0)
    overrides: dict[str, str] = dict(merged["overrides"])
    notes: tuple[str, ...] = ()
    if recipe is not None:
        mapping = map_recipe(recipe)
        overrides.update(mapping.overrides)
        notes = mapping.notes
        source = f"{source}+recipe:{Path(recipe).name}"
    return Profile(
        name=merged["name"],
        description=merged["description"],
        options=merged["options"],
        overrides=MappingProxyType(dict(sorted(overrides.items()))),
        patient_name=merged["patient_name"],
        date_shift_range=merged["date_shift_range"],
        source=source,
        notes=notes,
        vocabulary=merged["vocabulary"],
        keep_private=merged["keep_private"],
    )
