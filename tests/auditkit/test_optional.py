"""auditkit's optional dependencies: the eval extra (no torch) and the audit extra."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from auditkit.errors import MissingDependencyError
from auditkit.metrics.disparities import fairlearn_disparities
from auditkit.optional import AUDITKIT_EXTRAS, import_optional, missing_dependency

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


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


def test_eval_installs_no_torch_and_audit_is_eval_plus_torch() -> None:
    evaluate, audit = _requirement_names("eval"), _requirement_names("audit")
    assert not evaluate & {"torch", "monai"}
    # Plus what predict reads and writes DICOM with: highdicom (--dicom-seg), pixel decoders.
    decoders = {"highdicom", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg"}
    assert audit == evaluate | {"torch", "monai"} | decoders


@pytest.mark.parametrize(("module", "extra"), sorted(AUDITKIT_EXTRAS.items()))
def test_the_extra_named_for_a_package_installs_it(module: str, extra: str) -> None:
    providers = {d.lower() for d in importlib.metadata.packages_distributions().get(module, [])}
    assert providers, f"{module} is not installed in the test environment"
    assert providers & _requirement_names(extra), (module, extra, providers)


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("pandas", "eval"),
        ("matplotlib.figure", "eval"),
        ("torch", "audit"),
        ("monai.data", "audit"),
    ],
)
def test_an_uncaught_import_names_the_extra(name: str, extra: str) -> None:
    error = missing_dependency(ModuleNotFoundError(f"No module named {name!r}", name=name))
    assert isinstance(error, MissingDependencyError)
    assert f"of the '{extra}' extra: pip install 'deidkit-auditkit[{extra}]'" in str(error)


def test_a_missing_module_of_auditkit_itself_is_a_bug() -> None:
    exc = ModuleNotFoundError("No module named 'auditkit.nope'", name="auditkit.nope")
    assert missing_dependency(exc) is None


def test_import_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    assert import_optional("json", feature="f", extra="eval") is sys.modules["json"]
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(MissingDependencyError, match=r"'sklearn' of the 'eval' extra"):
        import_optional("sklearn", feature="ROC curves", extra="eval")


def test_disparities_without_fairlearn_name_the_eval_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fairlearn.metrics", None)
    labels = np.array([0, 1, 0, 1], dtype=np.int64)
    groups = np.array(["a", "a", "b", "b"], dtype=object)
    with pytest.raises(MissingDependencyError) as caught:
        fairlearn_disparities(y_true=labels, y_pred=labels, groups=groups)
    message = str(caught.value)
    assert message.startswith("the disparity check needs the optional package 'fairlearn' ")
    assert "pip install 'deidkit-auditkit[eval]'" in message
