"""The demo behind ``make demo``: sample export -> key -> scrub, with every path reported.

:func:`run_demo` is idempotent: re-running it over the same folder regenerates the same
sample bytes, reuses the demo key and resumes the release, so the result is identical.
Later stages (verify, deface, audit) extend :class:`DemoResult` rather than the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deidkit.keys import generate_key_file, load_key_file
from deidkit.pipeline import RunOptions, ScrubSettings, ScrubSummary, scrub_tree
from deidkit.profile import load_profile
from deidkit.sample import SampleCorpus, generate_sample_corpus

DEMO_PROFILE = "research"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put things."""

    outdir: Path
    input: Path
    release: Path
    key_file: Path
    corpus: SampleCorpus
    scrub: ScrubSummary

    @property
    def run_report(self) -> Path | None:
        """The run report beside the release."""
        return self.scrub.run_report

    @property
    def action_log(self) -> Path | None:
        """The per-file action log beside the release."""
        return self.scrub.action_log


def run_demo(
    outdir: Path, *, workers: int | None = None, profile: str = DEMO_PROFILE
) -> DemoResult:
    """Generate the sample export, make (or reuse) a key and scrub the export.

    Parameters
    ----------
    outdir
        Folder for ``input/`` (the synthetic PACS export), ``demo.key``, ``release/`` and
        the reports beside it.
    workers
        Worker processes for the scrub (default: all cores).
    profile
        Profile name or file (default: the shipped research profile).
    """
    outdir = Path(outdir)
    input_dir, release = outdir / "input", outdir / "release"
    corpus = generate_sample_corpus(input_dir)
    key_file = outdir / "demo.key"
    key = load_key_file(key_file) if key_file.exists() else generate_key_file(key_file)
    summary = scrub_tree(
        input_dir,
        release,
        settings=ScrubSettings(profile=load_profile(profile), key=key),
        options=RunOptions(workers=workers),
    )
    return DemoResult(outdir, input_dir, release, key_file, corpus, summary)
