"""The HTML release report: self-contained, escaped, atomic, and it renders in Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from deidkit.verify import report as release_report
from deidkit.verify.report import (
    VERDICTS,
    ReleaseSummary,
    render_release_html,
    render_release_report,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _summary(verdict: str = "phi-found") -> ReleaseSummary:
    return ReleaseSummary(
        title="release-<2026>",
        verdict=verdict,
        counts_per_check={"person-name": 1, "uid": 0},
        per_modality=[{"modality": "CT", "files": 3, "errors": 1, "warnings": 0}],
        findings=[
            {
                "file": "P1/a.dcm",
                "tag_path": "(0010,0010)",
                "check": "person-name",
                "severity": "error",
                "keyword": "PatientName",
                "matched_attribute": "PatientName",
            }
        ],
        profile_name="research",
        options=["retain_safe_private", "clean_descriptors"],
        table_edition="2025b",
        tool_version="0.1.0",
        key_fingerprint="abcdef0123456789",
        created="2026-11-29T04:00:00+00:00",
        extra={"Files checked": 3},
    )


def test_report_shows_every_part_and_is_self_contained() -> None:
    page = render_release_html(_summary())
    for text in (
        "PHI found: do not release",
        "person-name",
        "(0010,0010)",
        "research",
        "retain_safe_private",
        "2025b",
        "0.1.0",
        "abcdef0123456789",
        "2026-11-29T04:00:00",
        "Files checked",
        "CT",
    ):
        assert text in page
    assert "release-&lt;2026&gt;" in page  # names from the file system are escaped
    assert "<style>" in page and ".verdict" in page  # CSS inlined
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_every_verdict_renders_and_unknown_is_refused() -> None:
    for verdict, (headline, _) in VERDICTS.items():
        assert headline in render_release_html(_summary(verdict))
    with pytest.raises(ValueError):
        render_release_html(_summary("maybe"))


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.html"
    render_release_report(_summary(), out)
    before = out.read_bytes()

    def boom(*_args: object, **_kw: object) -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(release_report, "render_release_html", boom)
    with pytest.raises(RuntimeError):
        render_release_report(_summary("clean"), out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_many_findings_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(release_report, "MAX_FINDINGS_SHOWN", 2)
    rows = [dict(_summary().findings[0], file=f"f{i}.dcm") for i in range(5)]
    page = render_release_html(replace(_summary(), findings=rows))
    assert "f1.dcm" in page and "f2.dcm" not in page and "3 more finding(s)" in page


def _screenshot(html: Path, png: Path) -> None:
    profile = html.parent / "chromium-profile"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        "--window-size=1280,1600",
        html.resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@pytest.mark.browser
@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() or shutil.which("chromium")),
    reason=f"headless chromium not found at {CHROMIUM}: browser rendering not checked",
)
def test_verdict_shows_in_headless_chromium(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2", reason="opencv needed to read the screenshot")
    html, png = tmp_path / "report.html", tmp_path / "report.png"
    render_release_report(_summary("phi-found"), html)
    _screenshot(html, png)
    image = cv2.imread(str(png))  # BGR
    assert image is not None and image.shape[1] == 1280
    # The verdict banner is the first big block under the title: its colour is the verdict.
    band = image[90:180, 100:1100].reshape(-1, 3)
    red = ((band[:, 2] > 150) & (band[:, 1] < 80) & (band[:, 0] < 80)).mean()
    assert red > 0.5
