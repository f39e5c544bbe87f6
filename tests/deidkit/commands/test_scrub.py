"""The scrub, keygen, sample and demo commands, end to end through the CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pydicom
from scrub_helpers import find_canaries, read_tree
from typer.testing import CliRunner

from deidkit.cli import app
from deidkit.core.keys import KEY_ENV_VAR, load_key_file
from deidkit.demo.sample import SampleCorpus

runner = CliRunner()


def test_scrub_leaves_no_canary(
    sample_corpus: SampleCorpus, key_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "release"
    before = read_tree(sample_corpus.root)
    result = runner.invoke(
        app, ["scrub", str(sample_corpus.root), str(out), "--key-file", str(key_file),
              "--workers", "2", "--json"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output  # broken and burned-in files held back
    summary = json.loads(result.stdout)
    assert summary["counts"]["released"] == len(sample_corpus.released)
    assert summary["unlinkable"] is False
    # stdout names held-back files by number; the run report beside the release has paths.
    report = json.loads(Path(summary["run_report"]).read_text())
    assert {h["source"]: h["reason"] for h in report["held_back"]} == (
        sample_corpus.expected_held_back
    )
    assert summary["held_back"] == [
        {k: v for k, v in h.items() if k != "source"} for h in report["held_back"]
    ]
    assert "CANARY" not in result.stdout + result.stderr
    tree = read_tree(out)
    assert find_canaries(tree, sample_corpus.canaries) == []
    assert not any(sample_corpus.uid_root.encode() in data for data in tree.values())
    for rel in tree:
        assert pydicom.dcmread(out / rel).PatientIdentityRemoved == "YES"
    assert read_tree(sample_corpus.root) == before  # input untouched
    assert Path(summary["run_report"]).parent == tmp_path


def test_scrub_all_clean_exits_zero(sample_corpus: SampleCorpus, tmp_path: Path) -> None:
    src = tmp_path / "clean"
    for sample in sample_corpus.files:
        if sample.expected == "release" and sample.kind == "CT":
            target = src / sample.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((sample_corpus.root / sample.path).read_bytes())
    env = {KEY_ENV_VAR: "ab" * 32}
    result = runner.invoke(app, ["scrub", str(src), str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.output
    assert "released" in result.stdout and "run report" in result.stdout
    report = json.loads((tmp_path / "out.run-report.json").read_text())
    assert report["key"]["source"] == f"env:{KEY_ENV_VAR}"


def test_scrub_usage_errors_exit_two(sample_corpus: SampleCorpus, tmp_path: Path) -> None:
    root = str(sample_corpus.root)
    inside = runner.invoke(app, ["scrub", root, str(sample_corpus.root / "out")])
    assert inside.exit_code == 2
    assert not (sample_corpus.root / "out").exists()
    bad_profile = runner.invoke(app, ["scrub", root, str(tmp_path / "o"), "--profile", "nope"])
    assert bad_profile.exit_code == 2
    lone_k = runner.invoke(app, ["scrub", root, str(tmp_path / "o"), "--min-cell-size", "5"])
    assert lone_k.exit_code == 2


def test_scrub_without_key_warns_unlinkable(small_corpus: SampleCorpus, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["scrub", str(small_corpus.root), str(tmp_path / "o"), "--json"], env={KEY_ENV_VAR: ""}
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["unlinkable"] is True
    assert "unlinkable" in result.stderr


def test_scrub_html_report_names_no_input(
    small_corpus: SampleCorpus, key_file: Path, tmp_path: Path
) -> None:
    html = tmp_path / "release.html"
    result = runner.invoke(
        app, ["scrub", str(small_corpus.root), str(tmp_path / "o"), "--key-file", str(key_file),
              "--report", str(html)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    text = html.read_text()
    assert "<html" in text.lower() and "truncated" in text
    assert "CANARY" not in text


def test_keygen_permissions_and_refusal(tmp_path: Path) -> None:
    path = tmp_path / "k" / "project.key"
    result = runner.invoke(app, ["keygen", str(path)])
    assert result.exit_code == 0, result.output
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_key_file(path)
    assert key.fingerprint in result.stdout and key.secret.hex() not in result.stdout
    before = path.read_bytes()
    again = runner.invoke(app, ["keygen", str(path)])
    assert again.exit_code == 2
    assert path.read_bytes() == before


def test_sample_and_demo(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample", str(tmp_path / "s"), "--patients", "1", "--no-broken"])
    assert result.exit_code == 0, result.output
    assert len(read_tree(tmp_path / "s")) > 5
    demo = tmp_path / "demo"
    first = runner.invoke(app, ["demo", str(demo), "--workers", "1"])
    assert first.exit_code == 0, first.output
    assert "release.run-report.json" in first.stdout and "release.actions.jsonl" in first.stdout
    release = read_tree(demo / "release")
    second = runner.invoke(app, ["demo", str(demo), "--workers", "1"])  # idempotent
    assert second.exit_code == 0, second.output
    assert read_tree(demo / "release") == release


def test_scrub_linkage_and_cohort_manifest_flags(
    small_corpus: SampleCorpus, key_file: Path, tmp_path: Path
) -> None:
    link, manifest = tmp_path / "link.bin", tmp_path / "cohort.csv"
    result = runner.invoke(
        app, ["scrub", str(small_corpus.root), str(tmp_path / "o"), "--key-file", str(key_file),
              "--linkage", str(link), "--cohort-manifest", str(manifest), "--min-cell-size", "2",
              "--json"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert link.stat().st_size > 0 and b"CANARY" not in link.read_bytes()  # encrypted
    assert manifest.read_text().startswith("patient_pseudonym,")
    report = json.loads((tmp_path / "o.run-report.json").read_text())
    assert report["cohort_manifest"]["file"] == "cohort.csv"
    assert report["options"]["min_cell_size"] == 2


def test_unsafe_key_file_is_a_usage_error(tmp_path: Path) -> None:
    """A key file others can read is refused with exit 2, not 1 (1 means files held back)."""
    from typer.testing import CliRunner

    from deidkit.cli import app
    from deidkit.core.keys import generate_key_file

    key = tmp_path / "k.key"
    generate_key_file(key)
    key.chmod(0o644)
    source = tmp_path / "export"
    source.mkdir()
    result = CliRunner().invoke(
        app, ["scrub", str(source), str(tmp_path / "rel"), "--key-file", str(key)]
    )
    assert result.exit_code == 2
    assert "chmod 600" in result.output
    assert not (tmp_path / "rel").exists()


def test_demo_succeeds_when_files_are_released_and_verified_clean(tmp_path: Path) -> None:
    # `deidkit demo` exits 0 exactly when DemoResult.succeeded holds.
    from dataclasses import replace

    from deidkit.demo.run import DemoResult
    from deidkit.scrub.pipeline import ScrubSummary

    def scrubbed(released: int) -> ScrubSummary:
        counts = {"found": 3, "released": released, "held_back": 3 - released}
        return ScrubSummary(tmp_path, tmp_path / "r", {"counts": counts}, None, None)

    corpus = SampleCorpus(tmp_path, (), (), (), ())
    result = DemoResult(tmp_path, tmp_path, tmp_path / "r", tmp_path / "k", corpus, scrubbed(2))
    assert result.succeeded  # not verified; held-back samples do not count against it
    assert replace(result, verify_verdict="clean").succeeded
    assert not replace(result, verify_verdict="phi-found").succeeded
    assert not replace(result, verify_verdict="incomplete").succeeded
    assert not replace(result, scrub=scrubbed(0)).succeeded
