"""Start the scrub workers' process server early, so its imports overlap the CLI's own.

``deidkit scrub`` runs files in worker processes forked from a multiprocessing forkserver
that first imports the engine (pydicom and the PS3.15 tables, without the libraries that
:mod:`deidkit.scrub.workers.server` leaves out: about a third of a second).
Started when the pool is made, that import sits on the critical path, after the CLI has
imported the same modules for itself. Started first thing (:func:`deidkit.cli.main` calls
:func:`prestart_scrub_workers` before it imports Typer and the commands), it runs on another
core while the CLI imports, and the pool finds it ready. It changes nothing but timing: the
pool (a :class:`~deidkit.core.executor.LocalProcessExecutor` with :data:`WORKER_PRELOAD`)
uses the same server with the same preload either way, and a command line that will not
start workers (another command, ``--help``, ``--workers 1``) starts nothing. Importing this
module starts nothing either.

This module must stay light: the CLI imports it before everything else.
"""

from __future__ import annotations

import importlib.machinery
import multiprocessing
import os
import sys
from collections.abc import Sequence
from multiprocessing.context import BaseContext
from typing import Final

# exit_with_parent: re-exported for the scrub workers' initializer (deidkit.scrub.per_file).
from deidkit.core.executor import exit_with_parent, process_context
from deidkit.scrub.pixel_step import PIXEL_WORKERS_ENV

__all__ = [
    "WORKER_PRELOAD",
    "exit_with_parent",
    "forkserver_context",
    "prestart_scrub_workers",
    "wants_workers",
]

# What the forkserver imports once, before it forks any worker.
WORKER_PRELOAD: Final = (
    "deidkit.scrub.workers.server",  # first: it keeps pixel decoders and downloaders out
    "deidkit.scrub.per_file",
    "deidkit.scrub.engine",
    "deidkit.scrub.codec.encode",
    "deidkit.scrub.codec.read",
)


def forkserver_context() -> BaseContext:
    """The multiprocessing context scrub workers start from (forkserver, engine preloaded).

    Workers fork from a server that has already imported the engine: cheap start-up, and no
    fork of a parent that runs threads (progress bar, background flush).
    """
    return process_context("forkserver", WORKER_PRELOAD)


def wants_workers(argv: Sequence[str]) -> bool:
    """Whether ``argv`` (``sys.argv``) is a ``deidkit scrub`` run that starts worker processes.

    Parameters
    ----------
    argv
        The program name followed by its arguments.
    """
    args = list(argv[1:])
    if not args or args[0] != "scrub" or "--help" in args:
        return False
    if "--executor=dask" in args or any(
        arg == "--executor" and args[i + 1 : i + 2] == ["dask"] for i, arg in enumerate(args)
    ):
        return False  # the workers are a Dask cluster's
    workers: str | None = None
    for i, arg in enumerate(args):
        if arg == "--workers" and i + 1 < len(args):
            workers = args[i + 1]
        elif arg.startswith("--workers="):
            workers = arg.partition("=")[2]
    if workers is None:
        return (os.cpu_count() or 1) > 1  # the pipeline's default: one worker per core
    return workers.strip() not in ("1", "0")


def prestart_scrub_workers(argv: Sequence[str] | None = None) -> bool:
    """Start the workers' forkserver now if this command line will use it.

    Parameters
    ----------
    argv
        The command line (default ``sys.argv``).

    Returns
    -------
    bool
        Whether the server was started (or already running). On any failure nothing
        changes: the process pool starts the server itself, later.
    """
    if multiprocessing.parent_process() is not None or (
        multiprocessing.current_process().name != "MainProcess"
    ):
        # A worker started by the pool re-runs the program's main script (the console
        # script imports deidkit.cli) with the parent's sys.argv: it must start nothing.
        return False
    args = sys.argv if argv is None else argv
    if not wants_workers(args):
        return False
    if "--clean-pixels" in args:
        # before the server starts: its workers must keep pydicom's pixel decoders
        os.environ[PIXEL_WORKERS_ENV] = "1"
    _main_as_module()
    forkserver_context()
    from multiprocessing import forkserver

    try:
        forkserver.ensure_running()
    except (OSError, ValueError):  # e.g. no /dev/shm or a fd limit: the pool retries later
        return False
    return True


def _main_as_module() -> None:
    """Keep multiprocessing from re-running the ``deidkit`` console script in the server.

    multiprocessing re-runs a main *script* in the process server (to find functions defined
    in it); the console script imports the whole CLI (Typer, Rich, every command), about a
    quarter of a second on the critical path before the first file. A main *module* named
    ``<package>.__main__`` is never re-run, which is what ``python -m deidkit`` gives; the
    console script's module is given that same identity. Only done for a scrub run of the
    console script itself (no functions live in it).
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return  # python -m deidkit, or an embedding program: leave it alone
    if os.path.basename(getattr(main, "__file__", "") or "") not in ("deidkit", "deidkit.exe"):
        return
    main.__spec__ = importlib.machinery.ModuleSpec("deidkit.__main__", None)
