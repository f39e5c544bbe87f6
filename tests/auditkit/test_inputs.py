"""Reading input files: every way a file can be wrong is a typed error naming the file only."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditkit.errors import InputFileError, PolicyError, UsageError
from auditkit.inputs import check_file, read_json, read_text

# Stands in for patient data inside a file: it must never reach a message.
CANARY = "Canary^Alice"


def test_missing_folder_and_present(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="^results 'absent.json' not found$"):
        check_file(tmp_path / "absent.json", what="results")
    with pytest.raises(InputFileError, match="is a folder, not a file"):
        check_file(tmp_path, what="results")
    present = tmp_path / "r.json"
    present.write_text("{}")
    assert check_file(present, what="results") == present


def test_not_utf8_names_the_problem_not_the_content(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(f"name: {CANARY}\n".encode("latin-1") + b"\xff\xfe\x00")
    with pytest.raises(InputFileError) as info:
        read_text(path, what="policy")
    assert str(info.value) == (
        "policy 'policy.yaml' is not valid UTF-8 text (a binary file or another encoding?)"
    )
    assert isinstance(info.value, UsageError)  # exit 2, never 1 ("gate failed")


def test_caller_picks_the_error_class(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        read_text(tmp_path / "p.yaml", what="policy", error=PolicyError)


def test_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert read_json(path, what="results") == {"a": 1}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f'{{"name": "{CANARY}",', "line 1, column"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_broken_json_gives_the_place_not_the_text(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match="'r.json' is not JSON") as info:
        read_json(path, what="results")
    assert where in str(info.value)
    assert CANARY not in str(info.value)
