"""Instance-declared safe private elements (0008,0300) under Retain Safe Private."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from verify_support import Pair, build_pair

from deidkit.verify.private import declared_safe_private, element_safe
from deidkit.verify.release import verify_release

CREATOR = "ACME 1.0"  # not on Table E.3.10-1


def _declaration(status: str, elements: list[int] | None = None, group: int = 0x0029) -> Dataset:
    item = Dataset()
    item.add_new(0x00080301, "US", group)
    item.add_new(0x00080302, "LO", CREATOR)
    item.add_new(0x00080303, "CS", status)
    if elements is not None:
        item.add_new(0x00080304, "US", elements)
    return item


def _with(*items: Dataset) -> Dataset:
    ds = Dataset()
    ds.add_new(0x00080300, "SQ", Sequence(list(items)))
    return ds


def test_declarations_follow_block_status() -> None:
    assert declared_safe_private(_with(_declaration("SAFE"))) == {(0x0029, CREATOR, None)}
    mixed = declared_safe_private(_with(_declaration("MIXED", [0x10, 0x1012])))
    assert mixed == {(0x0029, CREATOR, 0x10), (0x0029, CREATOR, 0x12)}
    assert declared_safe_private(_with(_declaration("UNSAFE", [0x10]))) == frozenset()
    assert declared_safe_private(Dataset()) == frozenset()
    # An even (standard) group or a missing creator declares nothing.
    assert declared_safe_private(_with(_declaration("SAFE", group=0x0010))) == frozenset()
    assert element_safe(mixed, CREATOR, 0x0029, 0x10)
    assert not element_safe(mixed, CREATOR, 0x0029, 0x11)
    assert not element_safe(mixed, "OTHER", 0x0029, 0x10)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return build_pair(tmp_path_factory.mktemp("pristine"))


def _release_with_block(pristine: Pair, tmp: Path, declaration: Dataset | None) -> Path:
    release = tmp / "release"
    shutil.copytree(pristine.release, release)
    for source in pristine.release_files:
        path = release / source.relative_to(pristine.release)
        ds = pydicom.dcmread(path)
        ds.add_new(0x00290010, "LO", CREATOR)
        ds.add_new(0x00291010, "LO", "AXIAL 3MM")
        ds.add_new(0x00291011, "LO", "QUALITY OK")
        if declaration is not None:
            ds.add_new(0x00080300, "SQ", Sequence([declaration]))
        ds.save_as(path)
    return release


def _private_paths(release: Path, profile: Path | str) -> list[str]:
    result = verify_release(release, profile=profile, workers=1)
    data = json.loads(json.dumps(result.to_json()))
    return sorted({f["tag_path"] for f in data["findings"] if f["check"] == "private-element"})


def test_declared_safe_block_is_accepted_only_with_retain_safe_private(
    pristine: Pair, tmp_path: Path
) -> None:
    profile = tmp_path / "safe.yaml"
    profile.write_text("name: safe\nextends: basic\noptions: [retain_safe_private]\n")
    release = _release_with_block(pristine, tmp_path, _declaration("SAFE"))
    assert _private_paths(release, profile) == []
    # The basic profile keeps no private element, declared or not.
    assert _private_paths(release, "basic") == ["(0029,0010)", "(0029,1010)", "(0029,1011)"]


def test_mixed_block_accepts_only_the_listed_elements(pristine: Pair, tmp_path: Path) -> None:
    profile = tmp_path / "safe.yaml"
    profile.write_text("name: safe\nextends: basic\noptions: [retain_safe_private]\n")
    release = _release_with_block(pristine, tmp_path, _declaration("MIXED", [0x10]))
    assert _private_paths(release, profile) == ["(0029,1011)"]


def test_undeclared_block_is_flagged(pristine: Pair, tmp_path: Path) -> None:
    profile = tmp_path / "safe.yaml"
    profile.write_text("name: safe\nextends: basic\noptions: [retain_safe_private]\n")
    release = _release_with_block(pristine, tmp_path, None)
    assert _private_paths(release, profile) == ["(0029,0010)", "(0029,1010)", "(0029,1011)"]
