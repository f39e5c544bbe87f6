"""Benchmark ``deidkit scrub`` side by side with the anchors (a script, not a test).

Generates a synthetic export (CT, MR with RLE, CR/DX, US with JPEG, SEG/RTSTRUCT, SR;
default ~2,000 files / ~600 MB) and runs, interleaved and repeated, in fresh output folders:
``cp -r``, a plain pydicom dcmread + save_as loop with 1 and 2 processes, dicognito,
pydicom/deid with its default recipe, Kitware dicom-anonymizer, gdcmanon (if installed) and
deidkit with 1 and 2 workers. Prints files/s, MB/s, peak RSS of the whole process tree
(sampled with psutil) and ratios.

    .venv/bin/python bench/scrub.py                 # full size
    .venv/bin/python bench/scrub.py --files 300 --repeats 1 --skip deid
    # also time another checkout's deidkit in the same interleaved run (before/after a change):
    git worktree add /tmp/base <commit>
    .venv/bin/python bench/scrub.py --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import compileall
import io
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

PY = sys.executable
BIN = Path(PY).parent
FILES_PER_PATIENT_FIXED = 3.5  # derived object + SR + CR/DX + US on every other patient


@dataclass
class Result:
    tool: str
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    files_out: int
    returncode: int


def _sample_tree(proc: psutil.Process, cpu: dict[int, float]) -> int:
    """RSS of the process tree now; records each process's latest CPU time in ``cpu``."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            with p.oneshot():
                total += p.memory_info().rss
                times = p.cpu_times()
                cpu[p.pid] = times.user + times.system  # own time only: no double counting
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list[str], *, cwd: Path | None = None) -> tuple[float, float, float, int]:
    """Run ``cmd``; return wall seconds, CPU seconds (user + sys of the whole tree), peak
    RSS of its process tree in MB (both sampled every 20 ms) and the return code.

    CPU time is the contention-robust number on a busy machine; wall time is what a user
    waits for. Sampling sees every worker, including a forkserver's grandchildren that
    ``wait4`` of the top process would miss.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    peak = 0
    cpu: dict[int, float] = {}
    while True:
        pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _sample_tree(ps, cpu))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Each process's own CPU time at its last sample (a process loses at most 20 ms).
    return wall, sum(cpu.values()), peak / 2**20, proc.returncode


def count_files(root: Path) -> int:
    return sum(len(files) for _d, _s, files in os.walk(root))


def corpus_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# -- the plain pydicom loop (run in a subprocess through this script) -------------------------


def _copy_one(args: tuple[str, str]) -> None:
    import pydicom

    src, dst = args
    ds = pydicom.dcmread(src)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_bytes(buffer.getvalue())


def pydicom_loop(src: Path, dst: Path, procs: int) -> None:
    tasks = [(str(p), str(dst / p.relative_to(src))) for p in sorted(src.rglob("*")) if p.is_file()]
    if procs == 1:
        for task in tasks:
            _copy_one(task)
        return
    with ProcessPoolExecutor(procs) as pool:
        list(pool.map(_copy_one, tasks, chunksize=16))


DEID_SNIPPET = """
import sys
from deid.dicom import get_files, replace_identifiers
files = sorted(get_files(sys.argv[1]))
replace_identifiers(dicom_files=files, save=True, output_folder=sys.argv[2], overwrite=True)
"""


def tool_commands(
    src: Path, flat: Path, out: Path, key: Path, baseline: Path | None = None
) -> dict[str, list[str]]:
    me = str(Path(__file__).resolve())
    commands = {
        "cp -r": ["cp", "-r", str(src), str(out)],
        "pydicom loop x1": [PY, me, "--loop", str(src), str(out), "--procs", "1"],
        "pydicom loop x2": [PY, me, "--loop", str(src), str(out), "--procs", "2"],
        "dicognito": [PY, "-m", "dicognito", "--output-directory", str(out), "--quiet",
                      "--assume-burned-in-annotation", "never", str(src)],  # fmt: skip
        "deid (default recipe)": [PY, "-c", DEID_SNIPPET, str(src), str(out)],
        # dicom-anonymizer does not recurse into nested trees: give it a flat hard-link copy.
        "dicom-anonymizer": [str(BIN / "dicom-anonymizer"), str(flat), str(out)],
        "deidkit x1": [str(BIN / "deidkit"), "scrub", str(src), str(out), "--workers", "1",
                       "--key-file", str(key), "--allow-burned-in", "--profile", "basic"],
        "deidkit x2": [str(BIN / "deidkit"), "scrub", str(src), str(out), "--workers", "2",
                       "--key-file", str(key), "--allow-burned-in", "--profile", "basic"],
    }  # fmt: skip
    if baseline is not None:
        # the same console script, importing deidkit from the baseline checkout (PYTHONPATH
        # comes before the editable install's path entry; workers inherit it)
        for n in (1, 2):
            commands[f"deidkit-base x{n}"] = [
                "env", f"PYTHONPATH={baseline}", *commands[f"deidkit x{n}"]
            ]
    gdcmanon = shutil.which("gdcmanon")
    if gdcmanon:
        commands["gdcmanon"] = [gdcmanon, "--dumb", "--remove", "0010,0010", "--continue",
                                "--recursive", "-i", str(src), "-o", str(out)]  # fmt: skip
    return commands


def make_corpus(root: Path, n_files: int, image_size: int) -> Path:
    from deidkit.demo.sample import generate_sample_corpus

    per_series = 10 if n_files >= 500 else 4
    patients = max(1, math.ceil(n_files / (2 * per_series + FILES_PER_PATIENT_FIXED)))
    src = root / "export"
    generate_sample_corpus(
        src,
        n_patients=patients,
        instances_per_series=per_series,
        image_size=image_size,
        broken=False,
        us_jpeg=True,
    )
    return src


def compile_deidkit() -> None:
    """Byte-compile deidkit as ``pip install`` does for the anchors' own packages.

    An editable install never writes ``__pycache__`` when PYTHONDONTWRITEBYTECODE is set (it
    is on these machines), so every deidkit run would compile its own modules from source,
    twice (the CLI and the worker server): about 0.1 s that no installed tool pays.
    """
    import deidkit

    compileall.compile_dir(Path(deidkit.__file__).parent, quiet=1)


def flat_copy(src: Path, flat: Path) -> None:
    flat.mkdir()
    for i, path in enumerate(sorted(p for p in src.rglob("*") if p.is_file())):
        os.link(path, flat / f"{i:06d}.dcm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="approximate corpus size")
    parser.add_argument("--image-size", type=int, default=416, help="rows = columns")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--skip", nargs="*", default=[], help="tools to skip: full name or first word (deid)"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--baseline", type=Path, default=None, help="another deidkit checkout to time alongside"
    )
    parser.add_argument("--loop", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    parser.add_argument("--procs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop:
        pydicom_loop(Path(args.loop[0]), Path(args.loop[1]), args.procs)
        return 0

    work = Path(args.workdir or tempfile.mkdtemp(prefix="deidkit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"generating corpus in {work} ...", file=sys.stderr)
    src = make_corpus(work, args.files, args.image_size)
    flat = work / "flat"
    if not flat.exists():
        flat_copy(src, flat)
    key = work / "bench.key"
    if not key.exists():
        subprocess.run([str(BIN / "deidkit"), "keygen", str(key)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    n_files, n_bytes = count_files(src), corpus_size(src)
    compile_deidkit()
    if args.baseline is not None:
        compileall.compile_dir(args.baseline / "deidkit", quiet=1)
    print(f"corpus: {n_files} files, {n_bytes / 2**20:.0f} MB", file=sys.stderr)

    results: dict[str, list[Result]] = {}
    for repeat in range(args.repeats):
        out = work / "out"
        for tool, cmd in tool_commands(src, flat, out, key, args.baseline).items():
            if any(tool == s or tool.split()[0] == s for s in args.skip):
                continue
            shutil.rmtree(out, ignore_errors=True)
            for extra in work.glob("out.*"):
                extra.unlink()
            if tool.startswith(("deid ", "dicom-anonymizer")):
                out.mkdir()  # these two refuse a missing output folder
            # from the work folder: a forkserver started with -c puts the cwd first on sys.path
            seconds, cpu, rss, rc = run_measured(cmd, cwd=work)
            produced = count_files(out) if out.exists() else 0
            results.setdefault(tool, []).append(Result(tool, seconds, cpu, rss, produced, rc))
            print(f"[{repeat + 1}/{args.repeats}] {tool:24s} {seconds:7.2f}s  "
                  f"{n_files / seconds:7.1f} files/s  cpu {1000 * cpu / n_files:6.1f} ms/file  "
                  f"rss {rss:6.0f} MB  out {produced} rc {rc}", file=sys.stderr)  # fmt: skip
    shutil.rmtree(work / "out", ignore_errors=True)
    _print_table(results, n_files, n_bytes)
    return 0


def _print_table(results: dict[str, list[Result]], n_files: int, n_bytes: int) -> None:
    def rate(tool: str) -> float:
        runs = results.get(tool)
        return n_files / statistics.median(r.seconds for r in runs) if runs else float("nan")

    ref_dicognito, ref_loop2 = rate("dicognito"), rate("pydicom loop x2")
    print(f"\ncorpus: {n_files} files, {n_bytes / 2**20:.0f} MB; median of repeats; "
          "peak RSS = max over repeats of the whole process tree")  # fmt: skip
    columns = ("files/s", "MB/s", "CPU ms/file", "peak RSS MB", "x dicognito", "x loop x2")
    header = f"{'tool':24s} " + " ".join(f"{c:>12s}" for c in (*columns, "files out"))
    print(header)
    print("-" * len(header))
    fmt: Callable[[float], str] = lambda v: "n/a" if math.isnan(v) else f"{v:.2f}"  # noqa: E731
    for tool, runs in results.items():
        files_s = rate(tool)
        mb_s = files_s * n_bytes / n_files / 2**20
        peak = max(r.peak_rss_mb for r in runs)
        cpu_ms = 1000 * statistics.median(r.cpu_seconds for r in runs) / n_files
        out = runs[-1].files_out
        ratios = f"{fmt(files_s / ref_dicognito):>12s} {fmt(files_s / ref_loop2):>12s}"
        print(
            f"{tool:24s} {files_s:12.1f} {mb_s:12.1f} {cpu_ms:12.1f} {peak:12.0f} {ratios} "
            f"{out:12d}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
