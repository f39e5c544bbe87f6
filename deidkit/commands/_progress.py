"""Progress on stderr where no bar can be drawn (CI logs, pipes, files).

A Rich bar draws nothing when stderr is not a terminal, so a CI log showed no sign of life
for the whole run. There, :class:`LineProgress` prints one plain line every
:data:`EVERY_FILES` files or :data:`EVERY_SECONDS` seconds, whichever comes first, such as
``scrub: 1200/2021 files, 0 held back``. Lines carry counts only, never a path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from deidkit.commands._common import stderr_console

__all__ = ["EVERY_FILES", "EVERY_SECONDS", "LineProgress", "plain_progress"]

#: A plain progress line at least every this many files ...
EVERY_FILES = 1000
#: ... and at least every this many seconds (checked as files finish).
EVERY_SECONDS = 10.0


class LineProgress:
    """Plain progress lines on stderr: ``<label>: <done>[/<total>] files[, <n> <flag>]``.

    Parameters
    ----------
    label
        The line's first word (the command, or the command and its stage).
    flag
        What flagged files are (``"held back"``); ``None``: no count of them.
    every, seconds
        Print after this many more files or this many seconds (defaults: the module's).
    clock
        Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        label: str,
        *,
        flag: str | None = None,
        every: int | None = None,
        seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.flag = flag
        self.total: int | None = None
        self.done = 0
        self.flagged = 0
        self._every = max(1, every if every is not None else EVERY_FILES)
        self._seconds = seconds if seconds is not None else EVERY_SECONDS
        self._clock = clock
        self._next_count = self._every
        self._deadline = clock() + self._seconds

    def set_total(self, total: int) -> None:
        """The number of files, once known (lines show ``done/total`` from then on)."""
        self.total = total

    def advance(self, *, flagged: bool = False) -> None:
        """Count one file; print a line when it is time."""
        self.done += 1
        if flagged:
            self.flagged += 1
        if self.done >= self._next_count or self._clock() >= self._deadline:
            self._print()

    def update(self, done: int, total: int) -> None:
        """Set the counts; print a line when it is time."""
        self.done, self.total = done, total
        if done >= self._next_count or self._clock() >= self._deadline:
            self._print()

    def line(self) -> str:
        """The progress line for the counts so far."""
        done = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        flag = f", {self.flagged} {self.flag}" if self.flag is not None else ""
        return f"{self.label}: {done} files{flag}"

    def _print(self) -> None:
        print(self.line(), file=sys.stderr, flush=True)
        self._next_count = self.done + self._every
        self._deadline = self._clock() + self._seconds


def plain_progress(label: str, *, flag: str | None = None) -> LineProgress | None:
    """:class:`LineProgress` when stderr is not a terminal (where a bar shows nothing)."""
    if stderr_console.is_terminal:
        return None
    return LineProgress(label, flag=flag)
