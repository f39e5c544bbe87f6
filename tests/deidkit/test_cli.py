"""The console-script entry point: exit codes, output and exit handlers survive the fast exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROGRAM = """
import atexit, sys
from deidkit.cli import main
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
sys.argv = ["deidkit", *sys.argv[1:]]
main()
print("not reached")
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROGRAM, *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "code", "stdout"),
    [
        (("--version",), 0, "deidkit 0.1.0"),
        (("profiles", "list"), 0, "basic"),
        (("scrub", "--no-such-option"), 2, ""),
        (("scrub", "/no/such/input", "/tmp/deidkit-never-written"), 2, ""),
    ],
)
def test_exit_code_output_and_handlers(args: tuple[str, ...], code: int, stdout: str) -> None:
    done = _run(*args)
    assert done.returncode == code
    assert stdout in done.stdout and "not reached" not in done.stdout
    assert "exit handler ran" in done.stderr
