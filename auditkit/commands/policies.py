"""CLI commands: ``auditkit policies list`` and ``auditkit policies show NAME``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from auditkit.commands._common import cli_errors

if TYPE_CHECKING:
    from auditkit.gate import Check, Policy

policies_app = typer.Typer(
    help="List and inspect gate policies (shipped ones are used by name: "
    "--policy strict-predeployment).\n\nExample: auditkit policies show strict-predeployment",
    no_args_is_help=True,
)

_LIMIT_SIGNS = {
    "min": ">=",
    "max": "<=",
    "max_drop": "drop <=",
    "max_rise": "rise <=",
    "max_drop_relative": "relative drop <=",
    "max_rise_relative": "relative rise <=",
}


@policies_app.command("list")
def list_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the names as a JSON list on stdout.")
    ] = False,
) -> None:
    """List the shipped policies: the names `--policy NAME` accepts.

    Example: auditkit policies list
    """
    with cli_errors():
        from auditkit.gate import list_policies, load_policy  # NumPy: not at CLI start-up

        names = list_policies()
        if as_json:
            typer.echo(json.dumps(names))
            return
        for name in names:
            typer.echo(f"{name}\t{_first_line(load_policy(name).description)}")


@policies_app.command("show")
def show_command(
    name: Annotated[
        str,
        typer.Argument(
            help="Shipped policy name, or a policy YAML file (a path with a '/' or a .yaml "
            "suffix).",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the validated policy as JSON on stdout.")
    ] = False,
) -> None:
    """Show a policy as the gate reads it: evidence rules and every check with its limit.

    Exit codes: 0 shown, 2 unknown name or an invalid policy file.

    Example: auditkit policies show strict-predeployment --json
    """
    with cli_errors():
        from auditkit.gate import load_policy, policy_to_dict  # NumPy: not at CLI start-up

        policy = load_policy(name)
    if as_json:
        typer.echo(json.dumps(policy_to_dict(policy), indent=2))
        return
    for line in _describe(policy):
        typer.echo(line)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _describe(policy: Policy) -> list[str]:
    evidence = policy.min_evidence
    lines = [
        f"policy: {policy.name}  ({policy.source})",
        f"description: {' '.join(policy.description.split())}",
        f"insufficient evidence: {policy.insufficient.value}",
        f"missing groups: {'check' if policy.check_missing_groups else 'skip'}",
        f"minimum evidence: {evidence.min_group_size} cases, {evidence.min_positives} "
        f"positives, {evidence.min_negatives} negatives",
        f"min cell size: {policy.min_cell_size}",
        f"attributes: {', '.join(policy.attributes) or '(all in the results)'}",
        f"checks: {len(policy.checks)}",
    ]
    lines.extend(_describe_check(check) for check in policy.checks)
    return lines


def _describe_check(check: Check) -> str:
    sign = _LIMIT_SIGNS[check.limit_kind.value]
    where = f" [{', '.join(check.attributes)}]" if check.attributes else ""
    return f"  {check.id}: {check.metric} {sign} {check.limit:g} ({check.scope.value}){where}"


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.add_typer(policies_app, name="policies")
