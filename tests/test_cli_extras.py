"""Both CLIs on the base install: every command starts, and one whose extra is missing names it.

The base install is simulated: a meta-path hook makes every optional package unimportable
(the packaging test, ``test_packaging.py``, does the same with real installs, more slowly).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.optional import AUDITKIT_EXTRAS
from deidkit.core.optional import DEIDKIT_EXTRAS

OPTIONAL = sorted(set(AUDITKIT_EXTRAS) | set(DEIDKIT_EXTRAS))

# Refuses the optional packages as an environment without them does (ModuleNotFoundError).
_BASE_INSTALL = (
    "import sys\n"
    "class _Absent:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] in {blocked!r}:\n"
    "            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)\n"
    "sys.meta_path.insert(0, _Absent())\n"
)


def _run(
    tool: str, *args: str, cwd: Path, blocked: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    code = _BASE_INSTALL.format(blocked=OPTIONAL if blocked is None else blocked)
    code += f"sys.argv[0] = {tool!r}\nfrom {tool}.cli import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _assert_names_extra(done: subprocess.CompletedProcess[str], extra: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    text = " ".join(done.stderr.split())  # the console wraps long lines
    assert f"of the '{extra}' extra" in text, text[-2000:]
    assert f"pip install 'deidkit-auditkit[{extra}]'" in text, text[-2000:]
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr


def test_every_command_answers_help_without_any_optional_package(tmp_path: Path) -> None:
    code = _BASE_INSTALL.format(blocked=OPTIONAL) + (
        "from typer.main import get_command\n"
        "from typer.testing import CliRunner\n"
        "from auditkit.cli import app as audit_app\n"
        "from deidkit.cli import app as deid_app\n"
        "def paths(cmd, prefix):\n"
        "    sub = getattr(cmd, 'commands', None)\n"
        "    if not sub:\n"
        "        return [prefix]\n"
        "    return [p for name, child in sub.items() for p in paths(child, [*prefix, name])]\n"
        "count = 0\n"
        "for app in (deid_app, audit_app):\n"
        "    for path in [[]] + paths(get_command(app), []):\n"
        "        result = CliRunner().invoke(app, [*path, '--help'])\n"
        "        assert result.exit_code == 0, (path, result.output)\n"
        "        count += 1\n"
        "loaded = {m.partition('.')[0] for m in sys.modules}\n"
        "print(count, sorted(loaded & " + repr(set(OPTIONAL)) + "))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    count, loaded = done.stdout.split(" ", 1)
    assert int(count) > 15 and loaded.strip() == "[]"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RESULTS.json from a real (unblocked) evaluate, for report and gate."""
    root = tmp_path_factory.mktemp("extras")
    with (root / "predictions.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "score", "sex"])
        for i in range(80):
            writer.writerow([i % 2, round(0.2 + 0.6 * (i % 2) + 0.001 * i, 3), "FM"[i % 3 == 0]])
    done = _run(
        "auditkit",
        "evaluate",
        "predictions.csv",
        "--group",
        "sex",
        "--bootstrap",
        "0",
        "--out",
        "results.json",
        cwd=root,
        blocked=[],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "results.json"


POLICY = """\
schema_version: 1
name: tiny
insufficient_evidence: warn
checks:
  - id: overall-auroc
    metric: auroc
    scope: overall
    min: 0.5
"""


def test_auditkit_evaluate_and_report_name_the_eval_extra(results: Path) -> None:
    cwd = results.parent
    _assert_names_extra(
        _run("auditkit", "evaluate", "predictions.csv", "--out", "again.json", cwd=cwd), "eval"
    )
    _assert_names_extra(
        _run("auditkit", "report", str(results), "--out", "report.html", cwd=cwd), "eval"
    )
    assert not (cwd / "again.json").exists() and not (cwd / "report.html").exists()


def test_auditkit_gate_runs_on_the_base_install(results: Path) -> None:
    # It reads JSON and YAML only; without jsonschema, RESULTS.json gets the basic checks.
    (results.parent / "tiny.yaml").write_text(POLICY, encoding="utf-8")
    done = _run("auditkit", "gate", str(results), "--policy", "tiny.yaml", cwd=results.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PASS" in done.stdout.upper()


def test_auditkit_predict_and_demo_name_the_audit_extra(results: Path, tmp_path: Path) -> None:
    cwd = results.parent
    # eval installed, torch and MONAI not: the CI runner's install.
    torchless = ["torch", "monai"]
    done = _run(
        "auditkit",
        *("predict", "--model", "m.pt", "--data", "predictions.csv", "--out", str(tmp_path / "p")),
        cwd=cwd,
        blocked=torchless,
    )
    _assert_names_extra(done, "audit")
    demo = tmp_path / "demo"
    _assert_names_extra(
        _run("auditkit", "demo", str(demo), "--size", "tiny", cwd=cwd, blocked=torchless), "audit"
    )
    assert not demo.exists() or not any(demo.iterdir())  # nothing written before the check


def test_deidkit_commands_name_their_extras(tmp_path: Path) -> None:
    (tmp_path / "labs.csv").write_text("mrn,value\n1,2\n", encoding="utf-8")
    (tmp_path / "head.nii.gz").write_bytes(b"")
    (tmp_path / "r.txt").write_text("FORMAT dicom\n%header\nREMOVE PatientName\n")
    assert _run("deidkit", "keygen", "k.key", cwd=tmp_path).returncode == 0
    assert _run("deidkit", "sample", "export", cwd=tmp_path).returncode == 0
    pseudonymise = ("pseudonymise", "labs.csv", "out.csv", "--key-file", "k.key")
    columns = ("--patient-column", "mrn", "--keep-column", "value")
    _assert_names_extra(_run("deidkit", *pseudonymise, *columns, cwd=tmp_path), "tables")
    _assert_names_extra(
        _run("deidkit", "scrub", "export", "rel", "--recipe", "r.txt", cwd=tmp_path), "recipes"
    )
    _assert_names_extra(_run("deidkit", "deface", "head.nii.gz", "out", cwd=tmp_path), "deface")
    _assert_names_extra(_run("deidkit", "demo", "demo", cwd=tmp_path), "deface")
    assert not (tmp_path / "demo").exists()  # nothing written before the check
