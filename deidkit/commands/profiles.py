"""CLI commands: ``profiles list``, ``profiles show NAME`` and ``explain TAG``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from deidkit.commands._common import (
    JsonFlag,
    JsonOutOption,
    check_json_out,
    cli_errors,
    emit_json,
    json_target,
    stderr_console,
)
from deidkit.rules.profile import Profile, list_profiles, load_profile
from deidkit.rules.standard import TABLE_EDITION

ForceOpt = Annotated[bool, typer.Option("--force", help="Replace an existing --json-out file.")]

profiles_app = typer.Typer(
    help="List and inspect de-identification profiles.\n\nExample: deidkit profiles show research",
    no_args_is_help=True,
)


def print_profile_notes(profile: Profile) -> None:
    """Print a profile's notes (recipe parts not applied) on stderr, one line each."""
    for note in profile.notes:
        # escape: a recipe file name may contain rich markup brackets
        stderr_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


@profiles_app.command("list")
def list_command(
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: ForceOpt = False,
) -> None:
    """List the shipped profiles.

    Example: deidkit profiles list
    """
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        check_json_out(target, sensitive=False, force=force)
        names = list_profiles()
        emit_json(target, names, indent=None)
        if not target.text:
            return
        for name in names:
            typer.echo(f"{name}\t{load_profile(name).description}")


@profiles_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Shipped profile name or path to a YAML file.")],
    recipe: Annotated[
        Path | None,
        typer.Option("--recipe", help="pydicom/deid recipe folded in, as `scrub --recipe` does."),
    ] = None,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: ForceOpt = False,
) -> None:
    """Show a profile's resolved options and overrides.

    Recipe parts that are not applied (deid %filter sections) are listed on stderr.

    Example: deidkit profiles show research --recipe team.dicom --json
    """
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        inputs = {"NAME": Path(name) if Path(name).is_file() else None, "--recipe": recipe}
        check_json_out(target, inputs=inputs, sensitive=False, force=force)
        profile = load_profile(name, recipe=recipe)
        print_profile_notes(profile)
        data = profile.to_json()
        emit_json(target, data)
        if not target.text:
            return
        typer.echo(f"profile: {data['name']}  ({data['source']}, PS3.15 E.1-1 {TABLE_EDITION})")
        typer.echo(f"description: {data['description']}")
        typer.echo("options: Basic Profile" + "".join(f" + {o}" for o in data["options"]))
        typer.echo(f"patient name: {data['patient_name']}")
        low, high = data["date_shift_range"]
        typer.echo(f"date shift range (days): {low}..{high}")
        typer.echo(f"overrides: {len(data['overrides'])}")
        for tag, code in data["overrides"].items():
            typer.echo(f"  {tag} -> {code}")
        if data["vocabulary"]:
            typer.echo(f"vocabulary (never names): {len(data['vocabulary'])} word(s)")
        for kept in data["keep_private"]:
            typer.echo(f"keep private: ({kept['group']},xx{kept['element']}) {kept['creator']}")


def explain_command(
    tag: Annotated[str, typer.Argument(help='Tag as "(0010,0010)", "00100010" or a keyword.')],
    profile: Annotated[str, typer.Option("--profile", help="Profile name or YAML file.")] = "basic",
    sop_class: Annotated[
        str | None, typer.Option("--sop-class", help="SOP Class UID, to resolve mixed codes.")
    ] = None,
    creator: Annotated[
        str | None,
        typer.Option("--creator", help="Private Creator of a private tag (keep_private rules)."),
    ] = None,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: ForceOpt = False,
) -> None:
    """Explain which action a profile applies to a tag, and why.

    Example: deidkit explain InstitutionName --profile basic --sop-class 1.2.840.10008.5.1.4.1.1.2
    """
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        from deidkit.rules.explain import explain_tag  # pydicom: only for this command

        inputs = {"--profile": Path(profile) if Path(profile).is_file() else None}
        check_json_out(target, inputs=inputs, sensitive=False, force=force)
        result = explain_tag(tag, load_profile(profile), sop_class=sop_class, creator=creator)
        emit_json(target, result.as_dict())
        if not target.text:
            return
        typer.echo(f"{result.tag} {result.keyword} ({result.name})")
        typer.echo(f"  table E.1-1 {TABLE_EDITION}: basic {result.basic or '-'}")
        for option, code in result.option_codes.items():
            typer.echo(f"    option {option}: {code}")
        typer.echo(f"  applies: {result.code}  because {result.reason}")
        if result.resolved != result.code:
            typer.echo(f"  resolved: {result.resolved}  ({result.resolution})")
        typer.echo(f"  action: {result.resolved}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.add_typer(profiles_app, name="profiles")
    app.command("explain")(explain_command)
