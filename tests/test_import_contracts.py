"""The architecture as tests: import-linter's contracts (pyproject.toml) and lazy packages.

The contracts: verify never imports scrub; only scrub imports its codec; deidkit never
imports auditkit; auditkit's metrics, evaluate, report and gate never import torch, monai or
inference; deidkit's stages are layered; no import cycles, including those hidden behind
function-local imports.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = [
    "deidkit.core",
    "deidkit.rules",
    "deidkit.scrub",
    "deidkit.verify",
    "deidkit.pseudonymise",
    "deidkit.deface",
    "deidkit.demo",
]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter is not installed (dev extra)")
    proc = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("package", STAGES)
def test_stage_api_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_importing_stages_loads_no_dicom_or_array_library() -> None:
    # The scrub CLI's parent and the workers' server rely on stage packages being light:
    # the server must import pydicom itself, after keeping numpy out.
    code = (
        "import sys\n"
        + "".join(f"import {p}\n" for p in STAGES if p != "deidkit.deface")
        + "import deidkit.cli\n"
        + "print(sorted(m for m in ('pydicom', 'numpy', 'torch', 'pandas') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert proc.stdout.strip() == "[]"
