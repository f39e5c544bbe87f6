"""Conformance of a release, deidkit (both profiles) against dicognito (a script, not a test).

On the corpus of ``tests/deidkit/scrub/test_conformance.py`` (pydicom's, nibabel's and
deid-data's test files, a sample export, highdicom SEG / label-map SEG / SR objects), prints
per tool: files released, ``dciodvfy -new`` errors in outputs that their inputs did not
have (messages with values, UIDs and item indices masked; deflated inputs left out, as
dciodvfy cannot read them), and references between released instances: how many the
inputs hold, how many resolve in the release, how many went with a removed sequence.

    .venv/bin/python bench/conformance.py                  # sample export of 4 patients
    .venv/bin/python bench/conformance.py --patients 2 --keep /tmp/conformance

dicognito runs as a library with one Anonymizer for the whole corpus (its CLI's own loop,
same consistent UID mapping), so each output is paired with its input; like its CLI, it
skips what pydicom cannot read and stops nowhere else (a file it fails on is not released).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "deidkit"))
import conformance_support as cs  # noqa: E402

PROFILES = ("basic", "research")
DEFLATED = "1.2.840.10008.1.2.1.99"


@dataclass
class Row:
    tool: str
    found: int
    released: int
    compared: int
    errors_introduced: int
    files_with_new_errors: int
    refs_expected: int
    refs_resolved: int
    refs_removed: int
    seconds: float


def _deidkit(corpus: Path, out: Path, profile: str) -> list[tuple[Path, Path]]:
    env = {**os.environ, "DEIDKIT_KEY": "cd" * 32}
    command = [sys.executable, "-m", "deidkit", "scrub", str(corpus), str(out),
               "--profile", profile, "--allow-burned-in", "--json"]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if run.returncode not in (0, 1):
        raise SystemExit(f"deidkit scrub failed ({run.returncode}): {run.stderr[-500:]}")
    return cs.released_pairs(corpus, out)


def _dicognito(corpus: Path, out: Path) -> list[tuple[Path, Path]]:
    from dicognito.anonymizer import Anonymizer

    anonymizer = Anonymizer(seed="deidkit-bench")
    out.mkdir(parents=True)
    pairs = []
    for index, source in enumerate(sorted(p for p in corpus.rglob("*") if p.is_file())):
        target = out / f"{index:04d}.dcm"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(source, force=False)
                anonymizer.anonymize(ds)
                ds.save_as(target, enforce_file_format=True)
        except Exception:  # noqa: BLE001 - a file it cannot handle is a file not released
            target.unlink(missing_ok=True)
            continue
        pairs.append((source, target))
    return pairs


def _syntax(path: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta = pydicom.dcmread(path, stop_before_pixels=True, force=True).file_meta
    return str(meta.get("TransferSyntaxUID", ""))


def _measure(tool: str, found: int, pairs: list[tuple[Path, Path]], seconds: float) -> Row:
    compared = [(s, o) for s, o in pairs if _syntax(s) != DEFLATED]
    errors = cs.errors_of([p for pair in compared for p in pair])
    introduced = cs.introduced_errors(compared, errors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refs = cs.check_references(pairs)
    return Row(
        tool=tool,
        found=found,
        released=len(pairs),
        compared=len(compared),
        errors_introduced=sum(len(v) for v in introduced.values()),
        files_with_new_errors=len(introduced),
        refs_expected=refs.expected + sum(refs.removed.values()),
        refs_resolved=refs.resolved,
        refs_removed=sum(refs.removed.values()),
        seconds=seconds,
    )


def _print(rows: list[Row]) -> None:
    head = ("tool", "found", "released", "compared", "new errors", "files", "refs in",
            "resolve", "removed", "%", "s")  # fmt: skip
    print(" ".join(f"{h:>10s}" if i else f"{h:<18s}" for i, h in enumerate(head)))
    for r in rows:
        share = 100.0 * r.refs_resolved / r.refs_expected if r.refs_expected else 100.0
        cells = (r.found, r.released, r.compared, r.errors_introduced, r.files_with_new_errors,
                 r.refs_expected, r.refs_resolved, r.refs_removed)  # fmt: skip
        print(f"{r.tool:<18s} " + " ".join(f"{c:>10d}" for c in cells)
              + f" {share:>10.1f} {r.seconds:>10.1f}")  # fmt: skip
    print(
        "\nnew errors: dciodvfy -new errors of an output its input did not have (values masked);"
        "\nrefs in: references the inputs hold to instances, series, studies or frames of"
        " reference that the tool released;\nresolve: of those, how many point at the"
        " target's new UID in the release; removed: gone with a sequence the tool removed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=4, help="patients in the sample export")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()
    if cs.DCIODVFY is None:
        raise SystemExit("dciodvfy not found: install Debian's dicom3tools (.ci/sysdeps.sh)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="deidkit-conformance-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    from deidkit.demo.sample import generate_sample_corpus

    sample = generate_sample_corpus(work / "sample-export", n_patients=args.patients)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counts = cs.build_corpus(work / "corpus", sample=sample.root)
    corpus = work / "corpus"
    found = sum(counts.values())
    print(f"corpus: {found} DICOM files ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    rows = []
    for profile in PROFILES:
        clock = time.perf_counter()
        pairs = _deidkit(corpus, work / f"deidkit-{profile}", profile)
        rows.append(_measure(f"deidkit {profile}", found, pairs, time.perf_counter() - clock))
    clock = time.perf_counter()
    pairs = _dicognito(corpus, work / "dicognito")
    rows.append(_measure("dicognito", found, pairs, time.perf_counter() - clock))
    _print(rows)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
