"""Shared fixtures for deidkit tests: a sample PACS export, keys, tree helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deidkit.core.keys import ProjectKey, generate_key_file
from deidkit.demo.sample import SampleCorpus, generate_sample_corpus

TEST_SECRET = bytes(range(32))


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory) -> SampleCorpus:
    """The default sample export (4 patients, broken files). Read-only: never write into it."""
    return generate_sample_corpus(tmp_path_factory.mktemp("sample") / "export")


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> SampleCorpus:
    """A two-patient export with broken files, for tests that scrub many times."""
    return generate_sample_corpus(
        tmp_path_factory.mktemp("small") / "export", n_patients=2, instances_per_series=2
    )


@pytest.fixture
def project_key() -> ProjectKey:
    """A fixed test key (never use a fixed key outside tests)."""
    return ProjectKey(secret=TEST_SECRET, source="test")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A fresh key file with mode 0600."""
    path = tmp_path / "keys" / "project.key"
    generate_key_file(path)
    return path


@pytest.fixture
def memory() -> Iterator[tuple[Any, str]]:
    """fsspec's memory file system and a fresh root in it, removed afterwards."""
    fsspec = pytest.importorskip("fsspec", reason="needs the 'cloud' extra (fsspec)")
    fs = fsspec.filesystem("memory")
    root = f"/t{uuid.uuid4().hex}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)
