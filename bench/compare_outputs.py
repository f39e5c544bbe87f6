"""Fingerprint what ``deidkit scrub`` writes, to prove a refactor left behaviour unchanged.

Runs the CLI (the contract that must not move) on two corpora nobody edits by hand: the
sample export (``deidkit sample``, fixed seed) and every DICOM file among pydicom's test
files, with both shipped profiles and 1 and 2 workers. Records the SHA-256 of every output
file (by its release-relative name) and of the action log, with run-specific lines (times,
versions, paths of this run) normalised away. Save a manifest before a change, another after,
and compare:

    .venv/bin/python bench/compare_outputs.py --out /tmp/before.json
    ... change the code ...
    .venv/bin/python bench/compare_outputs.py --out /tmp/after.json --against /tmp/before.json

Exits 1 when anything differs, naming the run and the release-relative file (never a value).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
PROFILES = ("basic", "research")
WORKERS = (1, 2)
# Lines of the action log and run report that legitimately change between runs.
VOLATILE = re.compile(
    rb'"(started|finished|seconds|elapsed|elapsed_seconds|duration|wall_s|files_per_s|host|pid|version|'
    rb'deidkit_version|input|output|input_dir|output_dir|key_id|when|time)"\s*:\s*'
    rb'("[^"]*"|[0-9.eE+-]+|null)'
)


def _pydicom_corpus(dest: Path) -> int:
    """Copy pydicom's DICOM test files (those it can read) into ``dest``; returns the count."""
    import pydicom
    from pydicom.data import get_testdata_files

    count = 0
    for i, name in enumerate(sorted(get_testdata_files("*"))):
        path = Path(name)
        if not path.is_file():
            continue
        try:
            pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM, or not readable: not this corpus
            continue
        shutil.copyfile(path, dest / f"f{i:04d}.dcm")
        count += 1
    return count


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fingerprint(release: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(release.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(release).as_posix()
        data = path.read_bytes()
        if path.suffix in {".jsonl", ".json", ".log", ".csv"}:
            data = VOLATILE.sub(rb'"\1": "*"', data)
        out[rel] = _digest(data)
    return out


def run_all(work: Path) -> dict[str, dict[str, str]]:
    corpora = work / "corpora"
    sample = corpora / "sample"
    subprocess.run(
        [str(BIN / "deidkit"), "sample", str(sample), "--patients", "6", "--seed", "7"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    testfiles = corpora / "pydicom"
    testfiles.mkdir(parents=True)
    print(f"pydicom test files: {_pydicom_corpus(testfiles)}", file=sys.stderr)
    # A fixed key: the two manifests being compared must be made with the same one.
    key = work / "project.key"
    key.write_text(hashlib.sha256(b"deidkit compare_outputs").hexdigest() * 2 + "\n")
    key.chmod(0o600)
    manifest: dict[str, dict[str, str]] = {}
    for corpus in (sample, testfiles):
        for profile in PROFILES:
            for workers in WORKERS:
                name = f"{corpus.name}-{profile}-w{workers}"
                release = work / "out" / name
                proc = subprocess.run(
                    [
                        str(BIN / "deidkit"), "scrub", str(corpus), str(release),
                        "--profile", profile, "--key-file", str(key),
                        "--workers", str(workers), "--json",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )
                print(f"{name}: exit {proc.returncode}", file=sys.stderr)
                fingerprint = _fingerprint(release) if release.exists() else {}
                # the action log and the run report are written beside the release
                for sibling in sorted(release.parent.glob(f"{release.name}.*")):
                    data = VOLATILE.sub(rb'"\1": "*"', sibling.read_bytes())
                    fingerprint[f"<{sibling.name[len(release.name):]}>"] = _digest(
                        data.replace(str(work).encode(), b"<work>")
                    )
                fingerprint["<exit>"] = str(proc.returncode)
                summary = VOLATILE.sub(rb'"\1": "*"', proc.stdout)
                summary = summary.replace(str(work).encode(), b"<work>")
                fingerprint["<summary>"] = _digest(summary)
                manifest[name] = fingerprint
    return manifest


def compare(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    problems: list[str] = []
    for run in sorted(set(before) | set(after)):
        b, a = before.get(run, {}), after.get(run, {})
        for rel in sorted(set(b) | set(a)):
            if b.get(rel) != a.get(rel):
                problems.append(f"{run}: {rel} differs")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="manifest JSON to write")
    parser.add_argument("--against", type=Path, help="earlier manifest to compare with")
    parser.add_argument("--keep", type=Path, help="keep the work folder here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="deidkit-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        manifest = run_all(work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    files = sum(len(v) for v in manifest.values())
    print(f"{len(manifest)} runs, {files} fingerprints -> {args.out}")
    if args.against is None:
        return 0
    problems = compare(json.loads(args.against.read_text()), manifest)
    for line in problems:
        print(line)
    print("identical" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
