"""The HTML report: well-formed, self-contained, privacy-suppressed, deterministic."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from auditkit.cli import app
from auditkit.evaluate.audit import AuditResult
from auditkit.evaluate.predictions import load_predictions
from auditkit.gate.policy import parse_policy
from auditkit.report.html import build_report, report_from_files, suppress_small_counts
from deidkit.core.resources import shipped_dir

STRICT = shipped_dir("profiles") / "policies" / "strict-predeployment.yaml"
VOID = {"meta", "link", "br", "hr", "img", "input", "wbr", "col", "source", "area", "base"}
# SVG elements matplotlib writes self-closed; HTML parsing treats them as start+end.
SMALL_GROUP = 7  # a group below the default privacy threshold of 10


class TagBalance(HTMLParser):
    """Collects tag-balance errors and every resource reference."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.refs: list[str] = []
        self.counts: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        self.refs += [v or "" for k, v in attrs if k in {"src", "href", "xlink:href"}]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        self.refs += [v or "" for k, v in attrs if k in {"src", "href", "xlink:href"}]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()


def check_html(html: str) -> TagBalance:
    parser = TagBalance()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    return parser


def _predictions(path: Path, *, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    n = 900
    manufacturer = np.array(["GE"] * 420 + ["Siemens"] * 410 + ["Philips"] * 63 + ["Canon"] * 7)
    sex = rng.choice(["F", "M", ""], n, p=[0.48, 0.48, 0.04])
    label = rng.integers(0, 2, n)
    # planted: worse separation on Philips
    shift = np.where(manufacturer == "Philips", 0.08, 0.3)
    score = np.clip(rng.normal(0.35 + shift * label, 0.15), 0, 1).round(4)
    pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "label": label,
            "score": score,
            "manufacturer": manufacturer,
            "sex": sex,
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("report")
    predictions = _predictions(folder / "predictions.csv")
    table = load_predictions(
        predictions, task="binary", label="label", scores=("score",), groups=("manufacturer", "sex")
    )
    results = AuditResult(predictions=table, intersections=2, n_boot=100, seed=1).to_dict()
    results_path = folder / "results.json"
    results_path.write_text(json.dumps(results), encoding="utf-8")
    baseline = copy.deepcopy(results)
    for entry in baseline["groups"]:
        if entry["group"] == "GE":
            entry["metrics"]["auroc"]["value"] = 0.5
    baseline_path = folder / "baseline.json"
    baseline_path.write_text(json.dumps(baseline), encoding="utf-8")
    return {
        "folder": folder,
        "predictions": predictions,
        "results": results,
        "results_path": results_path,
        "baseline": baseline,
        "baseline_path": baseline_path,
    }


@pytest.fixture(scope="module")
def full_html(audit: dict[str, Any]) -> str:
    out = audit["folder"] / "report.html"
    args = [
        "report",
        str(audit["results_path"]),
        "--out",
        str(out),
        "--policy",
        str(STRICT),
        "--baseline",
        str(audit["baseline_path"]),
        "--predictions",
        str(audit["predictions"]),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_report_from_files_is_what_the_cli_writes(audit: dict[str, Any], full_html: str) -> None:
    html = report_from_files(
        audit["results_path"],
        policy=STRICT,
        baseline=audit["baseline_path"],
        predictions=audit["predictions"],
    )
    assert html == full_html


def test_html_is_well_formed_and_self_contained(full_html: str) -> None:
    parsed = check_html(full_html)
    assert full_html.startswith("<!DOCTYPE html>")
    # every reference is internal (SVG defs) or inline: nothing fetched from a network
    assert all(ref.startswith(("#", "data:")) for ref in parsed.refs), parsed.refs
    assert not re.search(r"""(src|href)=["']https?:""", full_html)
    assert "<link" not in full_html and "@import" not in full_html
    # plots: 2 attributes x (forest, ROC, reliability) + 1 intersection heat map
    assert parsed.counts.get("svg", 0) == 7
    for svg in re.findall(r"<svg.*?</svg>", full_html, flags=re.S):
        assert 'viewBox="' in svg and ("<path" in svg or "<use" in svg)
    assert parsed.counts.get("img", 0) == 0


def test_report_sections(full_html: str) -> None:
    for heading in (
        "Overall performance",
        "Gate checks",
        "By manufacturer",
        "By sex",
        "Intersections",
        "Disparities",
        "Insufficient evidence",
        "Change since the baseline",
        "Model, data and provenance",
    ):
        assert heading in full_html
    assert "verdict-fail" in full_html  # Philips sensitivity fails the strict policy
    assert "worst-group-sensitivity[manufacturer=Philips]" in full_html
    assert "ROC curves: manufacturer" in full_html
    assert "reliability diagrams: sex" in full_html


def test_small_groups_are_counts_suppressed(full_html: str) -> None:
    assert "counts suppressed (fewer than 10 cases)" in full_html
    assert "Canon  (n&lt;10, suppressed)" in full_html  # forest label
    # the count of the small group never appears, in tables, plots or warnings
    assert not re.search(rf"\bn={SMALL_GROUP}\b", full_html)
    assert f">{SMALL_GROUP}<" not in full_html


def test_baseline_change_listed_with_ci_and_only_judged_rows_highlighted(full_html: str) -> None:
    section = full_html.split('id="baseline"')[1].split("</section>")[0]
    judged, _, rest = section.partition("<details>")
    # GE's AUROC is judged by the strict policy's max_drop: coloured, with its CI and pill
    row = re.search(
        r'<tr class="row-(\w+) judged"><td>manufacturer</td><td>GE</td><td>AUROC</td>'
        r"<td[^>]*>0\.500</td>.*?</tr>",
        judged,
    )
    assert row is not None
    assert re.search(r"<td class=\"num\">[+-]\d\.\d{3} to [+-]\d\.\d{3}</td>", row.group(0))
    assert f"pill-{row.group(1)}" in row.group(0)
    # metrics no check judged are listed apart and never coloured
    assert "not judged" in rest and "<tr>" in rest and 'judged"' not in rest
    assert 'class="notable"' not in section


def test_worst_group_rows_are_levels_not_tests(full_html: str) -> None:
    section = full_html.split('id="disparities"')[1].split("</section>")[0]
    worst = re.search(
        r"<tr[^>]*><td>manufacturer</td><td>worst group auroc</td>.*?</tr>", section, flags=re.S
    )
    assert worst is not None
    assert "a level, not tested" in worst.group(0) and ">no<" not in worst.group(0)
    assert "worst: Philips" in worst.group(0)  # the worst group only, not every group
    assert "Philips, GE" not in worst.group(0)


def test_pairwise_view_is_a_labelled_second_view(full_html: str) -> None:
    assert "Second view: each group against a reference group" in full_html
    section = full_html.split('id="pairwise"')[1].split("</section>")[0]
    assert "<td>GE</td>" in section  # the largest manufacturer is the reference


def test_heat_maps_share_one_scale_per_metric(audit: dict[str, Any]) -> None:
    from auditkit.report.html import _heatmaps

    results = audit["results"]
    by_attribute: dict[str, list[Any]] = {}
    for entry in results["intersections"]:
        by_attribute.setdefault(entry["attribute"], []).append(entry)
    by_attribute["manufacturer | sex (copy)"] = by_attribute["manufacturer | sex"]
    second = copy.deepcopy(by_attribute["manufacturer | sex"])
    for entry in second:
        entry["metrics"]["tpr"]["value"] = 0.1  # far below: widens the shared scale
    by_attribute["sex | manufacturer"] = second
    maps = _heatmaps(by_attribute, 10)
    assert len(maps) == 3
    assert len({re.search(r"0\.0|0\.1", m["svg"]) is not None for m in maps}) == 1


def test_operating_points_rendered_per_threshold(audit: dict[str, Any]) -> None:
    table = load_predictions(
        audit["predictions"], task="binary", label="label", scores=("score",), groups=("sex",)
    )
    results = AuditResult(
        predictions=table, threshold=0.4, more_thresholds=(0.6,), n_boot=50, seed=1
    ).to_dict()
    html = build_report(results)
    check_html(html)
    assert "At threshold 0.600" in html
    section = html.split('id="threshold-1"')[1].split("</section>")[0]
    assert "Selection rate" in section or "selection rate" in section.lower()


def test_no_policy_banner_and_determinism(audit: dict[str, Any]) -> None:
    first = build_report(audit["results"])
    assert "No policy" in first and "verdict-none" in first
    assert "ROC curves and reliability diagrams need per-case scores" in first
    assert build_report(audit["results"]) == first
    check_html(first)


def test_policy_limit_line_and_warn_policy(audit: dict[str, Any]) -> None:
    policy = parse_policy(
        {
            "name": "lenient",
            "insufficient_evidence": "warn",
            "checks": [{"id": "auc", "metric": "auroc", "scope": "overall", "min": 0.5}],
        }
    )
    html = build_report(audit["results"], policy=policy)
    assert "verdict-pass" in html and "PASS" in html


def test_curves_from_results_fields(audit: dict[str, Any]) -> None:
    results = copy.deepcopy(audit["results"])
    for entry in results["groups"]:
        entry["roc"] = {"fpr": [0.0, 0.2, 1.0], "tpr": [0.0, 0.7, 1.0]}
    html = build_report(results)
    assert "ROC curves: manufacturer" in html and "ROC curves: sex" in html


def test_suppress_small_counts() -> None:
    text = "manufacturer = Canon: n=7 is below the minimum group size 30; other n=45"
    assert suppress_small_counts(text, 10) == (
        "manufacturer = Canon: n<10 is below the minimum group size 30; other n=45"
    )


def test_cli_refuses_to_overwrite_input(audit: dict[str, Any]) -> None:
    path = str(audit["results_path"])
    result = CliRunner().invoke(app, ["report", path, "--out", path])
    assert result.exit_code == 2
    assert json.loads(Path(path).read_text(encoding="utf-8"))["schema_version"]
