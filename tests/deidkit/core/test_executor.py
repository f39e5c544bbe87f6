"""deidkit.core.executor: the one way every stage runs work in parallel."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psutil
import pytest

from deidkit.core.errors import WorkerLostError
from deidkit.core.executor import (
    Executor,
    LocalProcessExecutor,
    SerialExecutor,
    exit_with_parent,
)


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The worker functions, importable by name here and in the workers started after."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import executor_probe

    return executor_probe


def _counted(n: int, taken: list[int]) -> Iterator[int]:
    for i in range(n):
        taken.append(i)
        yield i


def test_both_executors_fit_the_protocol() -> None:
    executors: list[Executor] = [SerialExecutor(), LocalProcessExecutor(2)]
    assert [e.workers for e in executors] == [1, 2]


def test_serial_runs_in_this_process_when_asked(probe: ModuleType) -> None:
    taken: list[int] = []
    with SerialExecutor() as executor:
        results = executor.imap(probe.square, _counted(5, taken), window=4)
        assert taken == []  # nothing runs before its result is taken
        assert next(results) == 0 and taken == [0]
        assert list(results) == [1, 4, 9, 16]
        assert list(executor.map(probe.pid, [None])) == [os.getpid()]
        failed = executor.submit(probe.fail_on_three, 3)
    with pytest.raises(ValueError, match="three"):
        failed.result()  # raised where the result is taken, as from a worker


def test_processes_start_on_first_use_and_keep_order(probe: ModuleType) -> None:
    before = psutil.Process().children(recursive=True)  # e.g. an earlier test's forkserver
    executor = LocalProcessExecutor(2, initializer=probe.remember, initargs=("config",))
    assert not executor.started
    assert psutil.Process().children(recursive=True) == before  # constructing starts nothing
    with executor:
        assert list(executor.map(probe.square, range(20))) == [i * i for i in range(20)]
        assert executor.submit(probe.recalled, None).result() == ["config"]
        worker = executor.submit(probe.pid).result()
        assert worker != os.getpid()
    assert not executor.started
    assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == "zombie"


def test_imap_keeps_a_bounded_window(probe: ModuleType) -> None:
    taken: list[int] = []
    with LocalProcessExecutor(2) as executor:
        results = executor.imap(probe.square, _counted(10, taken), window=3)
        assert next(results) == 0
        assert len(taken) == 3  # the first result came once three were in flight
        assert next(results) == 1
        assert len(taken) == 4  # one more taken (and submitted) per result handed out
        assert list(results) == [i * i for i in range(2, 10)]


def test_errors_reach_the_caller_in_order(probe: ModuleType) -> None:
    with LocalProcessExecutor(2) as executor:
        results = executor.imap(probe.fail_on_three, range(6), window=4)
        assert [next(results) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="three"):
            next(results)


def test_a_lost_worker_is_replaced_and_its_work_redone(probe: ModuleType, tmp_path: Path) -> None:
    marker = str(tmp_path / "died")
    items = [(i, marker) for i in range(12)]
    with LocalProcessExecutor(2) as executor:
        results = list(executor.imap(probe.die_once_on_three, items, window=4, retries=2))
        assert executor.restarts == 1
    assert results == list(range(12))  # nothing lost, nothing twice, in order
    assert os.path.exists(marker)


def test_a_worker_lost_every_time_stops_the_run(probe: ModuleType) -> None:
    with LocalProcessExecutor(2) as executor:
        results = executor.imap(probe.die_on_three, range(8), window=4, retries=2)
        assert [next(results) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(WorkerLostError, match="lost 3 time"):
            next(results)
        assert executor.restarts == 2


def test_without_retries_a_lost_worker_is_a_typed_error(probe: ModuleType) -> None:
    with LocalProcessExecutor(1) as executor, pytest.raises(WorkerLostError):
        list(executor.imap(probe.die_on_three, range(8), window=2))
    assert SerialExecutor().restarts == 0


def test_leaving_on_an_error_cancels_and_stops(probe: ModuleType) -> None:
    executor = LocalProcessExecutor(1)
    with pytest.raises(KeyboardInterrupt), executor:
        futures = [executor.submit(probe.square, i) for i in range(200)]
        raise KeyboardInterrupt
    assert not executor.started
    assert any(f.cancelled() for f in futures)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        LocalProcessExecutor(0)
    with pytest.raises(ValueError, match="forkserver"):
        LocalProcessExecutor(2, preload=("json",), start_method="spawn")


def test_exit_with_parent_needs_a_parent() -> None:
    assert exit_with_parent() is False  # this process has no multiprocessing parent


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


_ORPHAN = """
import os
from deidkit.core.executor import LocalProcessExecutor
if __name__ == "__main__":
    pool = LocalProcessExecutor(1, start_method={method!r})
    print(pool.submit(os.getpid).result(), flush=True)
    os._exit(0)  # die without shutting the pool down, as a killed parent does
"""


@pytest.mark.parametrize("method", ["forkserver", None])
def test_workers_exit_when_their_parent_dies(tmp_path: Path, method: str | None) -> None:
    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN.format(method=method), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    worker = int(run.stdout.strip())
    deadline = time.monotonic() + 60  # generous: without the watcher it never exits
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker)
