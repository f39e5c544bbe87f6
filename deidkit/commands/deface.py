"""CLI command: ``deidkit deface`` (thin layer over :func:`deidkit.deface.run_batch`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from deidkit.commands._cluster import ExecutorKind, ExecutorOption, SchedulerOption, cluster_for
from deidkit.commands._common import (
    EXIT_HELD_BACK,
    EXIT_OK,
    JsonFlag,
    JsonOutOption,
    ShowPathsFlag,
    check_json_out,
    cli_errors,
    configure_logging,
    emit_json,
    json_target,
    stderr_console,
)
from deidkit.core.errors import UsageError
from deidkit.core.io import OutputKind, check_output_path
from deidkit.core.locations import Location

if TYPE_CHECKING:
    from deidkit.deface import DefaceReport

_EPILOG = (
    "Example: deidkit deface bids_in/ bids_out/ --qc qc/ --workers 2\n\n"
    "As a BIDS app: deidkit deface bids_in/ bids_out/ participant --participant-label 01 02 "
    "(labels with or without sub-; the group level does not exist: exit 2). OUTPUT's "
    "dataset_description.json is a derivative's, GeneratedBy deidkit deface.\n\n"
    "JSON sidecars are scrubbed by --profile's Table E.1-1 codes (their keys are DICOM "
    "keywords): keys coded X/Z/D/U are removed, K kept, C cleaned (dates removed, as deface "
    "has no key); other keys keep numbers and known technical text only.\n\n"
    "Output names equal input names inside OUTPUT (BIDS needs them). QC files are named by "
    "12 hex digits of SHA-256 of the input's relative path, never by the input name. DICOM "
    "series keep all headers (only PixelData changes): run `deidkit scrub` on them next.\n\n"
    "OUTPUT gets only what the run produced: defaced images, their scrubbed JSON sidecars, a "
    "BIDS dataset's scrubbed dataset_description.json and the run report "
    ".deidkit-deface.json. Every other file is left behind, counted by kind. OUTPUT must be "
    "new, empty or an earlier deface output (else --force).\n\n"
    "Inputs are named by number on stdout and in --json (#3: the third result, in path "
    "order), not by path: input names can carry patient names (--show-paths for local "
    "debugging)."
)


def deface(
    ctx: typer.Context,
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="NIfTI file, folder, BIDS dataset (BIDS_DIR) or DICOM series folder; a "
            "local path or an fsspec URL (s3://, gs://, memory://, file://).",
        ),
    ],
    output: Annotated[
        str,
        typer.Argument(
            metavar="OUTPUT", help="Output folder (outside INPUT); a local path or a URL."
        ),
    ],
    analysis_level: Annotated[
        str | None,
        typer.Argument(
            metavar="[participant]",
            help="BIDS-app form: 'participant' (INPUT must be a BIDS dataset). There is no "
            "group level.",
            show_default=False,
        ),
    ] = None,
    participant_label: Annotated[
        list[str] | None,
        typer.Option(
            "--participant-label",
            "--participant_label",
            help="Deface only these subjects of a BIDS dataset (01 or sub-01; several "
            "values may follow one flag).",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help="Profile whose Table E.1-1 codes rule the JSON sidecars (basic, research or "
            "a profile YAML)."
        ),
    ] = "basic",
    method: Annotated[
        str,
        typer.Option(
            help="auto | mask (template registration, the whole face zone) | quickshear | "
            "reface (the template's average face written in its place)."
        ),
    ] = "auto",
    brain_mask: Annotated[
        Path | None, typer.Option(help="Brain mask NIfTI on the image's grid (else estimated).")
    ] = None,
    qc: Annotated[
        Path | None, typer.Option(help="Write before/after renderings and JSON records here.")
    ] = None,
    applyto: Annotated[
        list[Path] | None,
        typer.Option(
            help="Co-registered images of the same subject that get INPUT's mask (with "
            "--method reface, the template face in their own intensities)."
        ),
    ] = None,
    blur: Annotated[bool, typer.Option(help="Blur the face instead of zeroing it.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            help="Fail a file on which either face detector (Haar, dlib HOG) still finds a "
            "face on any QC view (front, +-30 degrees)."
        ),
    ] = False,
    ears: Annotated[
        bool, typer.Option("--ears", help="mask/reface: also remove the ears.")
    ] = False,
    margin_mm: Annotated[
        float, typer.Option(min=0.0, help="Brain dilation (mm) that must stay unchanged.")
    ] = 4.0,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a non-empty OUTPUT that is not an earlier deface output; "
            "replace an existing --json-out file.",
        ),
    ] = False,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    show_paths: ShowPathsFlag = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    executor: ExecutorOption = ExecutorKind.local,
    scheduler: SchedulerOption = None,
) -> None:
    """Remove the face from 3D head scans; never the brain (refused if it would change)."""
    from deidkit.commands._progress import plain_progress
    from deidkit.deface import DefaceOptions, FileResult, method_names, run_batch, run_url_batch
    from deidkit.deface.tasks import BAD_STATUSES
    from deidkit.rules.profile import load_profile

    configure_logging(verbose)
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        level = _analysis_level(analysis_level)
        labels = _labels(participant_label or [], ctx.args)
        if method not in method_names():
            raise typer.BadParameter(
                f"choose one of {', '.join(method_names())}", param_hint="--method"
            )
        src = Location.parse(input_path, option="INPUT")
        out = Location.parse(output, option="OUTPUT")
        local_in = None if src.is_remote else src.local_path
        local_out = None if out.is_remote else out.local_path
        check_json_out(
            target, inputs={"INPUT": local_in}, releases={"OUTPUT": local_out}, force=force
        )
        if qc is not None:
            _check_qc_dir(
                qc,
                input_path=local_in,
                output=local_out,
                brain_mask=brain_mask,
                applyto=applyto or [],
            )
        options = DefaceOptions(
            method=method,
            brain_mask=brain_mask,
            qc_dir=qc,
            applyto=tuple(applyto or ()),
            blur=blur,
            strict=strict,
            margin_mm=margin_mm,
            ears=ears,
            profile=load_profile(profile),
            analysis_level=level,
            participant_labels=labels,
        )
        with (
            # memory:// is seen by threads of this process only
            cluster_for(
                executor, scheduler, workers=workers, processes=src.shared and out.shared
            ) as cluster,
            Progress(
                TextColumn("deface"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                console=stderr_console,
                transient=True,
                disable=not stderr_console.is_terminal,  # plain lines instead (see tick)
            ) as bar,
        ):
            job = bar.add_task("deface", total=None, last="")
            lines = plain_progress("deface", flag="refused, flagged or failed")

            def tick(result: FileResult) -> None:
                bar.update(job, advance=1, last=result.status)
                if lines is not None:
                    lines.advance(flagged=result.status in BAD_STATUSES)

            report = (
                run_url_batch(src.url, out.url, options, workers=workers, progress=tick,
                              force=force, cluster=cluster)
                if src.is_remote or out.is_remote
                else run_batch(src.local_path, out.local_path, options, workers=workers,
                               progress=tick, force=force, cluster=cluster)
            )  # fmt: skip
        emit_json(target, report.to_json(show_paths=show_paths))
    if target.text:
        _print_summary(report, show_paths=show_paths)
    raise typer.Exit(EXIT_HELD_BACK if report.failed else EXIT_OK)


def _print_summary(report: DefaceReport, *, show_paths: bool) -> None:
    from deidkit.deface.batch import public_message

    for number, r in enumerate(report.results, start=1):
        if r.status in ("defaced", "refused", "flagged", "failed"):
            message = r.message if show_paths else public_message(r, number)
            note = f"  ({message})" if message else ""
            qc_note = f"  qc={r.qc['qc_id']}" if r.qc else ""
            name = f"#{number} {r.path}" if show_paths else f"#{number}"
            typer.echo(f"{r.status:8} {name}{qc_note}{note}")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(report.counts().items()))
    typer.echo(f"summary: {summary}")
    if report.reused:
        typer.echo(
            f"resumed: {report.reused} image group(s) an earlier run into OUTPUT finished "
            "were not defaced again (same settings, inputs and outputs)"
        )
    if report.left_behind:
        kinds = ", ".join(f"{n} {kind}" for kind, n in report.left_behind.items())
        typer.echo(f"left behind (not written to OUTPUT): {kinds}")


def _check_qc_dir(
    qc: Path,
    *,
    input_path: Path | None,
    output: Path | None,
    brain_mask: Path | None,
    applyto: list[Path],
) -> None:
    """The QC renderings show the face before defacing: never in INPUT, OUTPUT or a release."""
    inputs: dict[str, Path | None] = {"INPUT": input_path, "--brain-mask": brain_mask}
    inputs.update({f"--applyto #{n}": path for n, path in enumerate(applyto, start=1)})
    check_output_path(
        qc,
        option="--qc",
        kind=OutputKind.FOLDER,
        inputs=inputs,
        releases={"OUTPUT": output},
        sensitive=True,
    )


def _analysis_level(level: str | None) -> str | None:
    """The BIDS-app analysis level: None (plain form) or ``participant``; no group level."""
    if level is None or level == "participant":
        return level
    if level == "group":
        raise UsageError(
            "deface has no group-level analysis: each participant is defaced on its own "
            "(run the participant level)"
        )
    raise UsageError("the third argument is the BIDS-app analysis level: participant")


def _labels(given: list[str], extra: list[str]) -> tuple[str, ...]:
    """``--participant-label`` values, with the ones that followed the first value.

    A BIDS app takes ``--participant-label 01 02``; Click gives one value per flag and leaves
    the others as extra arguments, which are labels only after ``--participant-label``.
    """
    if extra and not given:
        raise UsageError(f"{len(extra)} unexpected extra argument(s)")
    return (*given, *extra)


def register(app: typer.Typer) -> None:
    """Add ``deface`` to ``app``."""
    # Extra arguments: the further values of `--participant-label 01 02` (see _labels).
    settings = {"allow_extra_args": True}
    app.command(name="deface", epilog=_EPILOG, context_settings=settings)(deface)
