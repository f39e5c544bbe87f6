"""The wheel, installed as a user installs it: the base install, then each extra on top.

One fresh venv goes base -> ``[deface]`` -> ``[eval]`` -> ``[audit]``, so each extra is tried
without the ones after it (deface without pandas, eval without torch). At each step every
console script answers ``--help``, one real command of the new extra runs, and a command of an
extra not yet installed exits 1 naming it. Packages come from pip's cache (or the index) and
torch from the local CPU build (``torch==2.13.0``), as ``make test`` installs it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DIST = "deidkit-auditkit"
TORCH = "torch==2.13.0"  # the CPU build on local disk; a newer one is a CUDA download
# Never in the base install: each belongs to an extra, or to nothing any more.
NOT_IN_BASE = {
    "pandas", "pyarrow", "scipy", "scikit-learn", "fairlearn", "jsonschema", "matplotlib",
    "torch", "monai", "simpleitk", "opencv-python-headless", "quickshear", "deid",
    "scikit-image", "nilearn", "pydeface", "nipype",
}  # fmt: skip
DROPPED = {"scikit-image", "nilearn", "pydeface"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning"),
]


class Venv:
    """A fresh virtual environment and the commands run in it (in ``work``, never the repo)."""

    def __init__(self, root: Path, work: Path) -> None:
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        self.bin = root / "bin"
        self.work = work
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        return subprocess.run(
            command,
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, codes: tuple[int, ...] = (0,), timeout: float = 300) -> str:
        done = self.run(*args, timeout=timeout)
        assert done.returncode in codes, (args, done.returncode, done.stderr[-3000:])
        return done.stdout

    def pip_install(self, *requirements: str, find_links: Path) -> None:
        self.ok(
            "python", "-m", "pip", "install", "--quiet", "--find-links", str(find_links),
            *requirements, timeout=900,
        )  # fmt: skip

    def installed(self) -> set[str]:
        listing = json.loads(self.ok("python", "-m", "pip", "list", "--format", "json"))
        return {entry["name"].lower().replace("_", "-") for entry in listing}

    def assert_names_extra(self, extra: str, *args: str) -> None:
        done = self.run(*args)
        text = " ".join(done.stderr.split())
        assert done.returncode == 1, (args, done.returncode, done.stderr[-3000:])
        assert f"of the '{extra}' extra: pip install '{DIST}[{extra}]'" in text, text[-3000:]
        assert "Traceback" not in done.stderr


def _build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(out), str(REPO)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    (wheel,) = out.glob("deidkit_auditkit-*.whl")
    return wheel


def _check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(archive.read(meta_name).decode("utf-8"))
    data = "deidkit/deface/data/"
    for name in ("mean_reg2mean.nii.gz", "facemask.nii.gz", "LICENSE-pydeface.txt",
                 "LICENSE-nilearn.txt", "LICENSE-MNI-ICBM152.txt",
                 "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"):  # fmt: skip
        assert data + name in names, name
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "deidkit/_shipped/profiles/policies/strict-predeployment.yaml" in names
    assert not [n for n in names if "__pycache__" in n]
    assert wheel.stat().st_size < 20_000_000
    assert meta["Name"] == DIST
    assert meta["License-Expression"] == "Apache-2.0"
    classifiers = meta.get_all("Classifier") or []
    assert "Operating System :: POSIX" in classifiers
    requires = meta.get_all("Requires-Dist") or []
    base = [r for r in requires if "extra ==" not in r]
    assert not {r.split(">")[0].split("<")[0].split("=")[0].strip().lower() for r in base} & (
        NOT_IN_BASE
    )
    assert not [r for r in requires if r.split(">")[0].strip().lower() in DROPPED]
    typer = [r for r in base if r.lower().startswith("typer")]
    assert typer and "<" not in typer[0], typer


def _predictions(path: Path) -> None:
    rng = np.random.default_rng(0)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "label", "score", "sex"])
        for i in range(120):
            label = int(rng.random() < 0.5)
            score = float(np.clip(0.3 * label + 0.35 + 0.25 * rng.standard_normal(), 0, 1))
            writer.writerow([f"p{i}", label, round(score, 4), "FM"[i % 2]])


POLICY = """\
schema_version: 1
name: packaging
insufficient_evidence: warn
checks:
  - id: overall-auroc
    metric: auroc
    scope: overall
    min: 0.5
"""


def _synthetic_head(path: Path) -> None:
    """The mean template head on a coarse 3 mm grid (deface's own tests use the same)."""
    from deface_heads import head_grid, make_head, nifti

    from deidkit.deface.templates import load_template

    template = load_template()
    grid = head_grid(template)
    head, _truth = make_head(template, grid)
    nifti(head, grid).to_filename(str(path))


def _torchscript_case(work: Path) -> None:
    """A tiny TorchScript model and a 3-row manifest of 8x8 NIfTI slices."""
    import torch
    from imaging_samples import write_nifti

    class MeanLogit(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(1, 2, 3)).unsqueeze(1) - 0.5

    rng = np.random.default_rng(0)
    rows = ["image,label"]
    for i in range(3):
        write_nifti(work / f"img{i}.nii", rng.random((8, 8, 1)).astype(np.float32), np.eye(4))
        rows.append(f"img{i}.nii,{i % 2}")
    (work / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    torch.jit.save(torch.jit.script(MeanLogit()), str(work / "model.ts"))


def _every_console_script_helps(env: Venv) -> None:
    for script in ("deidkit", "auditkit"):
        assert "Usage" in env.ok(script, "--help")
        assert script in env.ok(script, "--version")
        assert "Usage" in env.ok("python", "-m", script, "--help")
    for script, command in (("deidkit", "scrub"), ("deidkit", "deface"), ("auditkit", "evaluate"),
                            ("auditkit", "predict"), ("auditkit", "gate")):  # fmt: skip
        assert "Usage" in env.ok(script, command, "--help")


def test_wheel_installs_and_runs_with_each_extra(tmp_path: Path) -> None:
    dist, work = tmp_path / "dist", tmp_path / "work"
    work.mkdir()
    wheel = _build_wheel(dist)
    _check_wheel(wheel)
    _predictions(work / "predictions.csv")
    (work / "policy.yaml").write_text(POLICY, encoding="utf-8")
    _synthetic_head(work / "head.nii.gz")
    _torchscript_case(work)
    env = Venv(tmp_path / "venv", work)

    # Base: de-identification, and every console script starts.
    env.pip_install(str(wheel), find_links=dist)
    assert not env.installed() & NOT_IN_BASE, sorted(env.installed() & NOT_IN_BASE)
    _every_console_script_helps(env)
    env.ok("deidkit", "keygen", "project.key")
    env.ok("deidkit", "sample", "export")
    # The sample plants broken files, which scrub holds back: exit 1.
    env.ok("deidkit", "scrub", "export", "release", "--key-file", "project.key", codes=(1,))
    assert len(list((work / "release").rglob("*.dcm"))) > 20
    report = json.loads((work / "release.run-report.json").read_text(encoding="utf-8"))
    assert report["status"] == "complete"
    env.assert_names_extra("deface", "deidkit", "deface", "head.nii.gz", "defaced")
    env.assert_names_extra("eval", "auditkit", "evaluate", "predictions.csv", "--out", "r.json")

    # [deface]: the vendored templates, without pydeface or nilearn.
    env.pip_install(f"{wheel}[deface]", find_links=dist)
    assert not env.installed() & (DROPPED | {"pandas", "torch"})
    env.ok("deidkit", "deface", "head.nii.gz", "defaced", "--qc", "qc", timeout=600)
    assert (work / "defaced" / "head.nii.gz").is_file()
    assert list((work / "qc").glob("*.json"))
    env.assert_names_extra("eval", "auditkit", "evaluate", "predictions.csv", "--out", "r.json")

    # [eval]: evaluate, report and gate without torch.
    env.pip_install(f"{wheel}[eval]", find_links=dist)
    assert not env.installed() & {"torch", "monai"}
    evaluate = ("auditkit", "evaluate", "predictions.csv", "--group", "sex", "--patient",
                "patient_id", "--bootstrap", "50", "--out", "results.json")  # fmt: skip
    env.ok(*evaluate, timeout=600)
    env.ok("auditkit", "report", "results.json", "--out", "report.html", timeout=600)
    assert (work / "report.html").stat().st_size > 10_000
    env.ok("auditkit", "gate", "results.json", "--policy", "policy.yaml", "--junit", "gate.xml")
    assert "<testsuite" in (work / "gate.xml").read_text(encoding="utf-8")
    predict = ("auditkit", "predict", "--model", "model.ts", "--data", "manifest.csv",
               "--out", "preds", "--device", "cpu", "--spatial-size", "8,8",
               "--no-progress")  # fmt: skip
    env.assert_names_extra("audit", *predict)

    # [audit]: predict with the CPU torch from local disk.
    env.pip_install(TORCH, f"{wheel}[audit]", find_links=dist)
    env.ok(*predict, timeout=600)
    rows = list(csv.DictReader((work / "preds.csv").open(encoding="utf-8")))
    assert [row["status"] for row in rows] == ["ok", "ok", "ok"]
