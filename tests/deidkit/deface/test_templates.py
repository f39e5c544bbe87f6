"""The vendored deface templates: the files, their licences, and no pydeface or nilearn."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deidkit.deface import templates
from deidkit.deface.templates import (
    FACE_MASK_FILE,
    MEAN_HEAD_FILE,
    MNI_T1_FILE,
    TEMPLATE_DIR,
    template_file,
)

FILES = (MEAN_HEAD_FILE, FACE_MASK_FILE, MNI_T1_FILE)
# Where the copies came from, for the check against an installed original.
ORIGINS = {
    MEAN_HEAD_FILE: ("pydeface", "data"),
    FACE_MASK_FILE: ("pydeface", "data"),
    MNI_T1_FILE: ("nilearn", "datasets/data"),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_file_has_the_hash_its_readme_records() -> None:
    readme = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    for name in FILES:
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        recorded = re.findall(r"`([0-9a-f]{64})`", row)
        assert recorded == [_sha256(template_file(name))], name


def test_the_licences_are_shipped_beside_the_files() -> None:
    texts = {p.name: p.read_text(encoding="utf-8") for p in TEMPLATE_DIR.glob("LICENSE-*")}
    assert "MIT License" in texts["LICENSE-pydeface.txt"]
    assert "Redistribution and use in source and binary forms" in texts["LICENSE-nilearn.txt"]
    assert "Louis Collins" in texts["LICENSE-MNI-ICBM152.txt"]
    total = sum(template_file(name).stat().st_size for name in FILES)
    assert total < 11_000_000  # the wheel's share: keep an eye on it


@pytest.mark.parametrize("name", FILES)
def test_a_copy_equals_the_original_where_that_package_is_installed(name: str) -> None:
    package, folder = ORIGINS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        pytest.skip(f"{package} is not installed (it is not a dependency any more)")
    original = Path(spec.origin).parent / folder / name
    assert _sha256(original) == _sha256(template_file(name))


def test_a_missing_file_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="'nope.nii.gz' is missing"):
        template_file("nope.nii.gz")


def test_the_templates_load_with_pydeface_and_nilearn_unimportable(tmp_path: Path) -> None:
    # A meta-path hook refuses both packages, as on an install that has neither.
    code = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in ('pydeface', 'nilearn'):\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "from deidkit.deface.methods import get_method\n"
        "from deidkit.deface.templates import load_template\n"
        "t = load_template()\n"
        "assert t.head.shape == t.face.shape == (176, 256, 256), t.head.shape\n"
        "assert t.brain.shape == (197, 233, 189) and 0.05 < t.brain.mean() < 0.5\n"
        "assert 0 < t.face.mean() < 0.2\n"
        "assert get_method('auto').name == 'mask'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
    assert templates.TEMPLATE_DIR.name == "data"
