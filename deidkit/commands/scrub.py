"""CLI commands: ``scrub`` (the batch tool), ``keygen``, ``sample`` and ``demo``."""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from deidkit.commands._cluster import ExecutorKind, ExecutorOption, SchedulerOption, cluster_for
from deidkit.commands._common import (
    EXIT_HELD_BACK,
    EXIT_OK,
    JsonFlag,
    JsonOutOption,
    ShowPathsFlag,
    cli_errors,
    configure_logging,
    emit_json,
    json_target,
    stderr_console,
)
from deidkit.commands._progress import plain_progress
from deidkit.commands.profiles import print_profile_notes
from deidkit.core.errors import OutputPathError, UsageError
from deidkit.core.io import OutputKind, check_output_path
from deidkit.core.keys import KEY_ENV_VAR, generate_key_file, load_key
from deidkit.core.locations import Location
from deidkit.core.runreport import (
    STATUS_HELD_BACK,
    FileOutcome,
    action_log_path,
    run_report_path,
)
from deidkit.rules.profile import Profile, load_profile
from deidkit.scrub.pipeline import (
    RunOptions,
    ScrubSettings,
    ScrubSummary,
    scrub_tree,
)

SCRUB_HELP = (
    "De-identify a DICOM tree (PS3.15 Annex E) into a release folder.\n\n"
    "Walks INPUT and writes OUTPUT/<patient>/<study>/<series>/<instance>.dcm from new "
    "identifiers only. OUTPUT.run-report.json and OUTPUT.actions.jsonl go beside OUTPUT "
    "(they name input files, so they stay out of the release). Exit 0: all released; "
    "1: some files held back, INPUT holds no files, the linkage file does not open with the "
    "key or the release would not fit on the disk (all checked before anything is written); "
    "2: usage error; 70: internal error (a bug, or worker processes lost again and again). "
    "Re-running the same command resumes an interrupted run.\n\n"
    "Input paths often carry patient names: stdout and --json name a held-back or skipped "
    "file by number (its position in the walk, as in OUTPUT.run-report.json, which has the "
    "path); --show-paths prints the paths, for local debugging.\n\n"
    "Example: deidkit scrub export/ release/ --profile research --key-file project.key"
)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("scrubbing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console,
        transient=True,
        refresh_per_second=4,  # each redraw costs the parent CPU the workers could use
        disable=not stderr_console.is_terminal,  # it would only print a blank line
    )


def _scrub_with_progress(
    input_dir: Path | str, output: Path | str, *, settings: ScrubSettings, options: RunOptions
) -> ScrubSummary:
    """:func:`scrub_tree` with a bar on a terminal, plain progress lines in a log."""
    lines = plain_progress("scrub", flag="held back")
    with _progress_bar() as bar:
        task = bar.add_task("scrub", total=None)

        def total(count: int) -> None:  # from the checks' walk, before the first file
            bar.update(task, total=count)
            if lines is not None:
                lines.set_total(count)

        def advance(outcome: FileOutcome) -> None:
            bar.advance(task)
            if lines is not None:
                lines.advance(flagged=outcome.status == STATUS_HELD_BACK)

        return scrub_tree(
            input_dir, output, settings=settings, options=options, on_outcome=advance,
            on_total=total,
        )  # fmt: skip


def _print_summary(summary: ScrubSummary, *, dry_run: bool, show_paths: bool) -> None:
    counts = summary.counts
    verb = "would release" if dry_run else "released"
    typer.echo(f"{verb} {counts['released']} of {counts['found']} files to {summary.output}")
    if counts["unchanged"]:
        typer.echo(f"  {counts['unchanged']} already present from an earlier run (resumed)")
    # per-list reasons: the report's "reasons" mixes held-back and skipped files
    lists = (
        ("held back", counts["held_back"], summary.report.get("held_back", [])),
        ("skipped", counts["skipped"], summary.report.get("skipped", [])),
    )
    for label, count, entries in lists:
        if count:
            reasons = Counter(entry["reason"] for entry in entries)
            detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items()))
            typer.echo(f"{label} {count} files ({detail})")
            if show_paths:
                for entry in entries:
                    typer.echo(f"  #{entry.get('input', '?')} {entry['reason']}: {entry['source']}")
    cohort = summary.report.get("cohort_manifest")
    if isinstance(cohort, dict):
        parts = []
        for name, value in sorted(cohort.items()):
            if name == "file" or not value:
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{col} {n}" for col, n in sorted(value.items()))
            parts.append(f"{name}: {value}")
        details = "; ".join(parts)
        typer.echo(f"cohort manifest: {cohort.get('file')}" + (f" ({details})" if details else ""))
    if summary.run_report is not None:
        typer.echo(f"run report: {summary.run_report}")
        typer.echo(f"action log: {summary.action_log}")


def _check_outputs(
    out: Location,
    *,
    inputs: dict[str, Path | None],
    files: dict[str, Path | None],
    linkage: Path | None,
    force: bool,
) -> None:
    """Every path scrub writes, by the one rule of :func:`deidkit.core.io.check_output_path`.

    The report, cohort manifest and linkage hold identifiers or dates: never in OUTPUT (the
    release) nor in any other release. OUTPUT itself may exist: a re-run resumes into it.
    A URL OUTPUT (and the reports beside it) is checked by the scrub itself.
    """
    output = None if out.is_remote else out.local_path
    written: dict[str, Path | None] = {}
    if output is not None:
        check_output_path(output, option="OUTPUT", kind=OutputKind.TREE, inputs=inputs)
        written["OUTPUT's run report"] = run_report_path(output)
        written["OUTPUT's action log"] = action_log_path(output)
    written.update({"--linkage": linkage, **files})
    targets = [(option, path, OutputKind.FILE) for option, path in files.items()]
    targets.append(("--linkage", linkage, OutputKind.APPEND))
    for option, path, kind in targets:
        if path is None:
            continue
        check_output_path(
            path,
            option=option,
            kind=kind,
            inputs=inputs,
            releases={"OUTPUT": output},
            others={name: p for name, p in written.items() if name != option},
            sensitive=True,
            force=force,
        )


def _write_html_report(summary: ScrubSummary, path: Path) -> None:
    from deidkit.verify.report import render_release_report, scrub_release_summary

    sidecar = summary.run_report
    html = scrub_release_summary(
        summary.report,
        release=Path(summary.output),  # only its name is shown, a URL's too
        run_report_file=None if sidecar is None else Path(sidecar),
    )
    render_release_report(html, path)


def scrub(
    input_dir: Annotated[
        str,
        typer.Argument(
            metavar="INPUT", help="DICOM tree or file: a path or a URL (s3://, gs://, file://)."
        ),
    ],
    output: Annotated[
        str,
        typer.Argument(
            metavar="OUTPUT", help="Release folder to write: a path or a URL (s3://, gs://)."
        ),
    ],
    profile: Annotated[
        str, typer.Option("--profile", help="Shipped profile name or profile YAML file.")
    ] = "basic",
    recipe: Annotated[
        Path | None, typer.Option("--recipe", help="pydicom/deid recipe applied on top.")
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help=f"Project key file (else ${KEY_ENV_VAR}, else random)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: all).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read and scrub, write nothing.")
    ] = False,
    json_output: JsonFlag = False,
    json_out: JsonOutOption = None,
    show_paths: ShowPathsFlag = False,
    allow_burned_in: Annotated[
        bool,
        typer.Option("--allow-burned-in", help="Release files flagged for burned-in text."),
    ] = False,
    clean_pixels: Annotated[
        bool,
        typer.Option(
            "--clean-pixels",
            help="Read the pixels of files flagged for burned-in text (Tesseract), clean "
            "PHI found, re-check, release; hold back what is still legible.",
        ),
    ] = False,
    regions: Annotated[
        Path | None,
        typer.Option(
            "--regions",
            help="Known text regions cleaned with --clean-pixels (deidkit JSON, a deid "
            "recipe's %filter or a CTP DicomPixelAnonymizer script).",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write an HTML release report.")
    ] = None,
    linkage: Annotated[
        Path | None,
        typer.Option("--linkage", help="Append original->pseudonym pairs to this encrypted file."),
    ] = None,
    cohort_manifest: Annotated[
        Path | None,
        typer.Option("--cohort-manifest", help="Write a per-series cohort manifest CSV."),
    ] = None,
    min_cell_size: Annotated[
        int | None,
        typer.Option("--min-cell-size", min=1, help="k-anonymity on the cohort manifest."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace an existing --report, --cohort-manifest or --json-out file."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    executor: ExecutorOption = ExecutorKind.local,
    scheduler: SchedulerOption = None,
) -> None:
    configure_logging(verbose)
    target = json_target(as_json=json_output, json_out=json_out)
    with cli_errors(), contextlib.ExitStack() as stack:
        if min_cell_size is not None and cohort_manifest is None:
            raise OutputPathError("--min-cell-size needs --cohort-manifest")
        src = Location.parse(input_dir, option="INPUT")
        out = Location.parse(output, option="OUTPUT")
        inputs = {
            "INPUT": None if src.is_remote else src.local_path,
            "--key-file": key_file,
            "--recipe": recipe,
            "--regions": regions,
            "--profile": Path(profile) if Path(profile).is_file() else None,
        }
        _check_outputs(
            out,
            inputs=inputs,
            files={
                "--report": report,
                "--cohort-manifest": cohort_manifest,
                "--json-out": target.file,
            },
            linkage=linkage,
            force=force,
        )
        key = load_key(key_file)
        if key.ephemeral:
            stderr_console.print(
                f"[yellow]no key given (--key-file or ${KEY_ENV_VAR}): using a random key; "
                "the output is unlinkable and cannot be resumed[/]"
            )
        resolved = load_profile(profile, recipe=recipe)
        pixel_regions = _pixel_regions(clean_pixels=clean_pixels, regions=regions, recipe=recipe)
        if clean_pixels and recipe is not None:
            resolved = _filters_applied(resolved, recipe)
        print_profile_notes(resolved)
        settings = ScrubSettings(
            profile=resolved,
            key=key,
            allow_burned_in=allow_burned_in,
            recipe_name=recipe.name if recipe else None,
            clean_pixels=clean_pixels,
            pixel_regions=pixel_regions,
        )
        cluster = stack.enter_context(
            # memory:// is seen by threads of this process only
            cluster_for(executor, scheduler, workers=workers, processes=src.shared and out.shared)
        )
        options = RunOptions(
            workers=cluster.workers if cluster is not None else workers,
            cluster=cluster,
            dry_run=dry_run,
            linkage_path=linkage,
            cohort_manifest=cohort_manifest,
            min_cell_size=min_cell_size,
        )
        summary = _scrub_with_progress(input_dir, output, settings=settings, options=options)
        if report is not None:
            _write_html_report(summary, report)
        emit_json(target, summary.to_json(show_paths=show_paths), sort_keys=True)
    if target.text:
        _print_summary(summary, dry_run=dry_run, show_paths=show_paths)
    raise typer.Exit(summary.exit_code)


def _pixel_regions(
    *, clean_pixels: bool, regions: Path | None, recipe: Path | None
) -> tuple[Any, ...]:
    """The region rules of a --clean-pixels run: shipped, --regions, the recipe's %filter."""
    if regions is not None and not clean_pixels:
        raise UsageError("--regions needs --clean-pixels")
    if not clean_pixels:
        return ()
    from deidkit.pixels.regions import load_regions, parse_deid_filters, shipped_regions

    rules = shipped_regions()
    if regions is not None:
        rules += load_regions(regions)
    if recipe is not None:
        rules += parse_deid_filters(recipe.read_text(encoding="utf-8", errors="replace"))
    return tuple(rules)


def _filters_applied(resolved: Profile, recipe: Path) -> Profile:
    """With --clean-pixels a recipe's %filter boxes are cleaned: its note says so."""
    prefix = f"recipe {recipe.name}: pixel filter section(s)"
    notes = tuple(n for n in resolved.notes if not n.startswith(prefix))
    if notes == resolved.notes:
        return resolved
    applied = f"{prefix} applied as pixel regions (--clean-pixels)"
    return dataclasses.replace(resolved, notes=(*notes, applied))


def keygen(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Key file to create.")],
) -> None:
    """Write a new random project key (mode 0600); refuse to overwrite an existing file.

    Example: deidkit keygen project.key
    """
    with cli_errors():
        # Key material in a release would undo every pseudonym; a key is never replaced.
        check_output_path(file, option="FILE", sensitive=True, force_option=None)
        key = generate_key_file(file)
    typer.echo(f"wrote key {file} (fingerprint {key.fingerprint}); keep it secret, back it up")


def sample(
    outdir: Annotated[Path, typer.Argument(metavar="OUTDIR", help="Folder to write.")],
    patients: Annotated[int, typer.Option("--patients", min=1, help="Patients.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    broken: Annotated[
        bool, typer.Option("--broken/--no-broken", help="Include broken files.")
    ] = True,
) -> None:
    """Write a synthetic PACS export with planted (fake) PHI, for trying deidkit out.

    Example: deidkit sample sample-export/
    """
    from deidkit.demo.sample import generate_sample_corpus

    with cli_errors():
        # Its planted PHI must never land in a release; a re-run rewrites the same files.
        check_output_path(outdir, option="OUTDIR", kind=OutputKind.TREE, sensitive=True)
        corpus = generate_sample_corpus(outdir, n_patients=patients, seed=seed, broken=broken)
    typer.echo(f"wrote {len(corpus.files)} files to {outdir}")


def demo(
    outdir: Annotated[Path, typer.Argument(metavar="OUTDIR", help="Folder for the demo.")],
    workers: Annotated[int | None, typer.Option("--workers", min=1)] = None,
) -> None:
    """Generate a sample export, make a key, scrub it, and show where everything is.

    Example: deidkit demo demo-output/
    """
    from deidkit.demo.run import run_demo

    with cli_errors():
        check_output_path(outdir, option="OUTDIR", kind=OutputKind.TREE, sensitive=True)
        result = run_demo(outdir, workers=workers)
    counts = result.scrub.counts
    rows: list[tuple[str, Path | None]] = [
        ("sample PACS export (fake PHI)", result.input),
        ("project key", result.key_file),
        (f"release ({counts['released']} files)", result.release),
        ("run report", result.run_report),
        ("action log", result.action_log),
        ("cohort manifest", result.cohort_manifest),
    ]
    if result.verify_html is not None:
        rows += [
            (f"verification ({result.verify_verdict})", result.verify_json),
            ("HTML release report", result.verify_html),
        ]
    if result.deface is not None:
        rows += [
            ("head with a face (input)", result.deface.input),
            ("defaced head", result.deface.output),
            ("defacing QC pictures + JSON", result.deface.qc_dir),
        ]
    for label, path in rows:
        typer.echo(f"{label + ':':31s} {path}")
    typer.echo(
        f"held back {counts['held_back']} files on purpose (broken or burned-in samples); "
        "see the run report"
    )
    raise typer.Exit(EXIT_OK if result.succeeded else EXIT_HELD_BACK)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("scrub", help=SCRUB_HELP)(scrub)
    app.command("keygen")(keygen)
    app.command("sample")(sample)
    app.command("demo")(demo)
