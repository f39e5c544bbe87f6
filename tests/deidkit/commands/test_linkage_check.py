"""deidkit linkage check: a truncated or damaged linkage is never called intact (exit 1)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from deidkit.cli import app
from deidkit.commands._common import EXIT_HELD_BACK, EXIT_OK
from deidkit.core.keys import generate_key_file
from deidkit.pseudonymise.linkage import HEADER_SIZE, LinkageEntry, LinkageStore

runner = CliRunner()


def _linkage(tmp_path: Path) -> tuple[Path, Path]:
    """Three records of two entries each; the originals are canaries."""
    key_file = tmp_path / "project.key"
    key = generate_key_file(key_file)
    path = tmp_path / "release.linkage"
    for i in range(3):
        LinkageStore(path, key=key).append(
            [
                LinkageEntry("PatientID", f"CANARYMRN{i}", f"P{i}"),
                LinkageEntry("PatientName", f"CANARY^NAME{i}", f"P{i}"),
            ]
        )
    return path, key_file


def _check(path: Path, key_file: Path, *extra: str) -> Result:
    return runner.invoke(
        app,
        ["linkage", "check", "--linkage", str(path), "--key-file", str(key_file), *extra],
        env={"DEIDKIT_KEY": ""},
    )


def _record_start(data: bytes, index: int) -> int:
    offset = HEADER_SIZE
    for _ in range(index):
        offset += 8 + struct.unpack(">I", data[offset : offset + 4])[0]
    return offset


def _truncate_in_second(data: bytes) -> bytes:
    return data[: _record_start(data, 1) + 20]


def _header_only(data: bytes) -> bytes:
    return data[:HEADER_SIZE]


def _empty(data: bytes) -> bytes:
    return b""


def _damage_third(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[_record_start(data, 2) + 8 + 12 + 3] ^= 0x01  # inside the third ciphertext
    return bytes(damaged)


@pytest.mark.parametrize(
    ("cut", "records", "problem"),
    [
        (_truncate_in_second, 1, "truncated"),
        (_header_only, 0, "no_records"),
        (_empty, 0, "no_records"),
        (_damage_third, 2, "damaged"),
    ],
    ids=["torn-second-record", "header-only", "empty", "damaged-third-record"],
)
def test_incomplete_linkage_exits_1_with_counts(
    tmp_path: Path, cut: Callable[[bytes], bytes], records: int, problem: str
) -> None:
    path, key_file = _linkage(tmp_path)
    path.write_bytes(cut(path.read_bytes()))
    result = _check(path, key_file, "--json")
    assert result.exit_code == EXIT_HELD_BACK, result.output
    data = json.loads(result.stdout)
    assert (data["records"], data["entries"]) == (records, 2 * records)
    assert (data["complete"], data["problem"], data["stopped_at_record"]) == (
        False,
        problem,
        records,
    )
    text = _check(path, key_file)
    assert text.exit_code == EXIT_HELD_BACK
    assert f"reading stopped at record {records}" in text.stdout
    assert "incomplete" in text.stderr
    assert "CANARY" not in text.stdout + text.stderr + result.stdout + result.stderr


def test_intact_linkage_exits_0(tmp_path: Path) -> None:
    path, key_file = _linkage(tmp_path)
    result = _check(path, key_file)
    assert result.exit_code == EXIT_OK
    assert "3 records, 6 entries, intact" in result.stdout
