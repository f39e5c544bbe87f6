"""The public API: every exported name resolves, and only the predict stage loads torch."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = (
    "auditkit",
    "auditkit.inference",
    "auditkit.metrics",
    "auditkit.evaluate",
    "auditkit.report",
    "auditkit.gate",
)
# What `import X` must not load: the predict stage and its frameworks stay out of the others.
HEAVY = ("torch", "monai", "auditkit.inference")


@pytest.mark.parametrize("name", PACKAGES)
def test_every_export_resolves(name: str) -> None:
    package = importlib.import_module(name)
    for export in package.__all__:
        assert getattr(package, export) is not None, export
    assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import auditkit",
        "import auditkit.cli",
        "import auditkit.metrics",
        "from auditkit.evaluate import AuditResult, evaluate_file",
        "from auditkit.report import build_report, curves_for_results, report_from_files",
        "from auditkit.gate import gate_from_files, write_junit",
        "from auditkit import AuditResult, build_report, run_gate",
    ],
)
def test_stages_other_than_predict_never_load_torch(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_import_auditkit_is_light() -> None:
    loaded = _loaded_after("import auditkit")
    assert not loaded & {"numpy", "pandas", "matplotlib", "yaml", "jinja2"}
