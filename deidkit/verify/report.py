"""The HTML release report: one self-contained page for a governance officer.

Used by ``deidkit verify --html`` and ``deidkit scrub --report``. The page is rendered from
``reports/release_report.html.j2`` with ``reports/assets/release.css`` inlined, so it opens
offline, needs no JavaScript and can be archived as the paper trail of a release.
Findings carry file paths, tag paths and check names only, never a value read from
patient data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

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
        One of :data:`VERDICTS`: "clean", "phi-found", "incomplete" or "scrubbed".
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
