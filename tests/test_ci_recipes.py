"""The CI recipes (issue 17, 7) are real files that validate and run.

``examples/ci/*.yml`` are what the README shows (byte for byte), they validate against the
published GitHub workflow / GitLab CI schemas that ``check-jsonschema`` ships (offline), every
``deidkit`` / ``auditkit`` line in them parses with the CLI's own parser, and the commands run in
order on a prepared tree as a runner would run them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GITHUB = ROOT / "examples" / "ci" / "github-release-gate.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-release-gate.yml"
RECIPES = {"github": GITHUB, "gitlab": GITLAB}
SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}

DISTRIBUTION = "deidkit-auditkit"
POLICY = "strict-predeployment"
# The first major of each action whose action.yml runs on Node 24 (`runs.using: node24`);
# upload-artifact v5 still declared node20.
NODE24_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/upload-artifact": 6,
    "mikepenz/action-junit-report": 6,
}
# The files the recipe's commands write, every one of them kept as an artifact.
OUTPUTS = {
    "verify.json",
    "release-report.html",
    "results.json",
    "audit-report.html",
    "gate.xml",
    "gate.md",
}
# Options another part of issue 17 adds (verify's --json PATH becomes --json-out PATH): a recipe
# line that uses one skips, rather than fails, while the CLI does not have it yet.
PENDING = {("deidkit", "verify", "--json-out")}


def _load(recipe: Path) -> Any:
    return yaml.safe_load(recipe.read_text(encoding="utf-8"))


def _github_steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _load(GITHUB)["jobs"]["gate"]["steps"]
    return steps


def _scripts(recipe: Path) -> list[str]:
    if recipe == GITHUB:
        return [step["run"] for step in _github_steps() if "run" in step]
    script: list[str] = _load(GITLAB)["release-gate"]["script"]
    return script


def _shell_lines(recipe: Path) -> list[str]:
    """Every shell command line, backslash continuations joined."""
    lines: list[str] = []
    for script in _scripts(recipe):
        lines.extend(line.strip() for line in script.replace("\\\n", " ").splitlines())
    return [line for line in lines if line]


def _cli_lines(recipe: Path) -> list[list[str]]:
    words = (shlex.split(line) for line in _shell_lines(recipe))
    return [argv for argv in words if argv[0] in ("deidkit", "auditkit")]


def _cli_cases() -> Iterator[Any]:
    for kind, recipe in RECIPES.items():
        for argv in _cli_lines(recipe):
            yield pytest.param(argv, id=f"{kind}-{argv[0]}-{argv[1]}")


# --- the README shows the files ------------------------------------------------------------


def test_readme_ci_recipes_are_the_files() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## CI recipes\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert blocks == [GITHUB.read_text(encoding="utf-8"), GITLAB.read_text(encoding="utf-8")]
    for recipe in RECIPES.values():
        assert f"(examples/ci/{recipe.name})" in section


# --- schemas -------------------------------------------------------------------------------


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    # The builtin schemas ship inside the package: no network, no cache. A proxy that leads
    # nowhere makes any download attempt fail instead of passing by luck.
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_recipe_validates_against_its_ci_schema(kind: str) -> None:
    done = _check_jsonschema(SCHEMAS[kind], RECIPES[kind])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("kind", "old", "new"),
    [
        ("github", "  checks: write", "  checks: maybe"),
        ("github", "    runs-on: ubuntu-latest", "    run-on: ubuntu-latest"),
        ("gitlab", "    when: always", "    when: sometimes"),
        ("gitlab", "  script:", "  scripts:"),
    ],
)
def test_the_schema_check_catches_a_broken_recipe(
    kind: str, old: str, new: str, tmp_path: Path
) -> None:
    text = RECIPES[kind].read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / RECIPES[kind].name
    broken.write_text(text.replace(old, new), encoding="utf-8")
    done = _check_jsonschema(SCHEMAS[kind], broken)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Schema validation errors" in done.stdout


# --- what the recipes must say -------------------------------------------------------------


def test_github_recipe_permissions_actions_summary_artifacts_junit() -> None:
    workflow = _load(GITHUB)
    assert workflow["permissions"] == {"contents": "read", "checks": "write"}
    steps = _github_steps()
    uses = [step["uses"] for step in steps if "uses" in step]
    assert sorted(u.split("@")[0] for u in uses) == sorted(NODE24_MAJORS)
    for action in uses:
        name, _, version = action.partition("@")
        assert re.fullmatch(r"v\d+", version), action
        assert int(version[1:]) >= NODE24_MAJORS[name], f"{action} runs on Node 20"
    by_action = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    upload = by_action["actions/upload-artifact"]
    assert upload["if"] == "always()"
    assert set(upload["with"]["path"].split()) == OUTPUTS
    junit = by_action["mikepenz/action-junit-report"]
    assert junit["with"]["report_paths"] == "gate.xml"
    assert "always()" in junit["if"]
    summary = [step for step in steps if "GITHUB_STEP_SUMMARY" in step.get("run", "")]
    assert [step["run"] for step in summary] == ['cat gate.md >> "$GITHUB_STEP_SUMMARY"']
    assert "always()" in summary[0]["if"]  # the summary matters most when the gate failed


def test_gitlab_recipe_artifacts_and_junit() -> None:
    job = _load(GITLAB)["release-gate"]
    assert job["artifacts"]["when"] == "always"
    assert set(job["artifacts"]["paths"]) == OUTPUTS
    assert job["artifacts"]["reports"] == {"junit": "gate.xml"}


@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_recipe_installs_the_torch_free_extra_and_uses_shipped_policy_by_name(kind: str) -> None:
    recipe = RECIPES[kind]
    text = recipe.read_text(encoding="utf-8")
    assert "profiles/" not in text and "torch" not in text
    lines = _shell_lines(recipe)
    assert {line.split()[0] for line in lines} <= {"pip", "deidkit", "auditkit", "cat"}
    assert [line for line in lines if line.startswith("pip")] == [
        f"pip install '{DISTRIBUTION}[eval]'"
    ]
    commands = [(argv[0], argv[1]) for argv in _cli_lines(recipe)]
    assert commands == [
        ("deidkit", "verify"),
        ("auditkit", "evaluate"),
        ("auditkit", "report"),
        ("auditkit", "gate"),
    ]
    verify, _, report, gate = _cli_lines(recipe)
    for argv in (report, gate):
        assert argv[argv.index("--policy") + 1] == POLICY
    for flag in ("--require-run-report", "--fail-on error", "--json-out verify.json"):
        assert flag in shlex.join(verify), flag


def test_both_recipes_run_the_same_commands() -> None:
    assert _cli_lines(GITHUB) == _cli_lines(GITLAB)


def test_the_policy_the_recipes_name_is_shipped() -> None:
    from auditkit.gate import list_policies

    assert POLICY in list_policies()


def test_the_distribution_and_extra_the_recipes_install_exist() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if project["name"] != DISTRIBUTION:
        pytest.skip(f"pyproject.toml names '{project['name']}' until the rename of issue 17 lands")
    extras = project["optional-dependencies"]
    assert "eval" in extras
    assert not any(re.match(r"(torch|monai)\b", dep) for dep in extras["eval"])


# --- every command line parses with the CLI's own parser -----------------------------------


def _command(argv: list[str]) -> tuple[Any, list[str]]:
    """The click command an argv reaches (through sub-command groups), and its own args.

    Typed Any and walked by attribute: Typer may use click or its own vendored copy.
    """
    if argv[0] == "deidkit":
        from deidkit.cli import app
    else:
        from auditkit.cli import app
    command: Any = typer.main.get_command(app)
    args = argv[1:]
    while getattr(command, "commands", None):
        sub = command.commands.get(args[0])
        assert sub is not None, f"{argv[0]} has no command '{args[0]}'"
        command, args = sub, args[1:]
    return command, args


def _parse_error(argv: list[str]) -> str | None:
    """What the CLI's parser says about argv, None when it accepts it (nothing runs)."""
    command, args = _command(argv)
    try:
        with command.make_context(f"{argv[0]} {argv[1]}", list(args)) as context:
            assert context.params
    except Exception as exc:  # click's UsageError, from click or Typer's copy of it
        if not hasattr(exc, "format_message"):
            raise
        return str(exc.format_message())
    return None


def _unknown_options(argv: list[str]) -> set[str]:
    command, args = _command(argv)
    known = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    used = {arg.split("=", 1)[0] for arg in args if arg.startswith("-")}
    return used - known


def _skip_if_pending(argv: list[str]) -> None:
    unknown = _unknown_options(argv)
    pending = {option for prog, name, option in PENDING if (prog, name) == (argv[0], argv[1])}
    if unknown and unknown <= pending:
        pytest.skip(f"{argv[0]} {argv[1]} has no {', '.join(sorted(unknown))} yet (issue 17)")


def _prepare_inputs(folder: Path) -> None:
    """What the recipes expect in the checkout: a scrubbed release and a predictions table."""
    import numpy as np
    import pandas as pd

    for argv in (
        ["sample", "export", "--patients", "1", "--no-broken"],
        ["scrub", "export", "release", "--workers", "1"],
    ):
        done = _run(["deidkit", *argv], folder)
        # scrub holds back the sample's burned-in kinds (exit 1); the release is still one.
        assert done.returncode in (0, 1), done.stderr[-2000:]
    assert (folder / "release.run-report.json").is_file()
    rng = np.random.default_rng(0)
    rows = 600
    label = rng.integers(0, 2, rows)
    pd.DataFrame(
        {
            "patient_id": [f"p{i // 2}" for i in range(rows)],
            "label": label,
            "score": np.clip(0.4 * label + 0.6 * rng.random(rows), 0.0, 1.0),
            "sex": rng.choice(["F", "M"], rows),
            "manufacturer": rng.choice(["GE", "Siemens"], rows),
            "site": rng.choice(["north", "south"], rows),
        }
    ).to_parquet(folder / "preds.parquet")


def _run(argv: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    # `python -m deidkit` is the console script's code; the recipes' runner has it on PATH.
    env = {k: v for k, v in os.environ.items() if k != "DEIDKIT_KEY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("argv", list(_cli_cases()))
def test_recipe_command_line_parses(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _skip_if_pending(argv)
    assert _unknown_options(argv) == set()
    # Parsing checks existing-file arguments too: parse where the inputs exist.
    for name in ("release", "preds.parquet", "results.json"):
        (tmp_path / name).touch()
    monkeypatch.chdir(tmp_path)
    assert _parse_error(argv) is None, shlex.join(argv)


def test_the_parse_check_catches_an_unknown_option() -> None:
    assert _unknown_options(["auditkit", "gate", "r.json", "--policy", POLICY, "--junt", "g"]) == {
        "--junt"
    }
    assert _parse_error(["auditkit", "gate", "r.json", "--policy"]) == (
        "Option '--policy' requires an argument."
    )
    assert _parse_error(["auditkit", "evaluate", "p.csv", "--task", "bin", "--out", "r.json"])


@pytest.mark.slow
def test_recipe_commands_run_in_order_on_a_prepared_tree(tmp_path: Path) -> None:
    lines = _cli_lines(GITLAB)
    for argv in lines:
        _skip_if_pending(argv)
    _prepare_inputs(tmp_path)
    allowed = {"verify": {0}, "evaluate": {0}, "report": {0}, "gate": {0, 1, 4}}
    for argv in lines:
        done = _run(argv, tmp_path)
        assert done.returncode in allowed[argv[1]], (shlex.join(argv), done.stderr[-2000:])
    assert {p.name for p in tmp_path.iterdir() if p.is_file()} >= OUTPUTS
    assert POLICY in (tmp_path / "gate.md").read_text(encoding="utf-8")
