"""Every command of both CLIs has help text and answers --help with exit 0."""

from __future__ import annotations

import typer
from typer.main import get_command
from typer.testing import CliRunner

from auditkit.cli import app as audit_app
from deidkit.cli import app as deid_app

runner = CliRunner()


def _command_paths(app: typer.Typer) -> list[list[str]]:
    root = get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: object, prefix: list[str]) -> None:
        sub = getattr(cmd, "commands", None)
        if not sub:
            paths.append(prefix)
            return
        for name, child in sub.items():
            walk(child, [*prefix, name])

    walk(root, [])
    return paths


def test_every_command_has_help() -> None:
    for app in (deid_app, audit_app):
        for path in _command_paths(app):
            result = runner.invoke(app, [*path, "--help"])
            assert result.exit_code == 0, (path, result.output)
            assert "Usage" in result.output


def test_version_flags() -> None:
    assert "deidkit" in runner.invoke(deid_app, ["--version"]).output
    assert "auditkit" in runner.invoke(audit_app, ["--version"]).output
