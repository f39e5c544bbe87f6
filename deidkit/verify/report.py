"""The release report files: one self-contained HTML page for a governance officer, and
the JSON findings of a verification.

Used by ``deidkit verify --html/--json``, ``deidkit scrub --report`` and the demo. The page
is rendered from ``reports/release_report.html.j2`` with ``reports/assets/release.css``
inlined, so it opens offline, needs no JavaScript and can be archived as the paper trail of
a release. Findings carry file paths, tag paths and check names only, never a value read
from patient data. A report is never written inside the release it describes (it would
become part of it) nor inside the originals (:func:`deidkit.core.io.check_output_path`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import jinja2

from deidkit.core.io import atomic_write_text
from deidkit.core.resources import shipped_dir

TEMPLATE_NAME = "release_report.html.j2"
CSS_NAME = "assets/release.css"

#: Verdicts the report knows how to present, with a headline and a CSS class each.
VERDICTS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "clean": ("Clean: no residual PHI found", "ok"),
        "phi-found": ("PHI found: do not release", "bad"),
        "release-incomplete": ("Release incomplete or altered: do not release", "bad"),
        "incomplete": ("Incomplete: some files could not be checked", "warn"),
        "scrubbed": ("Scrubbed: not yet verified", "info"),
    }
)

#: Findings shown in the HTML table; the rest are counted (the JSON output has them all).
MAX_FINDINGS_SHOWN = 2000


@dataclass(frozen=True)
class ReleaseSummary:
    """Everything the release report shows; no field may hold a value read from patient data.

    Attributes
    ----------
    title : str
        Page heading, e.g. the release folder name.
    verdict : str
        One of :data:`VERDICTS`: "clean", "phi-found", "release-incomplete", "incomplete" or
        "scrubbed".
    counts_per_check : Mapping[str, int]
        Number of findings per check name (zero counts are shown too, as evidence of a check).
    per_modality : Sequence[Mapping[str, object]]
        Rows such as ``{"modality": "CT", "files": 12, "findings": 0}``.
    findings : Sequence[Mapping[str, object]]
        Rows with ``file``, ``tag_path``, ``check``, ``severity`` and optional ``keyword``,
        ``matched_attribute``, ``message``.
    profile_name, options, table_edition, tool_version : provenance of the run.
    key_fingerprint : str or None
        Public fingerprint of the project key, if one was used.
    created : str
        ISO 8601 timestamp of the report.
    extra : Mapping[str, object]
        Further label -> value facts (e.g. files checked, score), shown in a table.
    """

    title: str
    verdict: str
    counts_per_check: Mapping[str, int]
    per_modality: Sequence[Mapping[str, object]]
    findings: Sequence[Mapping[str, object]]
    profile_name: str
    options: Sequence[str]
    table_edition: str
    tool_version: str
    key_fingerprint: str | None
    created: str
    extra: Mapping[str, object] = field(default_factory=dict)


def _environment(template_dir: Path) -> jinja2.Environment:
    # Autoescape everything: titles and file names come from the user's file system.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_release_html(summary: ReleaseSummary, *, template_dir: Path | None = None) -> str:
    """Render the release report to an HTML string (CSS inlined, no external resources).

    Raises
    ------
    ValueError
        If ``summary.verdict`` is not one of :data:`VERDICTS`.
    """
    if summary.verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {summary.verdict!r}; expected one of {list(VERDICTS)}")
    folder = template_dir or shipped_dir("reports")
    css = (folder / CSS_NAME).read_text(encoding="utf-8")
    headline, verdict_class = VERDICTS[summary.verdict]
    findings = list(summary.findings)
    severities: dict[str, int] = {}
    for row in findings:
        sev = str(row.get("severity", ""))
        severities[sev] = severities.get(sev, 0) + 1
    template = _environment(folder).get_template(TEMPLATE_NAME)
    return template.render(
        s=summary,
        css=css,
        headline=headline,
        verdict_class=verdict_class,
        counts=sorted(summary.counts_per_check.items()),
        findings=findings[:MAX_FINDINGS_SHOWN],
        findings_hidden=max(0, len(findings) - MAX_FINDINGS_SHOWN),
        severities=sorted(severities.items()),
        extra=list(summary.extra.items()),
    )


def render_release_report(summary: ReleaseSummary, out: Path) -> None:
    """Render the release report and write it to ``out`` atomically.

    Parameters
    ----------
    summary
        The facts to show (never PHI values).
    out
        Target HTML file; its folder is created if needed.
    """
    atomic_write_text(out, render_release_html(summary))


def scrub_release_summary(
    run_report: Mapping[str, Any], *, release: Path, run_report_file: Path | None = None
) -> ReleaseSummary:
    """The release report of a scrub run (verdict "scrubbed"), from its run report.

    Input file names can carry PHI: the page names the reasons files were held back and
    counts them, never their paths.

    Parameters
    ----------
    run_report
        The run report (``<RELEASE>.run-report.json``, format ``deidkit-run-report/1``).
    release
        The release folder (only its name is shown).
    run_report_file
        Where the run report lies (only its name is shown).
    """
    held_back: Sequence[Mapping[str, Any]] = run_report.get("held_back", [])
    findings = [
        {
            "file": f"held-back file {i + 1} (see the run report)",
            "tag_path": "",
            "check": entry["reason"],
            "severity": "held-back",
        }
        for i, entry in enumerate(held_back)
    ]
    reasons: Mapping[str, int] = run_report.get("reasons", {})
    modalities: Mapping[str, int] = run_report["modalities"]
    return ReleaseSummary(
        title=f"Release {Path(release).name}",
        verdict="scrubbed",
        counts_per_check={f"held back: {k}": v for k, v in reasons.items()},
        per_modality=[{"modality": m, "files": n, "findings": 0} for m, n in modalities.items()],
        findings=findings,
        profile_name=run_report["profile"]["name"],
        options=run_report["profile"]["options"],
        table_edition=run_report["table_edition"],
        tool_version=run_report["tool"]["version"],
        key_fingerprint=run_report["key"]["fingerprint"],
        created=run_report["finished"],
        extra={
            "files found": run_report["counts"]["found"],
            "files released": run_report["counts"]["released"],
            "unlinkable (random per-run key)": run_report["unlinkable"],
            "run report": run_report_file.name if run_report_file else "",
        },
    )


class VerifyOutcome(Protocol):
    """What :func:`write_verify_reports` needs of a verification.

    :class:`deidkit.verify.release.VerifyResult` is one (a protocol, so that this module,
    which ``release`` imports, does not import it back).
    """

    def to_json(self, fail_on: str = "error") -> dict[str, Any]:
        """The findings and counts as JSON-ready data."""
        ...

    def summary(self, fail_on: str = "error") -> ReleaseSummary:
        """The facts the HTML release report shows."""
        ...


def write_verify_reports(
    result: VerifyOutcome,
    *,
    fail_on: str = "error",
    json_out: Path | None = None,
    html_out: Path | None = None,
    reproducible: bool = False,
) -> None:
    """Write a verification's JSON findings and HTML release report, each if asked for.

    ``json_out`` gets :meth:`VerifyOutcome.to_json` (indented, sorted keys), ``html_out``
    the page of :meth:`VerifyOutcome.summary`; both are written atomically.

    ``reproducible`` leaves the ``created`` timestamp out of the JSON, so that verifying the
    same release twice gives identical bytes (the demo). Check the locations first with
    :func:`deidkit.core.io.check_output_path`.
    """
    if json_out is not None:
        data = dict(result.to_json(fail_on))
        if reproducible:
            data.pop("created", None)
        atomic_write_text(json_out, json.dumps(data, indent=2, sort_keys=True) + "\n")
    if html_out is not None:
        render_release_report(result.summary(fail_on), html_out)
