"""The shipped-data resolver works in the source tree and from an installed wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deidkit.core.resources import data_file, shipped_dir

REPO = Path(__file__).resolve().parents[3]


def test_source_layout_finds_top_level_folders() -> None:
    assert shipped_dir("profiles") == REPO / "profiles"
    assert shipped_dir("reports") == REPO / "reports"


def test_vendored_tables_present() -> None:
    assert data_file("ps3.15-e1-1.json").stat().st_size > 100_000
    with pytest.raises(FileNotFoundError):
        data_file("no-such-table.json")


def test_unknown_folder_is_an_error() -> None:
    with pytest.raises(FileNotFoundError):
        shipped_dir("no-such-folder")


@pytest.mark.slow
def test_wheel_ships_profiles_reports_and_tables(tmp_path: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {build.stderr[-300:]}")
    wheel = next((tmp_path / "dist").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "deidkit/data/ps3.15-e1-1.json" in names
    assert any(n.startswith("deidkit/_shipped/profiles/") for n in names)
    assert any(n.startswith("deidkit/_shipped/reports/") for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    probe = (
        "from deidkit.core.resources import shipped_dir, data_file;"
        "print(shipped_dir('profiles')); print(data_file('ps3.15-e1-1.json'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    ).stdout.split()
    assert Path(out[0]).is_relative_to(target)
    assert Path(out[0]).name == "profiles"
    assert Path(out[1]).is_relative_to(target)
