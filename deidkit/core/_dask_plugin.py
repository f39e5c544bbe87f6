"""The worker plugin :class:`~deidkit.core.dask_executor.DaskExecutor` registers (imports Dask).

Kept apart from :mod:`deidkit.core.dask_executor` so that importing that module needs no Dask:
this one is imported only once a cluster is in use. Workers unpickle the plugin by reference,
so it must live in an importable module, not inside a function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed import WorkerPlugin

__all__ = ["WorkerSetup"]


class WorkerSetup(WorkerPlugin):  # type: ignore[misc]  # Dask ships no type information here
    """Run ``initializer(*initargs)`` once on every worker, also on workers that join later.

    The cluster counterpart of a process pool's initializer: a worker that replaces a lost
    one is set up before it runs its first task.
    """

    def __init__(self, initializer: Callable[..., object], initargs: tuple[Any, ...]) -> None:
        self.initializer = initializer
        self.initargs = initargs

    def setup(self, worker: object) -> None:
        self.initializer(*self.initargs)
