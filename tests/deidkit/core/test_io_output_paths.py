"""The one output-path rule of both CLIs: :func:`deidkit.core.io.check_output_path`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deidkit.core.errors import OutputPathError, UsageError
from deidkit.core.io import (
    RELEASE_MARKER,
    OutputKind,
    check_output_location,
    check_output_path,
)

#: A folder name that stands for patient data in a path: no message may quote it.
PATIENT_DIR = "DOE_JANE_0042"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / PATIENT_DIR
    folder.mkdir()
    return folder


def _refused(path: Path, **kwargs: object) -> str:
    with pytest.raises(OutputPathError) as refused:
        check_output_path(path, **kwargs)  # type: ignore[arg-type]
    message = str(refused.value)
    assert PATIENT_DIR not in message and "\n" not in message
    return message


def _release(parent: Path, name: str = "release") -> Path:
    """A release as ``deidkit scrub`` leaves it: a folder with its run report beside it."""
    release = parent / name
    (release / "P1" / "S1").mkdir(parents=True)
    (parent / f"{name}.run-report.json").write_text("{}")
    return release


def test_a_usage_error_that_names_the_option(work: Path) -> None:
    source = work / "in.csv"
    source.write_text("x\n")
    with pytest.raises(UsageError):  # exit 2 in both CLIs
        check_output_path(source, option="--out", inputs={"--batch": source})
    assert _refused(source, option="--out", inputs={"--batch": source}) == (
        "--out must not be --batch (an input of this command)"
    )


def test_an_input_even_with_force_or_through_another_name(work: Path) -> None:
    source = work / "results.json"
    source.write_text("{}")
    os.link(source, work / "hard.json")
    os.symlink(source, work / "soft.json")
    aliases = (
        source,
        work / "hard.json",
        work / "soft.json",
        work / ".." / work.name / source.name,
    )
    for alias in aliases:
        message = _refused(alias, option="--markdown", inputs={"RESULTS": source}, force=True)
        assert message.startswith("--markdown must not be RESULTS")


def test_never_inside_an_input_folder(work: Path) -> None:
    export = work / "export"
    export.mkdir()
    for kind in OutputKind:
        message = _refused(
            export / "sub" / "x", option="--report", kind=kind, inputs={"INPUT": export}
        )
        assert message == "--report must not lie inside INPUT"


def test_only_a_tree_output_may_not_contain_an_input(work: Path) -> None:
    key = work / "keys" / "project.key"
    key.parent.mkdir()
    key.write_text("k")
    assert _refused(work, option="OUTPUT", kind=OutputKind.TREE, inputs={"--key-file": key}) == (
        "OUTPUT must not contain --key-file"
    )
    # a folder that only receives named files (a mapping export, QC pictures) may
    check_output_path(work, option="--out", kind=OutputKind.FOLDER, inputs={"--key-file": key})


def test_an_existing_path_of_another_kind(work: Path) -> None:
    folder, file = work / "folder", work / "file.txt"
    folder.mkdir()
    file.write_text("x")
    assert _refused(folder, option="--junit", force=True) == (
        "--junit is an existing folder; give a file path"
    )
    assert _refused(folder, option="--out", kind=OutputKind.APPEND) == (
        "--out is an existing folder; give a file path"
    )
    for kind in (OutputKind.FOLDER, OutputKind.TREE):
        assert _refused(file, option="--qc", kind=kind) == "--qc exists and is not a folder"
    assert _refused(file / "deeper" / "x.json", option="--json") == (
        "--json lies under a file, not a folder"
    )
    fifo = work / "pipe"
    os.mkfifo(fifo)
    assert _refused(fifo, option="--out", force=True) == ("--out exists and is not a regular file")


def test_never_on_or_around_another_output_of_the_command(work: Path) -> None:
    release = work / "release"
    same = _refused(work / "x.csv", option="--report", others={"--cohort-manifest": work / "x.csv"})
    assert same == "--report must not be the same path as --cohort-manifest"
    inside = _refused(release / "l.bin", option="--linkage", others={"OUTPUT": release})
    assert inside == "--linkage must not lie inside or around OUTPUT"
    check_output_path(work / "a.xml", option="--junit", others={"--markdown": work / "a.md"})
    check_output_path(work / "a.xml", option="--junit", others={"--markdown": None})


def test_sensitive_output_never_in_the_commands_own_release(work: Path) -> None:
    release = work / "out"  # no run report yet: the command is about to write it
    message = _refused(
        release / "report.html", option="--report", releases={"OUTPUT": release}, sensitive=True
    )
    assert message.startswith("--report must not lie in a release tree (OUTPUT is the release)")
    # the same path is fine for an output that carries no identifiers (pseudonymised table)
    check_output_path(release / "labs.csv", option="OUTPUT", releases={"OUTPUT": release})


def test_sensitive_output_never_in_any_release_found_on_disk(work: Path) -> None:
    release = _release(work)
    for target in (release / "reid.csv", release / "P1" / "S1" / "reid.csv"):
        message = _refused(target, option="--out", sensitive=True)
        assert "run report beside it" in message
    marked = work / "marked"
    (marked / "deep").mkdir(parents=True)
    (marked / RELEASE_MARKER).touch()
    assert RELEASE_MARKER in _refused(
        marked / "deep" / "m", option="--out", kind=OutputKind.FOLDER, sensitive=True
    )
    # beside the release (where scrub puts its own paper trail) is fine
    check_output_path(work / "release.html", option="--report", sensitive=True)
    check_output_path(release / "labs.csv", option="OUTPUT")  # not sensitive


def test_a_folder_output_that_already_holds_a_release(work: Path) -> None:
    dicom = work / "dicom"
    (dicom / "a").mkdir(parents=True)
    (dicom / "a" / "x.dcm").write_bytes(b"")
    held = work / "held"
    held.mkdir()
    (held / "run-report.json").write_text("{}")
    assert "DICOM files" in _refused(dicom, option="--out", kind=OutputKind.FOLDER, sensitive=True)
    assert "run report" in _refused(held, option="--out", kind=OutputKind.FOLDER, sensitive=True)
    # a whole tree the command rewrites (a sample export, a demo) may hold DICOM already
    check_output_path(dicom, option="OUTDIR", kind=OutputKind.TREE, sensitive=True)


def test_existing_files_need_force_append_and_folders_may_exist(work: Path) -> None:
    existing = work / "RESULTS.json"
    existing.write_text("{}")
    assert _refused(existing, option="--out") == ("--out already exists; use --force to replace it")
    assert _refused(existing, option="FILE", force_option=None) == (
        "FILE already exists; refusing to replace it"
    )
    check_output_path(existing, option="--out", force=True)
    check_output_path(existing, option="--linkage", kind=OutputKind.APPEND)
    check_output_path(work, option="OUTPUT", kind=OutputKind.TREE)
    check_output_path(work / "new.json", option="--out")


def test_the_error_type_is_the_callers(work: Path) -> None:
    class AuditUsage(Exception):
        pass

    (work / "r.json").write_text("{}")
    with pytest.raises(AuditUsage, match="--markdown must not be RESULTS"):
        check_output_path(
            work / "r.json",
            option="--markdown",
            inputs={"RESULTS": work / "r.json"},
            error=AuditUsage,
        )


def test_check_output_location_is_the_tree_rule_for_input(work: Path) -> None:
    src = work / "in"
    src.mkdir()
    assert str(pytest.raises(OutputPathError, check_output_location, src, src).value) == (
        "OUTPUT must not be INPUT (an input of this command)"
    )
    with pytest.raises(OutputPathError, match="must not lie inside INPUT"):
        check_output_location(src, src / "out")
    with pytest.raises(OutputPathError, match="must not contain INPUT"):
        check_output_location(src, work)
    check_output_location(src, work / "out")
