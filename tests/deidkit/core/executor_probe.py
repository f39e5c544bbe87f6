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
