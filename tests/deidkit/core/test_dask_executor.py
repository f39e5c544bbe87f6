"""DaskExecutor: the Executor interface on a Dask cluster, streaming with bounded memory."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from deidkit.core.errors import UsageError
from deidkit.scrub.pipeline import _series_batches

pytest.importorskip("distributed", reason="needs the 'dask' extra (dask[distributed])")

from deidkit.core.dask_executor import DaskCluster, import_distributed  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    """Two worker threads of this process (tasks share the test's modules)."""
    with DaskCluster.connect(workers=2, processes=False, dashboard_address=":0") as started:
        yield started


def _slow_square(x: int) -> int:
    time.sleep(0.002 * (x % 5))  # finish out of order
    return x * x


def _fails_at_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


_SETUP: list[str] = []


def _setup(tag: str) -> None:
    _SETUP.append(tag)


def _setup_seen(_x: int) -> list[str]:
    return list(_SETUP)


def test_imap_yields_in_order_with_at_most_window_outstanding(cluster: DaskCluster) -> None:
    taken = 0

    def items() -> Iterator[int]:
        nonlocal taken
        for i in range(60):
            taken += 1
            yield i

    with cluster.executor(name="order") as executor:
        results = []
        for result in executor.imap(_slow_square, items(), window=5):
            results.append(result)
            # Taken from the stream but not handed out yet: never more than the window.
            assert taken - len(results) <= 5
    assert results == [i * i for i in range(60)]


def test_an_error_is_raised_where_its_result_is_taken(cluster: DaskCluster) -> None:
    with cluster.executor(name="errors") as executor:
        stream = executor.imap(_fails_at_three, range(10), window=4)
        assert [next(stream) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="three"):
            next(stream)


def test_submit_map_workers_and_initializer(cluster: DaskCluster) -> None:
    with cluster.executor(initializer=_setup, initargs=("ready",), name="api") as executor:
        assert executor.workers == 2
        assert executor.submit(_slow_square, 7).result() == 49
        assert list(executor.map(_slow_square, [1, 2, 3])) == [1, 4, 9]
        assert "ready" in executor.submit(_setup_seen, 0).result()
        assert executor.restarts == 0


def test_no_dask_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UsageError, match=r"deidkit-auditkit\[dask\]"):
        import_distributed()


def _tiny_files(root: Path, count: int) -> Path:
    for i in range(count):
        folder = root / f"series{i // 50:05d}"
        if i % 50 == 0:
            folder.mkdir(parents=True)
        (folder / f"{i:07d}").write_bytes(b"")
    return root


def _streaming_peak(cluster: DaskCluster, root: Path) -> float:
    """The traced peak (bytes) of walking, batching and streaming ``root`` through Dask."""
    with cluster.executor(name="memory") as executor:
        tracemalloc.start()
        try:
            batches = _series_batches(root, least=200, most=200)
            assert sum(executor.imap(len, batches, window=8)) == sum(
                len(files) for _dir, _dirs, files in os.walk(root)
            )
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


@pytest.mark.slow
def test_client_memory_is_flat_in_the_number_of_inputs(
    cluster: DaskCluster, tmp_path: Path
) -> None:
    # Scheduler and workers run in this process here, and are traced too: an upper bound.
    small = _streaming_peak(cluster, _tiny_files(tmp_path / "small", 1_000))
    large = _streaming_peak(cluster, _tiny_files(tmp_path / "large", 20_000))
    per_file = max(0.0, large - small) / 19_000
    assert large < small + 3e6, (small, large)
    assert large + per_file * 1_000_000 < 300e6, (small, large)  # a million inputs
