"""Each command imports only what it uses: evaluate, report, gate and --help load no torch or MONAI.

Every command runs in a fresh interpreter doing its real work (evaluate writes RESULTS.json,
report renders it with ROC curves from the predictions, gate judges it), and the modules loaded
by the time it exits are checked. Start-up time itself is measured in bench/startup.py, not here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: What these commands must never load: seconds of start-up each (python -X importtime).
HEAVY = ("torch", "monai", "auditkit.inference", "auditkit.transforms")

_RUN = """
import atexit, sys
DUMP = sys.argv[1]
def _dump():
    with open(DUMP, "w", encoding="utf-8") as handle:
        handle.write("\\n".join(sys.modules))
atexit.register(_dump)
sys.argv = ["auditkit", *sys.argv[2:]]
from auditkit.cli import main
main()
"""


def loaded_by(tmp_path: Path, *argv: str) -> set[str]:
    """Modules loaded by ``auditkit ARGV`` run in a fresh interpreter (any exit code)."""
    dump = tmp_path / f"modules-{argv[0]}.txt"
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(dump), *argv], capture_output=True, text=True
    )
    assert dump.is_file(), done.stderr
    return set(dump.read_text(encoding="utf-8").split())


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY)


def test_help_loads_no_torch_nor_numpy(tmp_path: Path) -> None:
    for argv in (("--help",), ("gate", "--help"), ("predict", "--help")):
        modules = loaded_by(tmp_path, *argv)
        assert "typer" in modules  # the dump works
        assert not heavy(modules), (argv, heavy(modules))
        assert "numpy" not in modules, argv


def test_evaluate_report_gate_load_no_torch_nor_monai(binary_csv: Path, tmp_path: Path) -> None:
    preds, results, audited = binary_csv, tmp_path / "RESULTS.json", tmp_path
    evaluate = loaded_by(
        tmp_path,
        *("evaluate", str(preds), "--task", "binary", "--label", "label", "--score", "score"),
        *("--group", "sex", "--bootstrap", "20", "--out", str(results), "--force"),
    )
    assert results.is_file()
    assert "pandas" in evaluate and not heavy(evaluate), heavy(evaluate)
    report = loaded_by(
        tmp_path,
        *("report", str(results), "--out", str(audited / "report.html"), "--force"),
        *("--predictions", str(preds)),
    )
    assert (audited / "report.html").is_file()
    assert not heavy(report), heavy(report)
    gate = loaded_by(tmp_path, "gate", str(results), "--policy", "strict-predeployment")
    assert "auditkit.gate" in gate and not heavy(gate), heavy(gate)


@pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")
def test_predict_loads_torch_but_no_monai_on_the_default_path(tmp_path: Path) -> None:
    # The guard's counterpart: the check above would pass if the dump missed torch.
    import numpy as np
    import pandas as pd
    import torch
    from imaging_samples import write_nifti

    write_nifti(tmp_path / "a.nii", np.ones((8, 8, 1), np.float32), np.eye(4))
    pd.DataFrame({"image": ["a.nii"], "label": [1]}).to_csv(tmp_path / "m.csv", index=False)
    model = torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1)))
    torch.jit.save(model, str(tmp_path / "m.ts"))
    modules = loaded_by(
        tmp_path,
        *("predict", "--model", str(tmp_path / "m.ts"), "--data", str(tmp_path / "m.csv")),
        *("--out", str(tmp_path / "p"), "--device", "cpu", "--spatial-dims", "2"),
        *("--spacing", "0.5,0.5", "--spatial-size", "8,8", "--intensity", "zscore"),
        "--no-progress",
    )
    assert (tmp_path / "p.csv").is_file()
    assert "torch" in modules
    assert not {m for m in modules if m.split(".")[0] in {"monai", "matplotlib", "sklearn"}}
