"""CLI conventions of deidkit (issue 17): markup-safe messages, ``--json`` / ``--json-out``, and
no input path on stdout or stderr unless ``--show-paths``.

The sample export plants ``CANARY`` tokens in its folder and file names, as patient names are in
a real PACS export: none may reach a log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.commands._common import cli_errors
from deidkit.core.errors import MissingDependencyError
from deidkit.core.keys import KEY_ENV_VAR
from deidkit.demo.sample import SampleCorpus

runner = CliRunner()
ENV = {KEY_ENV_VAR: "ab" * 32, "DEIDKIT_DEBUG": ""}
PLANTED = "CANARY"


def _flat(text: str) -> str:
    # Rich wraps stderr at the console width, also inside a long path (no space to break
    # at): compare messages with all whitespace removed.
    return "".join(text.split())


def _invoke(*args: object) -> object:
    return runner.invoke(app, [str(a) for a in args], env=ENV)


# ---------------------------------------------------------------- markup


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (lambda d: ["verify", d / "a[/b]c"], "a[/b]c is not a folder"),
        (lambda d: ["verify", d / "x[bold]y"], "x[bold]y is not a folder"),
        (lambda d: ["scrub", d / "in[/b]put", d / "out"], "in[/b]put does not exist"),
        (lambda d: ["deface", d / "head[bold].nii", d / "out"], "head[bold].nii does not exist"),
        (
            lambda d: ["pseudonymise", d / "t[bold]x.csv", d / "o.csv", "--patient-column", "m"],
            "t[bold]x.csv does not exist",
        ),
        (
            lambda d: ["linkage", "check", "--linkage", d / "l[italic]nk.dkl"],
            "l[italic]nk.dkl does not exist",
        ),
        (lambda d: ["profiles", "show", d / "p[red].yaml"], "p[red].yaml does not exist"),
        (
            lambda d: ["explain", "PatientName", "--profile", d / "q[/x].yaml"],
            "q[/x].yaml does not exist",
        ),
    ],
    ids=["verify-close-tag", "verify-style", "scrub", "deface", "pseudonymise", "linkage",
         "profiles", "explain"],
)  # fmt: skip
def test_brackets_in_arguments_are_printed_as_typed(
    tmp_path: Path, make_args: Callable[[Path], list[object]], expected: str
) -> None:
    result = _invoke(*make_args(tmp_path))
    assert result.exit_code in (1, 2), result.output  # a typed error, not an internal one (70)
    assert _flat(expected) in _flat(result.stderr)
    assert "MarkupError" not in result.output and "internal error" not in result.output


def test_an_install_hint_keeps_its_extra(capsys: pytest.CaptureFixture[str]) -> None:
    hint = "pip install 'deidkit-auditkit[deface]'"
    with pytest.raises(Exception) as stopped, cli_errors():
        raise MissingDependencyError(f"deidkit deface needs SimpleITK: {hint}")
    assert getattr(stopped.value, "exit_code", None) == 1
    assert _flat(hint) in _flat(capsys.readouterr().err)


def test_column_names_from_a_table_keep_their_brackets(tmp_path: Path) -> None:
    table = tmp_path / "labs.csv"
    table.write_text("mrn,v[bold]w,x[/y]z\nM1,2,3\n")
    result = _invoke(
        "pseudonymise", table, tmp_path / "o.csv", "--patient-column", "mrn", "--keep-unlisted"
    )
    assert result.exit_code == 0, result.output
    assert _flat("kept unlisted columns unchanged: v[bold]w, x[/y]z") in _flat(result.stderr)


# ---------------------------------------------------------------- --json / --json-out


@pytest.mark.parametrize(
    "args",
    [["profiles", "list"], ["profiles", "show", "research"], ["explain", "PatientName"]],
    ids=["profiles-list", "profiles-show", "explain"],
)
def test_json_and_json_out_give_the_same_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # a file named "-" would land here
    flag = _invoke(*args, "--json")
    dash = _invoke(*args, "--json-out", "-")
    assert flag.exit_code == dash.exit_code == 0, flag.output + dash.output
    assert json.loads(flag.stdout) == json.loads(dash.stdout)
    assert not (tmp_path / "-").exists()
    out = tmp_path / "result.json"
    to_file = _invoke(*args, "--json-out", out)
    assert to_file.exit_code == 0, to_file.output
    assert json.loads(out.read_text()) == json.loads(flag.stdout)
    assert to_file.stdout == _invoke(*args).stdout  # the text summary stays on stdout
    again = _invoke(*args, "--json-out", out)
    assert again.exit_code == 2
    assert _flat("--json-out already exists; use --force to replace it") in _flat(again.stderr)
    assert _invoke(*args, "--json-out", out, "--force").exit_code == 0


def test_verify_json_is_a_flag_and_json_out_a_path(
    small_corpus: SampleCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = tmp_path / "release"
    assert _invoke("scrub", small_corpus.root, release, "--workers", "1").exit_code == 1
    monkeypatch.chdir(tmp_path)
    flag = _invoke("verify", release, "--workers", "1", "--json")
    assert flag.exit_code == 0, flag.output
    document = json.loads(flag.stdout)
    assert document["verdict"] == "clean" and document["format"] == "deidkit-verify/1"
    dash = _invoke("verify", release, "--workers", "1", "--json-out", "-")
    assert json.loads(dash.stdout)["verdict"] == "clean"
    assert not (tmp_path / "-").exists()  # "-" is stdout, never a file named "-"
    # The old spelling, `--json PATH`, is refused rather than silently misread.
    old = _invoke("verify", release, "--json", tmp_path / "findings.json")
    assert old.exit_code == 2 and not (tmp_path / "findings.json").exists()
    out = tmp_path / "findings.json"
    to_file = _invoke("verify", release, "--workers", "1", "--json-out", out)
    assert to_file.exit_code == 0 and f"findings: {out}" in to_file.stdout
    assert json.loads(out.read_text())["verdict"] == "clean"


def test_scrub_json_out_writes_the_stdout_document(
    small_corpus: SampleCorpus, tmp_path: Path
) -> None:
    out = tmp_path / "summary.json"
    result = _invoke("scrub", small_corpus.root, tmp_path / "rel", "--workers", "1",
                     "--json-out", out)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("released ")  # text on stdout, JSON in the file
    document = json.loads(out.read_text())
    assert document["counts"]["held_back"] > 0
    again = _invoke("scrub", small_corpus.root, tmp_path / "rel", "--workers", "1",
                    "--json-out", "-")  # fmt: skip
    assert json.loads(again.stdout)["held_back"] == document["held_back"]


# ---------------------------------------------------------------- no input path in logs


def test_scrub_names_inputs_by_number_unless_show_paths(
    small_corpus: SampleCorpus, tmp_path: Path
) -> None:
    assert any(PLANTED in s.path for s in small_corpus.files)  # the names carry "patient" data
    for extra in ((), ("--json",)):
        result = _invoke("scrub", small_corpus.root, tmp_path / f"r{len(extra)}",
                         "--workers", "1", *extra)  # fmt: skip
        assert result.exit_code == 1, result.output
        assert PLANTED not in result.stdout + result.stderr
    summary = json.loads(result.stdout)
    report = json.loads((tmp_path / "r1.run-report.json").read_text())
    # The number maps back to the path in the run report beside the release.
    numbers = {h["input"]: h["source"] for h in report["held_back"] + report["skipped"]}
    assert [h["input"] for h in summary["held_back"]] == [h["input"] for h in report["held_back"]]
    assert {h["source"]: h["reason"] for h in report["held_back"]} == (
        small_corpus.expected_held_back
    )
    log = (tmp_path / "r1.actions.jsonl").read_text().splitlines()
    for number, source in numbers.items():
        assert json.loads(log[number - 1])["source"] == source  # line N of the action log
    shown = _invoke("scrub", small_corpus.root, tmp_path / "r2", "--workers", "1", "--show-paths")
    assert PLANTED in shown.stdout
    shown_json = _invoke("scrub", small_corpus.root, tmp_path / "r3", "--workers", "1",
                         "--show-paths", "--json")  # fmt: skip
    assert {h["source"] for h in json.loads(shown_json.stdout)["held_back"]} == set(
        small_corpus.expected_held_back
    )


def test_verify_with_originals_names_no_input_path(
    small_corpus: SampleCorpus, key_file: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    scrubbed = _invoke("scrub", small_corpus.root, release, "--key-file", key_file,
                       "--workers", "1")  # fmt: skip
    assert scrubbed.exit_code == 1, scrubbed.output
    # A file the run report does not account for: verify reports it, by number.
    (next(release.rglob("*.dcm"))).unlink()
    for extra in ((), ("--json",)):
        result = _invoke("verify", release, "--original", small_corpus.root, "--key-file",
                         key_file, "--workers", "1", *extra)  # fmt: skip
        assert result.exit_code == 3, result.output
        assert PLANTED not in result.stdout + result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert any(f["file"].startswith("original #") for f in findings)


def test_pseudonymise_names_no_input_path(tmp_path: Path) -> None:
    folder = tmp_path / f"{PLANTED}FAM_{PLANTED}GIV"
    folder.mkdir()
    (folder / "labs.csv").write_text("mrn,value\nM1,2\n")
    for extra in ((), ("--json",)):
        result = _invoke("pseudonymise", folder / "labs.csv", tmp_path / f"o{len(extra)}.csv",
                         "--patient-column", "mrn", "--keep-column", "value", *extra)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert PLANTED not in result.stdout + result.stderr
    # BIDS: a file that cannot be read is named by its pseudonymised path.
    bids = tmp_path / "bids"
    anat = bids / f"sub-{PLANTED}X" / "anat"
    anat.mkdir(parents=True)
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.8.0"}')
    (anat / f"sub-{PLANTED}X_notes.txt").write_bytes(b"\xff\xfe not text")
    broken = _invoke("pseudonymise", bids, tmp_path / "bids-out", "--bids")
    assert broken.exit_code == 1, broken.output
    assert _flat("is not readable UTF-8 text") in _flat(broken.stderr)
    assert PLANTED not in broken.stdout + broken.stderr
