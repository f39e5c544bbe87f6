"""Run a stage's work in parallel: one executor abstraction for scrub, verify and deface.

Every stage hands its work out the same way: it picks an :class:`Executor` (worker processes
on this machine, or its own process for one worker) and submits module-level functions to
it. The executor owns the processes; the stage keeps what is its own (scrub's preload list
and read-ahead, verify's per-stage worker state, deface's thread settings).

* :class:`LocalProcessExecutor`: worker processes on this machine. Nothing starts until the
  first submission. By default they fork from a multiprocessing *forkserver* that first
  imports the ``preload`` modules (workers start cheaply and never fork a parent that runs
  threads), and each worker ends itself when the process that started it dies
  (:func:`exit_with_parent`).
* :class:`SerialExecutor`: the same interface, run in the calling process, lazily: a result
  is computed when it is asked for. What a worker ``initializer`` would set up, the caller
  does for itself.

:class:`Executor` is the seam a distributed executor (Dask) plugs into later: anything with
``workers``, ``submit``, ``map``, ``imap``, ``shutdown`` and the context manager protocol.
Results come back in submission order from ``map`` and ``imap``; an exception raised by the
work is raised where its result is taken.

This module is imported before the CLI parses its arguments
(:mod:`deidkit.scrub.workers.prestart`): it must stay light, and it must not import any stage.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, Self, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.context import BaseContext

__all__ = [
    "DEFAULT_START_METHOD",
    "Executor",
    "LocalProcessExecutor",
    "SerialExecutor",
    "exit_with_parent",
    "process_context",
]

_T = TypeVar("_T")
_R = TypeVar("_R")

#: How :class:`LocalProcessExecutor` starts workers unless told otherwise.
DEFAULT_START_METHOD: Final = "forkserver"


class Executor(Protocol):
    """Where a stage's work runs: worker processes, this process, or (later) a cluster.

    Functions and arguments handed to an executor must be picklable (module-level functions,
    plain data), whichever executor runs them.
    """

    @property
    def workers(self) -> int:
        """How many calls can run at the same time."""
        ...

    def submit(self, fn: Callable[..., _R], /, *args: Any) -> Future[_R]:
        """Schedule ``fn(*args)``; its result (or exception) comes through the future."""
        ...

    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> Iterator[_R]:
        """``fn`` over every item, results in order (all items may be scheduled at once)."""
        ...

    def imap(
        self, fn: Callable[[_T], _R], items: Iterable[_T], *, window: int, retries: int = 0
    ) -> Iterator[_R]:
        """``fn`` over ``items``, results in order, at most ``window`` calls scheduled ahead.

        ``items`` is consumed only as results are taken, so it may be a stream (a walk of a
        tree) of any length. ``retries``: how often one item may be run again after the
        worker running it was lost (its process died); ``fn`` must then be safe to repeat.
        """
        ...

    @property
    def restarts(self) -> int:
        """How many times lost workers were replaced (work may have been repeated)."""
        ...

    def shutdown(self, *, cancel: bool = False) -> None:
        """Wait for the scheduled calls (``cancel``: drop those not started) and stop."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SerialExecutor:
    """An :class:`Executor` that runs everything in the calling process (one worker).

    ``map`` and ``imap`` are lazy: each call runs when its result is taken, so a consumer
    that stops early runs nothing more. ``submit`` runs the call at once and returns a
    finished future (holding its exception, if it raised one).
    """

    @property
    def workers(self) -> int:
        """Always 1."""
        return 1

    def submit(self, fn: Callable[..., _R], /, *args: Any) -> Future[_R]:
        """Run ``fn(*args)`` now."""
        future: Future[_R] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # delivered where the result is taken, as from a worker
            future.set_exception(exc)
        return future

    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> Iterator[_R]:
        """``fn`` over ``items``, one call per result taken."""
        return map(fn, items)

    def imap(
        self, fn: Callable[[_T], _R], items: Iterable[_T], *, window: int, retries: int = 0
    ) -> Iterator[_R]:
        """Same as :meth:`map`: nothing is scheduled ahead, no worker can be lost."""
        return map(fn, items)

    @property
    def restarts(self) -> int:
        """Always 0: there is no worker process to lose."""
        return 0

    def shutdown(self, *, cancel: bool = False) -> None:
        """Nothing to stop."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(cancel=exc_type is not None)


class LocalProcessExecutor:
    """An :class:`Executor` over worker processes on this machine.

    Parameters
    ----------
    workers
        Worker processes (at least 1).
    preload
        Modules the forkserver imports once, before it forks any worker (forkserver only).
        The forkserver is one per process: the first pool to start it decides its preload.
    initializer, initargs
        Run once in each worker before its first call (e.g. keep a configuration in a global
        of the worker's module). Must be picklable.
    start_method
        ``"forkserver"`` (default), ``"spawn"``, ``"fork"``, or ``None`` for
        multiprocessing's default on this platform.
    exit_with_parent
        Each worker ends itself once this process has exited, killed or not (see
        :func:`exit_with_parent`).

    Nothing is started until the first :meth:`submit` / :meth:`map` / :meth:`imap`; use
    as a context manager (leaving it on an exception cancels the calls not started yet).
    """

    def __init__(
        self,
        workers: int,
        *,
        preload: Sequence[str] = (),
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        start_method: str | None = DEFAULT_START_METHOD,
        exit_with_parent: bool = True,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if preload and start_method != "forkserver":
            raise ValueError("preload needs the forkserver start method")
        self._workers = workers
        self._preload = tuple(preload)
        self._initializer = initializer
        self._initargs = initargs
        self._start_method = start_method
        self._exit_with_parent = exit_with_parent
        self._pool: ProcessPoolExecutor | None = None
        self._restarts = 0

    @property
    def workers(self) -> int:
        """The number of worker processes."""
        return self._workers

    @property
    def started(self) -> bool:
        """Whether the process pool exists (the first call has been submitted)."""
        return self._pool is not None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            initializer: Callable[..., object] | None = self._initializer
            initargs = self._initargs
            if self._exit_with_parent:
                initializer, initargs = _start_worker, (self._initializer, self._initargs)
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=process_context(self._start_method, self._preload),
                initializer=initializer,
                initargs=initargs,
            )
        return self._pool

    def submit(self, fn: Callable[..., _R], /, *args: Any) -> Future[_R]:
        """Schedule ``fn(*args)`` in a worker."""
        return self._executor().submit(fn, *args)

    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> Iterator[_R]:
        """Schedule ``fn`` over every item now; yield the results in order."""
        return self._executor().map(fn, items)

    def imap(
        self, fn: Callable[[_T], _R], items: Iterable[_T], *, window: int, retries: int = 0
    ) -> Iterator[_R]:
        """Yield ``fn(item)`` in order, keeping at most ``window`` calls scheduled.

        A new item is taken from ``items`` (and submitted) right after a result is handed
        out, so the workers stay busy while the caller handles that result. If the caller
        stops early, the calls not started yet are cancelled.

        A worker process that dies (killed, out of memory) breaks the whole pool and every
        unfinished call with it. Those calls are then submitted again, in order, to a fresh
        pool, each at most ``retries`` times; results already in are kept.

        Raises
        ------
        WorkerLostError
            If a call was lost with its worker more than ``retries`` times.
        """
        window = max(1, window)
        pending: deque[_Call[_T, _R]] = deque()
        try:
            for item in items:
                pending.append(_Call(item, self._submit_call(fn, item)))
                if len(pending) >= window:
                    yield self._take(fn, pending, retries)
            while pending:
                yield self._take(fn, pending, retries)
        finally:
            for call in pending:
                call.future.cancel()

    @property
    def restarts(self) -> int:
        """How many times a broken pool was replaced by a fresh one (see :meth:`imap`)."""
        return self._restarts

    def _submit_call(self, fn: Callable[[_T], _R], item: _T) -> Future[_R]:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.submit(fn, item)
        except BrokenProcessPool as exc:
            # The pool broke before this call got in: it is lost like the calls inside.
            lost: Future[_R] = Future()
            lost.set_exception(exc)
            return lost

    def _take(self, fn: Callable[[_T], _R], pending: deque[_Call[_T, _R]], retries: int) -> _R:
        from concurrent.futures.process import BrokenProcessPool

        while True:
            try:
                result = pending[0].future.result()
            except BrokenProcessPool as exc:
                self._resubmit_lost(fn, pending, retries, exc)
                continue
            pending.popleft()
            return result

    def _resubmit_lost(
        self,
        fn: Callable[[_T], _R],
        pending: deque[_Call[_T, _R]],
        retries: int,
        cause: BaseException,
    ) -> None:
        from concurrent.futures.process import BrokenProcessPool

        from deidkit.core.errors import WorkerLostError

        # Joining the broken pool first settles every future it still held.
        self.shutdown(cancel=True)
        lost = [
            call
            for call in pending
            if call.future.cancelled() or isinstance(call.future.exception(), BrokenProcessPool)
        ]
        worst = max(call.lost for call in lost) + 1 if lost else 0
        if worst > retries:
            raise WorkerLostError(
                f"a worker process was lost {worst} time(s) while running the same work "
                "(killed, or out of memory)"
            ) from cause
        self._restarts += 1
        for call in lost:
            call.lost += 1
            call.future = self._submit_call(fn, call.item)

    def shutdown(self, *, cancel: bool = False) -> None:
        """Wait for the workers to finish (``cancel``: drop calls not started) and stop them."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(cancel=exc_type is not None)


class _Call(Generic[_T, _R]):
    """One item handed to :meth:`LocalProcessExecutor.imap`: its future, times it was lost."""

    __slots__ = ("future", "item", "lost")

    def __init__(self, item: _T, future: Future[_R]) -> None:
        self.item = item
        self.future = future
        self.lost = 0


def process_context(start_method: str | None, preload: Sequence[str] = ()) -> BaseContext:
    """The multiprocessing context workers start from.

    For the forkserver, ``preload`` becomes the server's preload list (it takes effect if the
    server is not running yet; see :func:`multiprocessing.set_forkserver_preload`).
    """
    context = multiprocessing.get_context(start_method)
    if preload:
        context.set_forkserver_preload(list(preload))
    return context


def _start_worker(initializer: Callable[..., object] | None, initargs: tuple[Any, ...]) -> None:
    # The initializer of every LocalProcessExecutor worker started with exit_with_parent.
    exit_with_parent()
    if initializer is not None:
        initializer(*initargs)


_WATCHING_IN: int | None = None  # the pid of the process whose parent is watched
_WATCH_LOCK: Final = threading.Lock()


def exit_with_parent() -> bool:
    """In a worker process: exit as soon as the process that started it is gone.

    A worker forked from a forkserver outlives a parent that was killed (``SIGTERM``,
    ``SIGKILL``, out of memory): it finishes its current call, then waits for work forever,
    and keeps the forkserver alive too. A daemon thread waiting on the parent's sentinel ends
    the worker instead (unfinished atomic writes leave at most a temp file). Idempotent.

    Returns
    -------
    bool
        Whether a watcher is running (False in a process without a multiprocessing parent).
    """
    global _WATCHING_IN
    parent = multiprocessing.parent_process()
    if parent is None:
        return False
    with _WATCH_LOCK:
        if _WATCHING_IN == os.getpid():
            return True

        def watch() -> None:
            parent.join()  # returns once the parent's end of the pipe is closed: it has exited
            os._exit(1)

        threading.Thread(target=watch, name="deidkit-parent-watch", daemon=True).start()
        _WATCHING_IN = os.getpid()
    return True
