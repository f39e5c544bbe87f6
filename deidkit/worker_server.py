"""The first module the scrub workers' process server imports: what it leaves out.

pydicom imports some libraries at start-up only because they are installed, for features
the scrub workers never use: numpy and Pillow to decode pixel data (a worker copies pixel
data as bytes, never decoding it), requests and tqdm to download pydicom's test files (a
worker never reaches the network). Marking them absent in ``sys.modules`` before pydicom is
imported makes pydicom take its documented fallbacks, cuts the server's start-up (which
every worker waits for) from about 0.6 s to 0.35 s, and turns those two promises into
properties of the process: code that tried to decode pixels or download something in a
worker would fail, and the file would be held back, rather than quietly do it.

Only the worker server imports this module (:data:`deidkit.prestart.WORKER_PRELOAD`); the
CLI process and one-worker runs keep every library.
"""

from __future__ import annotations

import sys
from typing import Final

__all__ = ["LEFT_OUT"]

LEFT_OUT: Final = ("numpy", "PIL", "requests", "tqdm")

for _name in LEFT_OUT:
    # None in sys.modules makes ``import name`` raise ImportError (a documented mechanism);
    # setdefault leaves a library that is somehow already imported alone.
    sys.modules.setdefault(_name, None)  # type: ignore[arg-type]
