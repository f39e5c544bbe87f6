"""Mutation fuzzing: every mutated input is released (and re-reads) or held back with a reason.

The batch never dies and never leaves a partial file, whatever the bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrub_helpers import read_tree

from deidkit.core.keys import ProjectKey
from deidkit.demo.sample import SampleCorpus
from deidkit.rules.profile import load_profile
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, scrub_tree

KNOWN_REASONS = {
    "empty",
    "not_dicom",
    "truncated",
    "unreadable",
    "missing_uids",
    "burned_in",
    "scrub_error",
    "encode_error",
    "write_error",
    "output_conflict",
    "invalid_new_identifiers",
    "internal_error",
}
KINDS = ["CT", "MR-RLE", "SR", "SEG", "RTSTRUCT", "CT-NOMETA", "US"]


@st.composite
def mutations(draw: Any) -> tuple[str, list[tuple[str, int, bytes]]]:
    """A file kind plus 1-4 edits: flip a byte, truncate, insert or delete bytes."""
    kind = draw(st.sampled_from(KINDS))
    edits = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["flip", "truncate", "insert", "delete"]),
                st.integers(0, 2**20),
                st.binary(min_size=1, max_size=8),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return kind, edits


def _mutate(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for op, position, payload in edits:
        if not buf:
            break
        # Bias positions towards the header, where the structure lives.
        pos = position % min(len(buf), 2048) if position % 3 else position % len(buf)
        if op == "flip":
            buf[pos] ^= payload[0] or 0xFF
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = payload
        else:
            del buf[pos : pos + len(payload)]
    return bytes(buf)


def _file(corpus: SampleCorpus, kind: str) -> bytes:
    sample = next(f for f in corpus.files if f.kind == kind)
    return (corpus.root / sample.path).read_bytes()


def _check(out: Path, outcomes: dict[str, Any]) -> None:
    tree = read_tree(out)
    assert not [p for p in tree if p.endswith(".part") or "/.tmp-" in p]
    released = [o for o in outcomes.values() if o["status"] in {"written", "unchanged"}]
    assert len(tree) == len(released)
    for outcome in outcomes.values():
        if outcome["status"] in {"written", "unchanged"}:
            ds = pydicom.dcmread(out / outcome["output"])  # strict read of the output
            ds.PatientIdentityRemoved  # noqa: B018 - must be present
        else:
            assert outcome["status"] in {"held_back", "skipped"}
            assert outcome["reason"] in KNOWN_REASONS


def _run(src: Path, out: Path, key: ProjectKey, workers: int) -> dict[str, Any]:
    outcomes: dict[str, Any] = {}
    summary = scrub_tree(
        src,
        out,
        settings=ScrubSettings(profile=load_profile("basic"), key=key),
        options=RunOptions(workers=workers, chunk_size=4),
        on_outcome=lambda o: outcomes.__setitem__(o.source, o.log_record()),
    )
    assert summary.counts["found"] == len(outcomes)
    return outcomes


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutations())
def test_mutated_file_is_released_or_held_back(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path_factory: Any, case: Any
) -> None:
    kind, edits = case
    base = tmp_path_factory.mktemp("fuzz")
    src = base / "in"
    src.mkdir()
    (src / "mutated.dcm").write_bytes(_mutate(_file(small_corpus, kind), edits))
    out = base / "out"
    _check(out, _run(src, out, project_key, workers=1))


@pytest.mark.parametrize("workers", [2])
def test_batch_of_mutants_survives_in_pool(
    small_corpus: SampleCorpus, project_key: ProjectKey, tmp_path: Path, workers: int
) -> None:
    import random

    rng = random.Random(7)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(40):
        kind = KINDS[i % len(KINDS)]
        edits = [(rng.choice(["flip", "truncate", "insert", "delete"]), rng.randrange(2**20),
                  bytes([rng.randrange(256)])) for _ in range(rng.randint(1, 3))]  # fmt: skip
        (src / f"m{i:02d}.dcm").write_bytes(_mutate(_file(small_corpus, kind), edits))
    out = tmp_path / "out"
    outcomes = _run(src, out, project_key, workers=workers)
    assert len(outcomes) == 40
    _check(out, outcomes)
    assert os.listdir(tmp_path) and not list(tmp_path.glob("*.part"))
