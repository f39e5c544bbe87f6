"""Work for the executor tests' worker processes (importable by name in every worker)."""

from __future__ import annotations

import os

_REMEMBERED: list[object] = []


def remember(value: object) -> None:
    """An initializer: keep ``value`` for :func:`recalled`."""
    _REMEMBERED.append(value)


def recalled(_item: object) -> list[object]:
    """What the initializer kept in this worker."""
    return list(_REMEMBERED)


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def pid(_item: object = None) -> int:
    return os.getpid()


def die_once_on_three(item: tuple[int, str]) -> int:
    """Kill this worker the first time 3 comes (a marker file remembers it), else echo."""
    x, marker = item
    if x == 3 and not os.path.exists(marker):
        open(marker, "w").close()  # noqa: SIM115 - must exist before the process dies
        os._exit(9)
    return x


def die_on_three(x: int) -> int:
    """Kill this worker whenever 3 comes."""
    if x == 3:
        os._exit(9)
    return x
