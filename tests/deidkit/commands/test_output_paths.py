"""One rule for every output path of every deidkit command, through the CLI.

Each row gives a command an output path it must refuse: exit 2, one line naming the option
(never the path, whose folder names may be patient data), and nothing written anywhere.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from deidkit.cli import app
from deidkit.commands._common import EXIT_OK, EXIT_USAGE
from deidkit.core.keys import generate_key_file, load_key_file
from deidkit.demo.sample import SampleCorpus
from deidkit.pseudonymise.linkage import LinkageEntry, LinkageStore

#: Stands for patient data in a folder name: no message may quote it.
PATIENT_DIR = "DOE_JANE_0042"

runner = CliRunner()


@dataclass(frozen=True)
class Work:
    """A working folder with inputs, an existing release and things in the way."""

    root: Path

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def release(self) -> Path:
        return self.root / "release"  # with release.run-report.json beside it

    @property
    def out(self) -> Path:
        return self.root / "out"  # a new release

    @property
    def key(self) -> Path:
        return self.root / "keys" / "project.key"

    @property
    def linkage(self) -> Path:
        return self.root / "release.linkage"

    @property
    def batch(self) -> Path:
        return self.root / "batch.csv"

    @property
    def labs(self) -> Path:
        return self.root / "labs.csv"

    @property
    def existing(self) -> Path:
        return self.root / "existing.csv"

    @property
    def folder(self) -> Path:
        return self.root / "a-folder"


@pytest.fixture
def work(tmp_path: Path) -> Work:
    w = Work(tmp_path / PATIENT_DIR)
    (w.export / "p").mkdir(parents=True)
    (w.export / "p" / "x.dcm").write_bytes(b"\0" * 132)
    (w.release / "P1").mkdir(parents=True)
    (w.root / "release.run-report.json").write_text("{}")
    generate_key_file(w.key)
    w.batch.write_text("pid\nPABC\n")
    w.labs.write_text("mrn,value\n00123,1\n")
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


def _reid(w: Work, out: Path) -> list[str | Path]:
    return [
        "reidentify",
        "--linkage",
        w.linkage,
        "--key-file",
        w.key,
        "--batch",
        w.batch,
        "--column",
        "pid",
        "--out",
        out,
    ]


def _export(w: Work, out: Path) -> list[str | Path]:
    return ["linkage", "export", "--linkage", w.linkage, "--key-file", w.key, "--out", out]


def _pseud(w: Work, out: Path, *extra: str | Path) -> list[str | Path]:
    return [
        "pseudonymise",
        w.labs,
        out,
        "--key-file",
        w.key,
        "--patient-column",
        "mrn",
        "--keep-column",
        "value",
        *extra,
    ]


CASES: list[tuple[str, Args, str]] = [
    # (1) re-identified names into a release
    (
        "reidentify-into-release",
        lambda w: _reid(w, w.release / "reid.csv"),
        "--out must not lie in a release tree",
    ),
    (
        "reidentify-over-batch",
        lambda w: _reid(w, w.batch),
        "--out must not be --batch (an input of this command)",
    ),
    ("reidentify-over-key", lambda w: _reid(w, w.key), "--out must not be --key-file"),
    (
        "reidentify-existing",
        lambda w: _reid(w, w.existing),
        "--out already exists; use --force to replace it",
    ),
    (
        "reidentify-into-folder",
        lambda w: _reid(w, w.folder),
        "--out is an existing folder; give a file path",
    ),
    (
        "linkage-export-into-release",
        lambda w: _export(w, w.release / "mapping"),
        "--out must not lie in a release tree",
    ),
    (
        "linkage-export-into-file",
        lambda w: _export(w, w.existing),
        "--out exists and is not a folder",
    ),
    # (9) the scrub report inside the release it describes
    (
        "scrub-report-in-output",
        lambda w: ["scrub", w.export, w.out, "--report", w.out / "report.html"],
        "--report must not lie in a release tree (OUTPUT is the release)",
    ),
    (
        "scrub-report-in-input",
        lambda w: ["scrub", w.export, w.out, "--report", w.export / "report.html"],
        "--report must not lie inside INPUT",
    ),
    (
        "scrub-report-existing",
        lambda w: ["scrub", w.export, w.out, "--report", w.existing],
        "--report already exists; use --force to replace it",
    ),
    (
        "scrub-report-is-folder",
        lambda w: ["scrub", w.export, w.out, "--report", w.folder],
        "--report is an existing folder",
    ),
    (
        "scrub-report-is-run-report",
        lambda w: ["scrub", w.export, w.out, "--report", w.root / "out.run-report.json"],
        "--report must not be the same path as OUTPUT's run report",
    ),
    (
        "scrub-report-is-cohort",
        lambda w: [
            "scrub",
            w.export,
            w.out,
            "--report",
            w.root / "c.csv",
            "--cohort-manifest",
            w.root / "c.csv",
        ],
        "--report must not be the same path as --cohort-manifest",
    ),
    (
        "scrub-cohort-in-a-release",
        lambda w: ["scrub", w.export, w.out, "--cohort-manifest", w.release / "cohort.csv"],
        "--cohort-manifest must not lie in a release tree",
    ),
    (
        "scrub-linkage-in-output",
        lambda w: ["scrub", w.export, w.out, "--linkage", w.out / "l.dkl"],
        "--linkage must not lie in a release tree (OUTPUT is the release)",
    ),
    (
        "scrub-linkage-is-key",
        lambda w: ["scrub", w.export, w.out, "--key-file", w.key, "--linkage", w.key],
        "--linkage must not be --key-file",
    ),
    (
        "scrub-output-is-file",
        lambda w: ["scrub", w.export, w.existing],
        "OUTPUT exists and is not a folder",
    ),
    (
        "scrub-output-contains-key",
        lambda w: ["scrub", w.export, w.key.parent, "--key-file", w.key],
        "OUTPUT must not contain --key-file",
    ),
    (
        "keygen-into-release",
        lambda w: ["keygen", w.release / "project.key"],
        "FILE must not lie in a release tree",
    ),
    ("keygen-over-folder", lambda w: ["keygen", w.folder], "FILE is an existing folder"),
    (
        "keygen-existing",
        lambda w: ["keygen", w.existing],
        "FILE already exists; refusing to replace it",
    ),
    ("sample-into-file", lambda w: ["sample", w.existing], "OUTDIR exists and is not a folder"),
    (
        "sample-into-release",
        lambda w: ["sample", w.release / "s"],
        "OUTDIR must not lie in a release tree",
    ),
    ("demo-into-file", lambda w: ["demo", w.existing], "OUTDIR exists and is not a folder"),
    (
        "pseudonymise-over-source",
        lambda w: _pseud(w, w.labs, "--force"),
        "OUTPUT must not be SOURCE (an input of this command)",
    ),
    (
        "pseudonymise-existing",
        lambda w: _pseud(w, w.existing),
        "OUTPUT already exists; use --force to replace it",
    ),
    (
        "pseudonymise-output-is-linkage",
        lambda w: _pseud(w, w.root / "o.csv", "--linkage", w.root / "o.csv"),
        "OUTPUT must not be the same path as --linkage",
    ),
    (
        "pseudonymise-linkage-in-release",
        lambda w: _pseud(w, w.root / "o.csv", "--linkage", w.release / "l.dkl"),
        "--linkage must not lie in a release tree",
    ),
    (
        "verify-json-in-release",
        lambda w: ["verify", w.release, "--json-out", w.release / "f.json"],
        "--json-out must not lie in a release tree (RELEASE is the release)",
    ),
    (
        "verify-html-in-original",
        lambda w: ["verify", w.release, "--original", w.export, "--html", w.export / "r.html"],
        "--html must not lie inside --original",
    ),
    (
        "verify-json-is-html",
        lambda w: ["verify", w.release, "--json-out", w.root / "r", "--html", w.root / "r"],
        "--json-out must not be the same path as --html",
    ),
    (
        "verify-html-existing",
        lambda w: ["verify", w.release, "--html", w.existing],
        "--html already exists; use --force to replace it",
    ),
    (
        "deface-qc-in-output",
        lambda w: ["deface", w.root / "head.nii.gz", w.out, "--qc", w.out / "qc"],
        "--qc must not lie in a release tree (OUTPUT is the release)",
    ),
    (
        "deface-qc-in-input",
        lambda w: ["deface", w.export, w.out, "--qc", w.export / "qc"],
        "--qc must not lie inside INPUT",
    ),
    (
        "deface-qc-is-file",
        lambda w: ["deface", w.export, w.out, "--qc", w.existing],
        "--qc exists and is not a folder",
    ),
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


def _store(w: Work) -> None:
    store = LinkageStore(w.linkage, key=load_key_file(w.key))
    store.append([LinkageEntry("PatientID", "MRN-7", "PABC")])


def test_reidentify_replaces_an_existing_file_only_with_force(work: Work) -> None:
    _store(work)
    refused = _invoke(*_reid(work, work.existing))
    assert refused.exit_code == EXIT_USAGE and work.existing.read_text() == "kept\n"
    done = _invoke(*_reid(work, work.existing), "--force")
    assert done.exit_code == EXIT_OK, done.output
    rows = list(csv.DictReader(work.existing.open()))
    assert [r["original"] for r in rows] == ["MRN-7"]
    assert "MRN-7" not in done.output  # with --out the answers are in the file only
    assert work.existing.stat().st_mode & 0o077 == 0


def test_scrub_resumes_into_its_output_and_replaces_reports_with_force(
    small_corpus: SampleCorpus, tmp_path: Path
) -> None:
    key = tmp_path / "project.key"
    generate_key_file(key)
    out, html, cohort = tmp_path / "release", tmp_path / "release.html", tmp_path / "cohort.csv"
    args = [
        "scrub",
        small_corpus.root,
        out,
        "--key-file",
        key,
        "--workers",
        "1",
        "--report",
        html,
        "--cohort-manifest",
        cohort,
        "--json",
    ]
    first = _invoke(*args)
    assert first.exit_code == 1, first.output  # the sample holds broken files on purpose
    written = html.read_bytes(), cohort.read_bytes()
    again = _invoke(*args)
    assert again.exit_code == EXIT_USAGE
    assert "--report already exists; use --force to replace it" in _flat(again.output)
    assert (html.read_bytes(), cohort.read_bytes()) == written
    forced = _invoke(*args, "--force")
    assert forced.exit_code == 1, forced.output
    summary = json.loads(forced.stdout)
    assert summary["resumed"] is True and summary["counts"]["unchanged"] > 0
    assert cohort.read_bytes() == written[1]
