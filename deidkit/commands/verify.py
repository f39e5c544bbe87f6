"""CLI command: ``verify``, the independent residual-PHI check of a release."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deidkit.commands._cluster import ExecutorKind, ExecutorOption, SchedulerOption, cluster_for
from deidkit.commands._common import (
    JsonFlag,
    JsonOutOption,
    JsonTarget,
    cli_errors,
    configure_logging,
    emit_json,
    json_target,
    stderr_console,
)
from deidkit.commands._progress import LineProgress, plain_progress
from deidkit.core.errors import UsageError
from deidkit.core.io import check_output_path
from deidkit.core.locations import Location

if TYPE_CHECKING:
    from deidkit.verify.release import VerifyResult

VERIFY_HELP = "\n\n".join(
    [
        "Check a release for residual PHI, independently of the scrubber.",
        "Re-reads every file of RELEASE (every element at every depth, private blocks, file "
        "and folder names, NIfTI headers, JSON sidecars, raw bytes) against the profile "
        "(default: the one named in RELEASE.run-report.json). Findings name places, never values.",
        "With --original, also searches the release for every PHI value of the originals and "
        "checks references, study/series structure and missing files; with --linkage and/or "
        "--key-file it adds a MIDI-B-style score.",
        "Completeness: the release must be exactly what its scrub wrote. RELEASE.run-report.json "
        "must say complete, every file RELEASE.actions.jsonl lists must be there and no other; "
        "without a run report this is a warning (an error with --require-run-report).",
        "Exit 0: clean; 3: PHI found (at the --fail-on level), scrub not complete, or files "
        "missing from or stray in the release; 1: something could not be read (a file, the run "
        "report or action log), or no run report with --require-run-report; 2: usage error.",
        "Example: deidkit verify release/ --original export/ --key-file project.key "
        "--html report.html",
    ]
)


def verify(
    release: Annotated[
        str,
        typer.Argument(
            metavar="RELEASE", help="Release folder to check: a path or a URL (s3://, gs://)."
        ),
    ],
    original: Annotated[
        str | None,
        typer.Option("--original", help="The input the release was made from (path or URL)."),
    ] = None,
    linkage: Annotated[
        Path | None,
        typer.Option("--linkage", help="Linkage store, or MIDI-B uid/patid mapping CSV(s)."),
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Project key (opens --linkage).")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="Profile name or YAML (default: from the run report)."),
    ] = None,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML release report here.")
    ] = None,
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="Severity that fails the check: warn or error.")
    ] = "error",
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: all).")
    ] = None,
    require_run_report: Annotated[
        bool,
        typer.Option(
            "--require-run-report",
            help="Exit 1 when RELEASE.run-report.json is absent (completeness not checkable).",
        ),
    ] = False,
    ocr: Annotated[
        bool,
        typer.Option(
            "--ocr/--no-ocr",
            help="Read the pixels of released files at burned-in risk (US, SC, ...) with "
            "Tesseract; PHI read is an error, and the score gains pixels_hidden.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --json-out or --html file.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    executor: ExecutorOption = ExecutorKind.local,
    scheduler: SchedulerOption = None,
) -> None:
    configure_logging(verbose)
    from deidkit.core.keys import load_key
    from deidkit.verify.release import FAIL_ON, verify_release
    from deidkit.verify.report import write_verify_reports

    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        if fail_on not in FAIL_ON:
            raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}")
        if linkage is not None and original is None:
            raise UsageError("--linkage needs --original (the score compares with the originals)")
        where = Location.parse(release, option="RELEASE")
        source = None if original is None else Location.parse(original, option="--original")
        _check_outputs(
            {"--json-out": target.file, "--html": html_out},
            inputs={
                "--original": None if source is None or source.is_remote else source.local_path,
                "--linkage": linkage,
                "--key-file": key_file,
                "--profile": Path(profile) if profile and Path(profile).is_file() else None,
            },
            release=None if where.is_remote else where.local_path,
            force=force,
        )
        key = load_key(key_file, allow_ephemeral=False) if key_file is not None else None
        with (
            cluster_for(executor, scheduler, workers=workers) as cluster,
            Progress(
                TextColumn("verifying {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=stderr_console,
                transient=True,
                disable=not stderr_console.is_terminal,  # plain lines instead (see progress)
            ) as bar,
        ):
            tasks: dict[str, int] = {}
            lines: dict[str, LineProgress | None] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = int(bar.add_task(stage, total=total))
                    lines[stage] = plain_progress(f"verify {stage}")
                bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]
                line = lines[stage]
                if line is not None:
                    line.update(done, total)

            result = verify_release(
                release,
                profile=profile,
                original=original,
                linkage=linkage,
                key=key,
                workers=workers,
                progress=progress,
                require_run_report=require_run_report,
                cluster=cluster,
                ocr=ocr,
            )
        write_verify_reports(result, fail_on=fail_on, json_out=target.file, html_out=html_out)
    if target.stdout:
        # The same document as the file: release files (its subject), originals by number.
        emit_json(JsonTarget(stdout=True), result.to_json(fail_on), sort_keys=True)
    else:
        _print_summary(result, fail_on=fail_on, json_out=target.file, html_out=html_out)
    raise typer.Exit(result.exit_code(fail_on))


def _print_summary(
    result: VerifyResult, *, fail_on: str, json_out: Path | None, html_out: Path | None
) -> None:
    verdict = result.verdict(fail_on)
    counts = {k: v for k, v in result.counts_per_check.items() if v}
    typer.echo(
        f"{verdict}: {result.files_checked} files checked, {len(result.failing(fail_on))} "
        f"finding(s) at --fail-on {fail_on}"
    )
    for check, n in sorted(counts.items()):
        typer.echo(f"  {check}: {n}")
    typer.echo(f"completeness: {_completeness_line(result)}")
    if result.score is not None and result.score.get("overall") is not None:
        typer.echo(f"MIDI-B-style score: {float(str(result.score['overall'])):.2%}")
    if json_out is not None:
        typer.echo(f"findings: {json_out}")
    if html_out is not None:
        typer.echo(f"report: {html_out}")


verify.__doc__ = VERIFY_HELP


def _completeness_line(result: VerifyResult) -> str:
    from deidkit.verify.records import CHECK_RUN_REPORT

    # The run-report findings say why completeness could not be checked; the others
    # (run-status, missing-output, stray-file) are counted above.
    reasons = sorted({f.message for f in result.findings if f.check == CHECK_RUN_REPORT})
    return "; ".join([result.completeness, *reasons])


def _check_outputs(
    reports: dict[str, Path | None],
    *,
    inputs: dict[str, Path | None],
    release: Path | None,
    force: bool,
) -> None:
    """Refuse unsafe --json / --html paths (:func:`~deidkit.core.io.check_output_path`).

    The findings and the HTML report name files and hold dates: never in the release checked
    nor in any other release, never over an input or over each other.
    """
    for option, path in reports.items():
        if path is not None:
            check_output_path(
                path,
                option=option,
                inputs=inputs,
                releases={"RELEASE": release},
                others={name: p for name, p in reports.items() if name != option},
                sensitive=True,
                force=force,
            )


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("verify", help=VERIFY_HELP)(verify)
