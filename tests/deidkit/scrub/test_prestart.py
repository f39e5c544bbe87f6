"""Early start of the scrub workers' forkserver: only for command lines that use workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deidkit.demo.sample import SampleCorpus
from deidkit.scrub.workers.prestart import (
    WORKER_PRELOAD,
    forkserver_context,
    prestart_scrub_workers,
    wants_workers,
)

_SCRUB = ["deidkit", "scrub", "in", "out"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([*_SCRUB, "--workers", "2"], True),
        ([*_SCRUB, "--workers=4"], True),
        ([*_SCRUB, "--workers", "1"], False),
        ([*_SCRUB, "--workers=1"], False),
        (["deidkit", "scrub", "--help"], False),
        ([*_SCRUB, "--workers", "2", "--executor", "dask"], False),  # a Dask cluster's workers
        ([*_SCRUB, "--executor=dask"], False),
        ([*_SCRUB, "--workers", "2", "--executor", "local"], True),
        (["deidkit", "verify", "release", "--workers", "2"], False),
        (["deidkit"], False),
        (["-c"], False),  # how the forkserver itself is started: never recurse
    ],
)
def test_wants_workers(argv: list[str], expected: bool) -> None:
    assert wants_workers(argv) is expected


def test_default_workers_follow_the_cores() -> None:
    assert wants_workers(_SCRUB) is ((os.cpu_count() or 1) > 1)


def test_no_start_for_a_command_without_workers() -> None:
    assert prestart_scrub_workers(["deidkit", "profiles", "list"]) is False
    assert prestart_scrub_workers([*_SCRUB, "--workers", "1"]) is False


def test_context_preloads_the_engine() -> None:
    from multiprocessing import forkserver

    context = forkserver_context()
    assert context.get_start_method() == "forkserver"
    preload = getattr(forkserver._forkserver, "_preload_modules", None)  # CPython internals
    assert preload == list(WORKER_PRELOAD)
    assert "deidkit.scrub.per_file" in WORKER_PRELOAD


_SCRUB_WITH_WORKERS = ["scrub", "a", "b", "--workers", "2"]

_IMPORT_ONLY = """
import sys
sys.argv = sys.argv[1:]
import multiprocessing
from multiprocessing import forkserver

import psutil

import deidkit.cli

print(
    multiprocessing.active_children(),
    forkserver._forkserver._forkserver_pid,
    psutil.Process().children(recursive=True),
    "typer" in sys.modules,
)
"""


def test_importing_the_cli_starts_no_process() -> None:
    # A fresh interpreter, with the very command line that makes main() start the server:
    # importing the module must start nothing (and stay light: Typer comes with main()).
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_ONLY, "deidkit", *_SCRUB_WITH_WORKERS],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.split() == ["[]", "None", "[]", "False"], run.stdout


_MAIN_PROBE = """
import sys
sys.argv = sys.argv[1:]
from multiprocessing import forkserver

import deidkit.cli


def probe_app() -> None:  # stands in for the Typer app: what has main() done before it?
    print(forkserver._forkserver._forkserver_pid is not None)


deidkit.cli._build_app = lambda: probe_app
deidkit.cli.main()
"""


def test_main_starts_the_server_before_the_app_only_for_scrub() -> None:
    # A fresh interpreter: the forkserver is per process, so this one's state is untouched.
    for args, started in ((_SCRUB_WITH_WORKERS, "True"), (["--help"], "False")):
        run = subprocess.run(
            [sys.executable, "-c", _MAIN_PROBE, "deidkit", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout.strip() == started


def test_console_script_run_with_workers(
    small_corpus: SampleCorpus, key_file: Path, tmp_path: Path
) -> None:
    # A console script is a plain file as __main__, so every worker re-runs it (importing
    # deidkit.cli) with the parent's sys.argv: that must start nothing, or the pool breaks.
    # `python -m deidkit` never re-runs its main, so it cannot catch this.
    script = tmp_path / "deidkit-script"
    lines = ["import sys", "from deidkit.cli import main", "if __name__ == '__main__':"]
    script.write_text("\n".join([*lines, "    sys.exit(main())", ""]), encoding="utf-8")
    out = tmp_path / "release"
    args = [str(small_corpus.root), str(out), "--workers", "2", "--key-file", str(key_file)]
    run = subprocess.run(
        [sys.executable, str(script), "scrub", *args], capture_output=True, text=True
    )
    assert run.returncode in (0, 1), run.stderr[-2000:]  # 1: the corpus has broken files
    assert "BrokenProcessPool" not in run.stderr
    assert any(out.rglob("*.dcm"))


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to watch the worker")
def test_worker_exits_when_its_parent_dies(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        "\n".join(
            [
                "import os",
                "from concurrent.futures import ProcessPoolExecutor",
                "from deidkit.scrub.workers.prestart import exit_with_parent, forkserver_context",
                "if __name__ == '__main__':",
                "    pool = ProcessPoolExecutor(1, forkserver_context(), exit_with_parent)",
                "    print(pool.submit(os.getpid).result(), flush=True)",
                "    os._exit(0)  # die without shutting the pool down, as a killed parent does",
                "",
            ]
        ),
        encoding="utf-8",
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    worker = int(run.stdout.strip())
    deadline = time.monotonic() + 60  # generous: without the watcher it never exits
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker)


@pytest.mark.parametrize(
    ("script", "renamed"), [("/venv/bin/deidkit", True), ("/home/me/my_pipeline.py", False)]
)
def test_console_script_main_is_not_rerun_by_multiprocessing(
    monkeypatch: pytest.MonkeyPatch, script: str, renamed: bool
) -> None:
    import types
    from multiprocessing import spawn

    from deidkit.scrub.workers import prestart

    fake = types.ModuleType("__main__")
    fake.__file__ = script
    fake.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", fake)
    prestart._main_as_module()
    data = spawn.get_preparation_data("probe")
    # multiprocessing re-runs a main script ("init_main_from_path") but skips a
    # "<package>.__main__" module: only our own console script is given that identity
    assert ("init_main_from_path" not in data) is renamed
    assert (data.get("init_main_from_name") == "deidkit.__main__") is renamed


_PROBE_LEAN_WORKER = """
import os, sys
from concurrent.futures import ProcessPoolExecutor
from deidkit.scrub.workers.prestart import forkserver_context
sys.path.insert(0, sys.argv[1])
from worker_probe import loaded
if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=1, mp_context=forkserver_context()) as pool:
        seen = pool.submit(loaded, ("numpy", "PIL", "pydicom")).result()
    print(sorted(name for name, on in seen.items() if on))
"""


def test_workers_run_without_pixel_decoders_or_downloaders(tmp_path: Path) -> None:
    # The worker server leaves numpy/Pillow (pixel decoding) and requests/tqdm (pydicom's
    # test-file downloader) out; pydicom itself is loaded and works without them.
    # A fresh process: the forkserver is one per process, and the first pool in it decides
    # its preload, so in this (test) process another test may have started it already.
    script = tmp_path / "probe.py"
    script.write_text(_PROBE_LEAN_WORKER)
    env = {k: v for k, v in os.environ.items() if k != "DEIDKIT_PIXEL_WORKERS"}
    done = subprocess.run(
        [sys.executable, str(script), str(Path(__file__).parents[1])],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['pydicom']"


_USER_SCRIPT = """
import numpy  # a user's own script: multiprocessing re-imports it in every worker
from pathlib import Path

from deidkit.core.keys import ProjectKey
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, scrub_tree
from deidkit.rules.profile import load_profile


def main() -> None:
    settings = ScrubSettings(
        profile=load_profile("basic"), key=ProjectKey(secret=bytes(range(32)), source="t")
    )
    summary = scrub_tree(
        Path({source!r}), Path({output!r}), settings=settings, options=RunOptions(workers=2)
    )
    print("released", summary.counts["released"], numpy.int64(1))


if __name__ == "__main__":
    main()
"""


def test_a_script_that_imports_numpy_can_run_workers(
    tmp_path: Path, small_corpus: SampleCorpus
) -> None:
    # The worker server imports the engine without numpy but must not keep numpy out of
    # the workers: they re-import the calling script, which may well use it.
    script = tmp_path / "user_script.py"
    out = tmp_path / "release"
    script.write_text(_USER_SCRIPT.format(source=str(small_corpus.root), output=str(out)))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "released" in done.stdout
    assert any(out.rglob("*.dcm"))
