"""CLI command: ``auditkit gate`` (judge RESULTS.json against a policy, for CI)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditkit.commands._common import (
    EXIT_FAIL,
    EXIT_INSUFFICIENT,
    EXIT_OK,
    JsonFlag,
    JsonOutOption,
    cli_errors,
    configure_logging,
    emit_json,
    json_target,
    stderr_console,
)
from auditkit.errors import OutputPathError
from deidkit.core.io import atomic_write_text, check_output_path

if TYPE_CHECKING:
    from auditkit.gate import GateResult


def exit_code_for(result: GateResult) -> int:
    """0 pass, 1 fail, 4 insufficient evidence the policy treats as failure."""
    from auditkit.gate import Verdict

    if result.verdict is Verdict.FAIL:
        return EXIT_FAIL
    if result.verdict is Verdict.INSUFFICIENT and result.insufficient_fails:
        return EXIT_INSUFFICIENT
    return EXIT_OK


def gate(
    results: Annotated[
        Path,
        typer.Argument(help="RESULTS.json written by `auditkit evaluate`.", show_default=False),
    ],
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="Shipped policy name (`auditkit policies list`) or a policy YAML file (a path "
            "with a '/' or a .yaml suffix).",
        ),
    ],
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Earlier RESULTS.json for change limits.")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML, one test case per check.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write a Markdown summary (PR comments).")
    ] = None,
    as_json: JsonFlag = False,
    json_out: JsonOutOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing --junit, --markdown or --json-out file."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Gate a model on a policy, deciding on confidence intervals.

    Exit codes: 0 pass, 1 fail, 4 insufficient evidence treated as failure, 2 usage.

    An input file that is missing, not UTF-8 text or not JSON / YAML is a usage error (2).

    Example: auditkit gate results.json --policy strict-predeployment --junit gate.xml
    --markdown gate.md
    """
    configure_logging(verbose)
    target = json_target(as_json=as_json, json_out=json_out)
    with cli_errors():
        # The gate library loads NumPy: imported here so `auditkit --help` does not pay for it.
        from auditkit.gate import (
            gate_from_files,
            gate_to_dict,
            markdown_summary,
            resolve_policy,
            text_summary,
            write_junit,
        )

        policy_file, _ = resolve_policy(policy)
        _check_outputs(
            {"--junit": junit, "--markdown": markdown, "--json-out": target.file},
            inputs={"RESULTS": results, "--policy": policy_file, "--baseline": baseline},
            force=force,
        )
        result = gate_from_files(results, policy, baseline=baseline)
        if junit is not None:
            write_junit(result, junit)
            stderr_console.print(f"JUnit XML: {junit}", highlight=False, markup=False)
        if markdown is not None:
            atomic_write_text(markdown, markdown_summary(result))
            stderr_console.print(f"Markdown summary: {markdown}", highlight=False, markup=False)
        emit_json(target, gate_to_dict(result))
    if target.text:
        typer.echo(text_summary(result), nl=False)
    raise typer.Exit(exit_code_for(result))


def _check_outputs(
    outputs: dict[str, Path | None], *, inputs: dict[str, Path | None], force: bool
) -> None:
    """Never over an input or each other, never in a release (:func:`check_output_path`)."""
    for option, path in outputs.items():
        if path is not None:
            check_output_path(
                path,
                option=option,
                inputs=inputs,
                others={name: p for name, p in outputs.items() if name != option},
                sensitive=True,
                force=force,
                error=OutputPathError,
            )


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("gate")(gate)
