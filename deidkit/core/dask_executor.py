"""Run a stage's work on a ``dask.distributed`` cluster: the :class:`Executor` for many machines.

* :class:`DaskCluster`: the connection one command holds for its whole run, to a running
  scheduler (``--scheduler ADDRESS``) or to a ``LocalCluster`` it starts on this machine.
* :class:`DaskExecutor`: the :class:`~deidkit.core.executor.Executor` over that cluster, with
  the same interface and guarantees as the local process pool: results in submission order,
  at most ``window`` calls outstanding, a per-worker ``initializer`` (a worker plugin, so a
  worker that replaces a lost one is set up too), and lost work run again.

Streaming: :meth:`DaskExecutor.imap` takes items from its iterable only as results are handed
out, gathers every finished result as soon as it is done (``as_completed``, so a worker's
memory is freed in any order) and hands results out in submission order. The client holds at
most ``window`` items and results, whatever the length of the stream.

Faults: the scheduler runs the tasks of a worker that died (killed, out of memory) on another
worker. A task whose workers died more often than the scheduler allows
(``distributed.scheduler.allowed-failures``) comes back as ``KilledWorker``; it is submitted
again ``retries`` times before :class:`~deidkit.core.errors.WorkerLostError` stops the run.
:attr:`DaskExecutor.restarts` counts workers lost while it ran, so a stage can clean up what a
lost worker left half-done (temp files).

Privacy: task keys are ``("deidkit-<stage>-<run>", n)``, never a path; arguments (paths, and the
project key inside a stage's initializer arguments) travel to the workers by Dask's
communication: on a real cluster, use Dask's TLS (``distributed.comm``) between machines.

Dask is an optional dependency (the ``dask`` extra): this module imports it only inside its
functions, and :func:`import_distributed` turns a missing Dask into a usage error.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from types import ModuleType, TracebackType
from typing import Any, Final, Self, TypeVar

from deidkit.core.errors import UsageError, WorkerLostError

__all__ = ["DASK_EXTRA", "DaskCluster", "DaskExecutor", "import_distributed"]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: The extra that installs Dask.
DASK_EXTRA: Final = "dask"
# How often imap asks the scheduler which workers are alive (to count lost workers).
_MEMBERSHIP_SECONDS: Final = 2.0
# How long a client waits for the first worker of a cluster to join.
_FIRST_WORKER_SECONDS: Final = 60.0
#: Dask's debugging logs of recent messages, per connection: 1,000 by default, each holding a
#: task's arguments (a batch of paths, ~1 kB): the client's memory would grow by a megabyte
#: before it is flat, and the paths would sit in those logs. A few are kept instead.
LOG_LENGTH: Final = 16


def import_distributed() -> ModuleType:
    """``distributed``, or a :class:`UsageError` (exit 2) that names the extra."""
    try:
        import distributed
    except ImportError as exc:
        raise UsageError(
            "--executor dask needs the optional package 'dask' of the 'dask' extra: "
            "pip install 'deidkit-auditkit[dask]'"
        ) from exc
    return distributed


class DaskCluster:
    """A client of a Dask scheduler, held for one command's run; closes what it started.

    Use :meth:`connect`; ``client`` and ``cluster`` are ``distributed`` objects.
    """

    def __init__(self, client: Any, cluster: Any = None) -> None:
        self.client = client
        self._cluster = cluster

    @classmethod
    def connect(
        cls,
        scheduler: str | None = None,
        *,
        workers: int | None = None,
        processes: bool = True,
        dashboard_address: str | None = ":8787",
    ) -> DaskCluster:
        """Connect to ``scheduler``, or start a ``LocalCluster`` of ``workers`` processes.

        A local cluster has one thread per worker (the stages are CPU-bound Python: threads
        would share one interpreter lock). ``processes=False`` runs the workers as threads of
        this process (tests; in-memory file systems).

        Raises
        ------
        UsageError
            Dask is not installed, or the scheduler cannot be reached.
        """
        distributed = import_distributed()
        import dask

        settings = {
            "distributed.admin.low-level-log-length": LOG_LENGTH,
            # The workers' sampling profiler takes the interpreter lock 100 times a second
            # from the task it samples (a local cluster's workers inherit this setting).
            "distributed.worker.profile.enabled": False,
        }
        with dask.config.set(settings):
            if scheduler is not None:
                return cls(_client(distributed, scheduler))
            return cls._local(distributed, workers, processes, dashboard_address)

    @classmethod
    def _local(
        cls, distributed: ModuleType, workers: int | None, processes: bool, dashboard: str | None
    ) -> DaskCluster:
        cluster = distributed.LocalCluster(
            n_workers=max(1, workers or os.cpu_count() or 1),
            threads_per_worker=1,
            processes=processes,
            dashboard_address=dashboard,
            # Dask's own logs can quote a failed task's arguments: paths, which name patients.
            silence_logs=logging.ERROR,
        )
        return cls(distributed.Client(cluster), cluster)

    @property
    def dashboard_link(self) -> str | None:
        """The scheduler's dashboard URL, when it serves one (it needs ``bokeh``)."""
        services = self.client.scheduler_info().get("services", {})
        if "dashboard" not in services:
            return None
        link = self.client.dashboard_link
        return str(link) if link else None

    @property
    def workers(self) -> int:
        """Tasks the cluster runs at once (threads over all workers; waits for one worker)."""
        deadline = time.monotonic() + _FIRST_WORKER_SECONDS
        while True:
            threads: int = sum(self.client.nthreads().values())
            if threads or time.monotonic() > deadline:
                return max(1, threads)
            time.sleep(0.1)

    def worker_addresses(self) -> set[str]:
        """The addresses of the workers alive now."""
        return set(self.client.nthreads())

    def executor(
        self,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        name: str = "work",
    ) -> DaskExecutor:
        """A :class:`DaskExecutor` on this cluster (``name`` goes into its task keys)."""
        return DaskExecutor(self, initializer=initializer, initargs=initargs, name=name)

    def close(self) -> None:
        """Close the client, and the local cluster if this object started it."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _client(distributed: ModuleType, scheduler: str) -> Any:
    try:
        return distributed.Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--scheduler: no Dask scheduler answers at {scheduler}") from exc


class DaskExecutor:
    """An :class:`~deidkit.core.executor.Executor` over a :class:`DaskCluster`.

    Parameters
    ----------
    cluster
        The cluster (left open on :meth:`shutdown`: the command owns it).
    initializer, initargs
        Run once on every worker before its first task, like a process pool's initializer
        (registered as a worker plugin, unregistered on :meth:`shutdown`). Must be picklable.
    name
        A label for the task keys (shown on the dashboard).
    """

    def __init__(
        self,
        cluster: DaskCluster,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        name: str = "work",
    ) -> None:
        self._cluster = cluster
        self._client = cluster.client
        self._run = f"deidkit-{name}-{uuid.uuid4().hex[:12]}"
        self._keys = itertools.count()
        self._plugin: str | None = None
        if initializer is not None:
            from deidkit.core._dask_plugin import WorkerSetup

            self._plugin = f"{self._run}-setup"
            self._client.register_plugin(WorkerSetup(initializer, initargs), name=self._plugin)
        self._known = cluster.worker_addresses()
        self._lost: set[str] = set()
        self._resubmitted = 0

    @property
    def workers(self) -> int:
        """Tasks the cluster runs at once."""
        return self._cluster.workers

    @property
    def restarts(self) -> int:
        """Workers lost while this executor ran, plus tasks submitted again after losses."""
        self._check_membership()
        return len(self._lost) + self._resubmitted

    def _key(self) -> tuple[str, int]:
        # (name, number): Dask groups the tasks of one name together; a new name per task
        # would keep one task group per task on the scheduler for as long as it runs.
        return (self._run, next(self._keys))

    def _submit_dask(self, fn: Callable[..., _R], *args: Any) -> Any:
        return self._client.submit(fn, *args, key=self._key(), pure=False)

    def submit(self, fn: Callable[..., _R], /, *args: Any) -> Future[_R]:
        """Schedule ``fn(*args)`` on the cluster; a :class:`concurrent.futures.Future`."""
        task = self._submit_dask(fn, *args)
        future: Future[_R] = Future()

        def settle(done: Any) -> None:
            try:
                future.set_result(done.result())
            except BaseException as exc:  # delivered where the result is taken
                future.set_exception(exc)

        task.add_done_callback(settle)
        return future

    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> Iterator[_R]:
        """``fn`` over ``items`` in order, four calls per worker thread outstanding."""
        return self.imap(fn, items, window=4 * self.workers)

    def imap(
        self, fn: Callable[[_T], _R], items: Iterable[_T], *, window: int, retries: int = 0
    ) -> Iterator[_R]:
        """Yield ``fn(item)`` in order, with at most ``window`` items outstanding.

        Raises
        ------
        WorkerLostError
            A call came back ``KilledWorker`` more than ``retries`` times.
        """
        return _OrderedStream(self, fn, iter(items), max(1, window), retries).results()

    def _check_membership(self) -> None:
        alive = self._cluster.worker_addresses()
        self._lost |= self._known - alive
        self._known = alive

    def run_on_workers(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` once on every worker now (a flush of their writes, for instance)."""
        self._client.run(fn)

    def shutdown(self, *, cancel: bool = False) -> None:
        """Remove the worker setup; the cluster stays (its owner closes it)."""
        if self._plugin is not None:
            plugin, self._plugin = self._plugin, None
            try:
                self._client.unregister_worker_plugin(plugin)
            except Exception:  # a plugin is also gone with a closed client
                logging.getLogger(__name__).debug("worker plugin already gone")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(cancel=exc_type is not None)


class _OrderedStream:
    """One :meth:`DaskExecutor.imap`: submit within the window, gather as done, yield in order."""

    def __init__(
        self,
        executor: DaskExecutor,
        fn: Callable[[Any], Any],
        items: Iterator[Any],
        window: int,
        retries: int,
    ) -> None:
        self._executor = executor
        self._fn = fn
        self._items = items
        self._window = window
        self._retries = retries
        # through the module (Any): distributed's as_completed has no annotations
        self._done_feed: Any = import_distributed().as_completed()
        # submission index -> (item, Dask future, times lost); gathered: index -> future done
        self._running: dict[int, tuple[Any, Any, int]] = {}
        self._by_key: dict[Any, int] = {}
        self._gathered: dict[int, tuple[bool, Any]] = {}
        self._next_in = 0
        self._next_out = 0
        self._exhausted = False
        self._checked = time.monotonic()

    def results(self) -> Iterator[Any]:
        try:
            self._fill()
            while self._next_out < self._next_in:
                while self._next_out not in self._gathered:
                    self._gather_one()
                ok, value = self._gathered.pop(self._next_out)
                self._next_out += 1
                self._fill()  # keep the workers busy while the caller handles this result
                if not ok:
                    raise value
                yield value
        finally:
            self._cancel()

    def _fill(self) -> None:
        while not self._exhausted and self._next_in - self._next_out < self._window:
            try:
                item = next(self._items)
            except StopIteration:
                self._exhausted = True
                return
            self._start(self._next_in, item, lost=0)
            self._next_in += 1

    def _start(self, index: int, item: Any, *, lost: int) -> None:
        task = self._executor._submit_dask(self._fn, item)
        self._running[index] = (item, task, lost)
        self._by_key[task.key] = index
        self._done_feed.add(task)

    def _gather_one(self) -> None:
        from distributed import KilledWorker

        task = next(self._done_feed)
        index = self._by_key.pop(task.key)
        item, _task, lost = self._running.pop(index)
        self._membership()
        try:
            self._gathered[index] = (True, task.result())
        except KilledWorker as exc:
            if lost >= self._retries:
                raise WorkerLostError(
                    f"Dask workers were lost {lost + 1} time(s) while running the same work "
                    "(killed, or out of memory)"
                ) from exc
            self._executor._resubmitted += 1
            self._start(index, item, lost=lost + 1)
        except Exception as exc:  # raised where its result is taken, in order
            self._gathered[index] = (False, exc)
        finally:
            task.release()

    def _membership(self) -> None:
        now = time.monotonic()
        if now - self._checked >= _MEMBERSHIP_SECONDS:
            self._checked = now
            self._executor._check_membership()

    def _cancel(self) -> None:
        tasks = [task for _item, task, _lost in self._running.values()]
        self._running.clear()
        if tasks:
            self._executor._client.cancel(tasks)
        self._done_feed.clear()
