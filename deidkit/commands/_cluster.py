"""``--executor local|dask`` and ``--scheduler ADDRESS``: where scrub, verify and deface run.

The local process pool is the default and needs no Dask. ``--executor dask`` connects to
the scheduler at ``--scheduler`` or, without one, starts a ``LocalCluster`` on this machine
for the run (``--workers`` worker processes) and says where its dashboard is. What is said
names the cluster only, never an input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from deidkit.commands._common import stderr_console
from deidkit.core.errors import UsageError

if TYPE_CHECKING:
    from deidkit.core.dask_executor import DaskCluster

__all__ = ["ExecutorKind", "ExecutorOption", "SchedulerOption", "cluster_for"]


class ExecutorKind(StrEnum):
    """Where the work runs."""

    local = "local"
    dask = "dask"


ExecutorOption = Annotated[
    ExecutorKind,
    typer.Option(
        "--executor",
        help="local: worker processes on this machine; dask: a Dask cluster (the 'dask' extra; "
        "same output). Every worker must see INPUT and OUTPUT at the same paths.",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="A running dask.distributed scheduler (tcp://host:8786); without it, "
        "--executor dask starts a local cluster of --workers processes.",
    ),
]


@contextlib.contextmanager
def cluster_for(
    executor: ExecutorKind,
    scheduler: str | None,
    *,
    workers: int | None,
    processes: bool = True,
) -> Iterator[DaskCluster | None]:
    """The Dask cluster the command runs on (``None``: the local pool); closed on exit.

    ``processes=False`` starts a local cluster's workers as threads of this process (a
    ``memory://`` location is only seen there).

    Raises
    ------
    UsageError
        ``--scheduler`` without ``--executor dask``, Dask not installed, or no scheduler
        answering at the address.
    """
    if executor is ExecutorKind.local:
        if scheduler is not None:
            raise UsageError("--scheduler needs --executor dask")
        yield None
        return
    from deidkit.core.dask_executor import DaskCluster

    with DaskCluster.connect(scheduler, workers=workers, processes=processes) as cluster:
        _announce(cluster, started=scheduler is None)
        yield cluster


def _announce(cluster: DaskCluster, *, started: bool) -> None:
    what = "started a local Dask cluster" if started else "connected to the Dask scheduler"
    link = cluster.dashboard_link
    where = f"dashboard {link}" if link else "no dashboard (it needs the 'bokeh' package)"
    stderr_console.print(
        f"{what}: {cluster.workers} worker threads; {where}", highlight=False, soft_wrap=True
    )
