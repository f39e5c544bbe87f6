"""The README's "Library use" imports only public stage APIs, and runs as a script."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PUBLIC = {
    "deidkit.core", "deidkit.rules", "deidkit.scrub", "deidkit.verify",
    "deidkit.pseudonymise", "deidkit.deface", "auditkit", "pydicom", "pathlib",
}  # fmt: skip


def _library_use_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Library use", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "README's Library use has no python block"
    return match.group(1)


def test_library_use_imports_public_apis_that_exist() -> None:
    tree = ast.parse(_library_use_block())
    imported = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module in PUBLIC, f"README imports from {node.module}"
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"
                imported += 1
    assert imported >= 10


def _example_inputs(folder: Path) -> None:
    """The files the example names: a key, one CT, a PACS export and a predictions table."""
    import numpy as np
    import pandas as pd
    from dicom_builders import canary_dataset, to_bytes

    from deidkit.core.keys import generate_key_file
    from deidkit.demo.sample import generate_sample_corpus

    generate_key_file(folder / "project.key")
    (folder / "ct.dcm").write_bytes(to_bytes(canary_dataset()))
    generate_sample_corpus(folder / "export", n_patients=2, instances_per_series=2)
    rng = np.random.default_rng(0)
    rows = 400
    label = rng.integers(0, 2, rows)
    pd.DataFrame(
        {
            "patient_id": [f"p{i // 2}" for i in range(rows)],
            "label": label,
            "score": np.clip(0.4 * label + 0.6 * rng.random(rows), 0.0, 1.0),
            "sex": rng.choice(["F", "M"], rows),
            "manufacturer": rng.choice(["GE", "Philips", "Siemens"], rows),
        }
    ).to_parquet(folder / "preds.parquet")


@pytest.mark.slow
def test_library_use_runs_as_a_script(tmp_path: Path) -> None:
    # As a script, not in this process: scrub_tree's forkserver workers import __main__,
    # which is what broke the example before it had its __name__ guard.
    _example_inputs(tmp_path)
    script = tmp_path / "library_use.py"
    script.write_text(_library_use_block(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DEIDKIT_KEY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert any((tmp_path / "release").rglob("*.dcm"))
    assert (tmp_path / "cohort.csv").is_file() and (tmp_path / "audit.html").is_file()
