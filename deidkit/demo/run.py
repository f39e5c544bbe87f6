"""The demo behind ``make demo``: sample export -> key -> scrub -> verify -> deface.

:func:`run_demo` is idempotent: re-running it over the same folder regenerates the same
sample bytes, reuses the demo key and resumes the release, so the result is identical.
Every output lies under ``outdir``; the reports that name input files lie beside the
release, never inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deidkit.core.keys import generate_key_file, load_key_file
from deidkit.core.optional import require_extra
from deidkit.demo.sample import SampleCorpus, generate_sample_corpus
from deidkit.rules.profile import load_profile
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, ScrubSummary, scrub_tree

DEMO_PROFILE = "research"
#: Planted (fake) identifying text in the demo head's NIfTI header, to show header scrubbing.
DEMO_HEAD_DESCRIP = b"DEMO^FAKEPATIENT 19700101"


@dataclass(frozen=True)
class DefaceDemo:
    """Where the defacing part of the demo put things."""

    input: Path
    output: Path
    qc_dir: Path
    counts: dict[str, int]


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put things."""

    outdir: Path
    input: Path
    release: Path
    key_file: Path
    corpus: SampleCorpus
    scrub: ScrubSummary
    cohort_manifest: Path | None = None
    verify_json: Path | None = None
    verify_html: Path | None = None
    verify_verdict: str | None = None
    deface: DefaceDemo | None = None

    @property
    def run_report(self) -> Path | None:
        """The run report beside the release."""
        return None if self.scrub.run_report is None else Path(self.scrub.run_report)  # local

    @property
    def action_log(self) -> Path | None:
        """The per-file action log beside the release."""
        return None if self.scrub.action_log is None else Path(self.scrub.action_log)  # local

    @property
    def succeeded(self) -> bool:
        """Whether the demo showed what it should: files released, release clean.

        A release not verified counts as clean. Files held back on purpose (the broken and
        burned-in samples) do not count against it.
        """
        clean = self.verify_verdict in (None, "clean")
        return bool(self.scrub.counts["released"]) and clean


def run_demo(
    outdir: Path,
    *,
    workers: int | None = None,
    profile: str = DEMO_PROFILE,
    verify: bool = True,
    deface: bool = True,
) -> DemoResult:
    """Generate the sample export, scrub it, verify the release and deface a sample head.

    Parameters
    ----------
    outdir
        Folder for ``input/`` (the synthetic PACS export), ``demo.key``, ``release/`` and
        the reports beside it, and ``heads/`` for the defacing demo.
    workers
        Worker processes (default: all cores).
    profile
        Profile name or file (default: the shipped research profile).
    verify
        Also verify the release against the originals and write JSON + HTML reports.
    deface
        Also deface a sample head (needs the ``deface`` extra).

    Raises
    ------
    MissingDependencyError
        ``deface`` without the ``deface`` extra, before anything is written.
    """
    if deface:
        require_extra("deface", feature="deidkit demo (its deface step)")
    outdir = Path(outdir)
    input_dir, release = outdir / "input", outdir / "release"
    corpus = generate_sample_corpus(input_dir)
    key_file = outdir / "demo.key"
    key = load_key_file(key_file) if key_file.exists() else generate_key_file(key_file)
    cohort = outdir / "cohort-manifest.csv"
    summary = scrub_tree(
        input_dir,
        release,
        settings=ScrubSettings(profile=load_profile(profile), key=key),
        options=RunOptions(workers=workers, cohort_manifest=cohort),
    )
    result = DemoResult(outdir, input_dir, release, key_file, corpus, summary, cohort)
    if verify:
        result = _verify(result, key_file=key_file, workers=workers)
    if deface:
        result = _deface(result, workers=workers)
    return result


def _verify(result: DemoResult, *, key_file: Path, workers: int | None) -> DemoResult:
    from dataclasses import replace

    from deidkit.verify.release import verify_release
    from deidkit.verify.report import write_verify_reports

    verified = verify_release(
        result.release, original=result.input, key=load_key_file(key_file), workers=workers
    )
    json_out = result.outdir / "verify.json"
    html_out = result.outdir / "release-report.html"
    # reproducible: no timestamp in the JSON, so re-runs stay byte-identical
    write_verify_reports(verified, json_out=json_out, html_out=html_out, reproducible=True)
    return replace(
        result, verify_json=json_out, verify_html=html_out, verify_verdict=verified.verdict()
    )


def write_sample_head(path: Path) -> Path:
    """Write a head with a face (pydeface's mean T1 head) with planted fake header text."""
    import nibabel as nib
    import numpy as np

    from deidkit.deface.templates import load_template

    template = load_template()
    img = nib.Nifti1Image(  # type: ignore[no-untyped-call]
        template.head.astype(np.float32), template.grid.affine
    )
    img.header["descrip"] = DEMO_HEAD_DESCRIP
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        nib.save(img, path)
    return path


def _deface(result: DemoResult, *, workers: int | None) -> DemoResult:
    from dataclasses import replace

    from deidkit.deface import DefaceOptions, run_batch

    heads_in = result.outdir / "heads" / "input"
    write_sample_head(heads_in / "sub-demo01_T1w.nii.gz")
    heads_out = result.outdir / "heads" / "defaced"
    qc_dir = result.outdir / "heads" / "qc"
    report = run_batch(
        heads_in, heads_out, DefaceOptions(qc_dir=qc_dir), workers=max(1, min(workers or 1, 2))
    )
    return replace(result, deface=DefaceDemo(heads_in, heads_out, qc_dir, counts=report.counts()))
