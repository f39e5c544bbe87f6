"""``auditkit evaluate`` through the CLI: outputs, exit codes, determinism, no values leaked."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from auditkit.cli import app
from auditkit.commands._common import EXIT_OK, EXIT_USAGE
from auditkit.results import load_results

runner = CliRunner()

BASE = [
    "--task",
    "binary",
    "--label",
    "label",
    "--score",
    "score",
    "--patient",
    "patient_id",
    "--group",
    "sex",
    "--group",
    "manufacturer",
    "--intersections",
    "2",
    "--bootstrap",
    "40",
    "--seed",
    "5",
]


def test_writes_valid_results_and_summary(binary_csv, tmp_path):
    out = tmp_path / "RESULTS.json"
    result = runner.invoke(app, ["evaluate", str(binary_csv), *BASE, "--out", str(out)])
    assert result.exit_code == EXIT_OK, result.output
    doc = load_results(out)
    assert {k: doc["bootstrap"][k] for k in ("n_boot", "seed", "unit", "ci_level", "method")} == {
        "n_boot": 40,
        "seed": 5,
        "unit": "patient",
        "ci_level": 0.95,
        "method": "percentile",
    }
    assert doc["bootstrap"]["adjustment"] == "holm"
    assert "ece" in doc["bootstrap"]["bca_metrics"]
    assert doc["provenance"]["group_columns"] == ["sex", "manufacturer"]
    assert len(doc["provenance"]["predictions_sha256"]) == 64
    assert "wrote" in result.stdout


def test_json_output_and_byte_identical_reruns(binary_csv, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    run = runner.invoke(app, ["evaluate", str(binary_csv), *BASE, "--out", str(first), "--json"])
    assert run.exit_code == EXIT_OK
    assert json.loads(run.stdout)["schema_version"] == "1.0"
    runner.invoke(app, ["evaluate", str(binary_csv), *BASE, "--out", str(second)])
    assert first.read_bytes() == second.read_bytes()


def test_threshold_from_and_multiclass_prefix(tmp_path):
    path = tmp_path / "mc.csv"
    rows = ["label,score_a,score_b,site"]
    for i in range(80):
        a = 0.2 + 0.6 * (i % 2)
        rows.append(f"{'ab'[i % 2]},{a:.2f},{1 - a:.2f},{'XY'[i % 3 == 0]}")
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "r.json"
    args = ["evaluate", str(path), "--task", "multiclass", "--score", "score_", "--group", "site"]
    result = runner.invoke(app, [*args, "--bootstrap", "10", "--out", str(out)])
    assert result.exit_code == EXIT_OK, result.output
    assert load_results(out)["classes"] == ["a", "b"]


def test_missing_column_exits_2_naming_column(binary_csv, tmp_path):
    out = tmp_path / "r.json"
    args = ["evaluate", str(binary_csv), "--group", "ethnicity", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_USAGE
    assert "ethnicity" in result.output
    assert not out.exists()


def test_bad_value_exits_2_without_the_value(binary_frame, tmp_path):
    frame = binary_frame.copy()
    frame.loc[5, "score"] = "PATIENT-CANARY-42"
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(
        app, ["evaluate", str(path), "--group", "sex", "--out", str(tmp_path / "r.json")]
    )
    assert result.exit_code == EXIT_USAGE
    assert "'score'" in result.output and "CANARY" not in result.output


def test_bad_threshold_rule_and_output_over_input(binary_csv, tmp_path):
    bad = runner.invoke(
        app,
        ["evaluate", str(binary_csv), "--threshold-from", "magic", "--out", str(tmp_path / "r")],
    )
    assert bad.exit_code == EXIT_USAGE and "youden" in bad.output
    before = binary_csv.read_bytes()
    same = runner.invoke(app, ["evaluate", str(binary_csv), "--out", str(binary_csv)])
    assert same.exit_code == EXIT_USAGE
    assert binary_csv.read_bytes() == before


def test_help_has_example():
    result = runner.invoke(app, ["evaluate", "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "--intersections" in result.output


def test_out_of_range_numbers_name_the_flag(binary_csv, tmp_path):
    # QA: --min-group-size 0 / --bootstrap -1 exited 2 with a message naming internal
    # parameters (n_boot, ci_level) instead of the flag.
    for flag, value in [("--min-group-size", "0"), ("--bootstrap", "-1"), ("--intersections", "0")]:
        out = tmp_path / "r.json"
        result = runner.invoke(app, ["evaluate", str(binary_csv), flag, value, "--out", str(out)])
        assert result.exit_code == EXIT_USAGE, result.output
        assert flag in result.output and "n_boot" not in result.output
        assert not out.exists()


def test_repeated_threshold_gives_operating_points_gated_per_threshold(binary_csv, tmp_path):
    out = tmp_path / "RESULTS.json"
    args = ["evaluate", str(binary_csv), *BASE, "--out", str(out)]
    run = runner.invoke(app, [*args, "--threshold", "0.4", "--threshold", "0.6"])
    assert run.exit_code == EXIT_OK, run.output
    doc = load_results(out)
    # The first threshold keeps the single-threshold keys; the others are operating points.
    assert doc["threshold"]["value"] == 0.4
    assert [p["threshold"]["value"] for p in doc["operating_points"]] == [0.6]
    point = doc["operating_points"][0]
    assert point["overall"]["metrics"]["tpr"]["value"] <= doc["overall"]["metrics"]["tpr"]["value"]
    assert point["overall"]["metrics"]["auroc"] == doc["overall"]["metrics"]["auroc"]
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: t\ninsufficient_evidence: warn\nchecks:\n"
        "  - {id: sens, metric: tpr, min: 0.0, attributes: [sex]}\n"
        "  - {id: disc, metric: auroc, min: 0.0, scope: overall}\n",
        encoding="utf-8",
    )
    gated = runner.invoke(app, ["gate", str(out), "--policy", str(policy), "--json"])
    names = [c["name"] for c in json.loads(gated.stdout)["checks"]]
    assert any(n.startswith("sens[sex=") for n in names)
    assert any(n.startswith("sens@t=0.600[sex=") for n in names)
    assert not any(n.startswith("disc@") for n in names)  # AUROC does not depend on it
    single = tmp_path / "single.json"
    runner.invoke(app, ["evaluate", str(binary_csv), *BASE, "--out", str(single)])
    assert "operating_points" not in load_results(single)


def test_adjust_and_reference_group_options(binary_csv, tmp_path):
    out = tmp_path / "RESULTS.json"
    args = ["evaluate", str(binary_csv), *BASE, "--out", str(out), "--adjust", "bh"]
    run = runner.invoke(app, [*args, "--reference-group", "sex=F"])
    assert run.exit_code == EXIT_OK, run.output
    doc = load_results(out)
    assert doc["bootstrap"]["adjustment"] == "bh"
    assert {p["reference"] for p in doc["pairwise"] if p["attribute"] == "sex"} == {"F"}
    bad = runner.invoke(app, [*args, "--force", "--reference-group", "sex"])
    assert bad.exit_code == EXIT_USAGE
    wrong = runner.invoke(app, [*args, "--force", "--adjust", "bonferroni"])
    assert wrong.exit_code == EXIT_USAGE
