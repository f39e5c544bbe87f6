"""One rule for every output path of every auditkit command, through the CLI.

Each row gives a command an output path it must refuse: exit 2 (never 1, the gate's "fail",
nor a traceback), one line naming the option, and nothing written or replaced.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from auditkit.cli import app
from auditkit.commands._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from deidkit.core.resources import shipped_dir

RESULTS = Path(__file__).parents[1] / "data" / "example_results.json"
STRICT = shipped_dir("profiles") / "policies" / "strict-predeployment.yaml"
#: Stands for patient data in a folder name: no message may quote it.
PATIENT_DIR = "DOE_JANE_0042"

runner = CliRunner()


@dataclass(frozen=True)
class Work:
    """A working folder with the audit's inputs, a deidkit release and things in the way."""

    root: Path

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def policy(self) -> Path:
        return self.root / "policy.yaml"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.csv"

    @property
    def release(self) -> Path:
        return self.root / "release"  # with release.run-report.json beside it

    @property
    def existing(self) -> Path:
        return self.root / "existing.txt"

    @property
    def folder(self) -> Path:
        return self.root / "a-folder"


@pytest.fixture
def work(tmp_path: Path) -> Work:
    w = Work(tmp_path / PATIENT_DIR)
    (w.release / "P1").mkdir(parents=True)
    (w.root / "release.run-report.json").write_text("{}")
    shutil.copy(RESULTS, w.results)
    shutil.copy(STRICT, w.policy)
    w.predictions.write_text("label,score,sex\n1,0.9,F\n0,0.2,M\n")
    (w.root / "manifest.csv").write_text("image,label\nx.nii.gz,1\n")
    (w.root / "preds.parquet").write_bytes(b"PAR1")
    (w.root / "p_masks").write_text("a file where the mask folder goes\n")
    w.existing.write_text("kept\n")
    w.folder.mkdir()
    return w


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


def _flat(text: str) -> str:
    # Rich wraps stderr at the console width; compare messages on one line.
    return " ".join(text.split())


def _invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env={"DEIDKIT_KEY": ""})


Args = Callable[[Work], list[str | Path]]


def _gate(w: Work, *extra: str | Path) -> list[str | Path]:
    return ["gate", w.results, "--policy", w.policy, *extra]


def _predict(w: Work, out: Path) -> list[str | Path]:
    return [
        "predict",
        "--model",
        w.root / "model.ts",
        "--data",
        w.root / "manifest.csv",
        "--out",
        out,
        "--no-progress",
    ]


CASES: list[tuple[str, Args, str]] = [
    # (3) the gate overwrote its own inputs and exited 0
    (
        "gate-markdown-over-results",
        lambda w: _gate(w, "--markdown", w.results),
        "--markdown must not be RESULTS (an input of this command)",
    ),
    (
        "gate-junit-over-policy",
        lambda w: _gate(w, "--junit", w.policy),
        "--junit must not be --policy (an input of this command)",
    ),
    # (4b) a folder given for --junit crashed with a traceback
    (
        "gate-junit-is-folder",
        lambda w: _gate(w, "--junit", w.folder),
        "--junit is an existing folder; give a file path",
    ),
    (
        "gate-junit-under-file",
        lambda w: _gate(w, "--junit", w.existing / "g.xml"),
        "--junit lies under a file, not a folder",
    ),
    (
        "gate-junit-is-markdown",
        lambda w: _gate(w, "--junit", w.root / "g", "--markdown", w.root / "g"),
        "--junit must not be the same path as --markdown",
    ),
    (
        "gate-junit-existing",
        lambda w: _gate(w, "--junit", w.existing),
        "--junit already exists; use --force to replace it",
    ),
    (
        "gate-markdown-in-release",
        lambda w: _gate(w, "--markdown", w.release / "gate.md"),
        "--markdown must not lie in a release tree",
    ),
    # (10d) evaluate replaced an existing --out while predict refused
    (
        "evaluate-existing",
        lambda w: ["evaluate", w.predictions, "--out", w.existing],
        "--out already exists; use --force to replace it",
    ),
    (
        "evaluate-over-predictions",
        lambda w: ["evaluate", w.predictions, "--out", w.predictions, "--force"],
        "--out must not be PREDICTIONS (an input of this command)",
    ),
    (
        "evaluate-into-folder",
        lambda w: ["evaluate", w.predictions, "--out", w.folder],
        "--out is an existing folder; give a file path",
    ),
    (
        "evaluate-in-release",
        lambda w: ["evaluate", w.predictions, "--out", w.release / "RESULTS.json"],
        "--out must not lie in a release tree",
    ),
    (
        "report-over-results",
        lambda w: ["report", w.results, "--out", w.results, "--force"],
        "--out must not be RESULTS (an input of this command)",
    ),
    (
        "report-over-policy",
        lambda w: ["report", w.results, "--policy", w.policy, "--out", w.policy],
        "--out must not be --policy (an input of this command)",
    ),
    (
        "report-existing",
        lambda w: ["report", w.results, "--out", w.existing],
        "--out already exists; use --force to replace it",
    ),
    (
        "report-into-folder",
        lambda w: ["report", w.results, "--out", w.folder],
        "--out is an existing folder; give a file path",
    ),
    (
        "report-in-release",
        lambda w: ["report", w.results, "--out", w.release / "r.html"],
        "--out must not lie in a release tree",
    ),
    (
        "predict-over-manifest",
        lambda w: _predict(w, w.root / "manifest"),
        "--out (.csv) must not be --data (an input of this command)",
    ),
    (
        "predict-existing",
        lambda w: _predict(w, w.root / "preds"),
        "--out (.parquet) already exists; use --force to replace it",
    ),
    (
        "predict-in-release",
        lambda w: _predict(w, w.release / "preds"),
        "--out (.parquet) must not lie in a release tree",
    ),
    (
        "predict-masks-is-file",
        lambda w: _predict(w, w.root / "p"),
        "--out (_masks) exists and is not a folder",
    ),
    ("demo-into-file", lambda w: ["demo", w.existing], "OUTDIR exists and is not a folder"),
]


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_unsafe_output_is_refused_with_exit_2(work: Work, args: Args, expected: str) -> None:
    before = _snapshot(work.root)
    result = _invoke(*args(work))
    assert result.exit_code == EXIT_USAGE, result.output
    message = _flat(result.output)
    assert message.startswith(f"error: {expected}"), message
    assert PATIENT_DIR not in message and "Traceback" not in message
    assert _snapshot(work.root) == before  # nothing written, nothing replaced


def test_gate_replaces_its_reports_only_with_force(work: Work) -> None:
    junit, markdown = work.root / "gate.xml", work.root / "gate.md"
    args = _gate(work, "--junit", junit, "--markdown", markdown)
    first = _invoke(*args)
    assert first.exit_code == EXIT_FAIL, first.output  # the example results fail the policy
    junit.write_text("stale\n")
    again = _invoke(*args)
    assert again.exit_code == EXIT_USAGE and junit.read_text() == "stale\n"
    forced = _invoke(*args, "--force")
    assert forced.exit_code == EXIT_FAIL, forced.output
    assert junit.read_bytes().startswith(b"<?xml")


def test_evaluate_replaces_its_results_only_with_force(binary_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.json"
    out.write_text("stale\n")
    args = ["evaluate", binary_csv, "--group", "sex", "--bootstrap", "0", "--out", out]
    refused = _invoke(*args)
    assert refused.exit_code == EXIT_USAGE and out.read_text() == "stale\n"
    forced = _invoke(*args, "--force")
    assert forced.exit_code == EXIT_OK, forced.output
    assert out.read_text().startswith("{")
