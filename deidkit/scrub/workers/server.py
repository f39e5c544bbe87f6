"""The first module the scrub workers' process server imports: the engine, lean.

pydicom imports some libraries at start-up only because they are installed, for features
the scrub workers never use: numpy and Pillow to decode pixel data (a worker copies pixel
data as bytes, never decoding it), requests and tqdm to download pydicom's test files (a
worker never reaches the network). This module imports the engine while those libraries
are marked absent, so pydicom takes its documented fallbacks, then lifts the mark. The
server's start-up, which every worker waits for, falls from about 0.6 s to 0.35 s.

Lifting the mark matters: multiprocessing re-imports the parent's main script in each
worker (a user's own script calling :func:`deidkit.scrub.pipeline.scrub_tree`), and that
script may import numpy itself. Only the worker server imports this module
(:data:`deidkit.scrub.workers.prestart.WORKER_PRELOAD`); the CLI process and one-worker runs
keep every library as usual.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Final

from deidkit.scrub.pixel_step import PIXEL_WORKERS_ENV
from deidkit.scrub.workers.prestart import WORKER_PRELOAD

__all__ = ["LEFT_OUT"]

LEFT_OUT: Final = ("numpy", "PIL", "requests", "tqdm")


def _import_engine() -> None:
    # None in sys.modules makes ``import name`` raise ImportError (a documented mechanism);
    # only names not imported yet are marked, and only those marks are lifted. Meanwhile the
    # rest of the server's preload list (prestart.WORKER_PRELOAD) is imported.
    # A --clean-pixels run decodes pixels in its workers: nothing is left out then.
    lean = os.environ.get(PIXEL_WORKERS_ENV) != "1"
    marked = [name for name in LEFT_OUT if name not in sys.modules and lean]
    for name in marked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        for module in WORKER_PRELOAD:
            if module != __name__:
                importlib.import_module(module)
    finally:
        for name in marked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


_import_engine()
