"""Tests of the encrypted linkage store: round trip, no plaintext, tamper, torn tail, locks."""

from __future__ import annotations

import multiprocessing
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deidkit.core.errors import KeyFileError, LinkageError
from deidkit.core.keys import ProjectKey, generate_key_file
from deidkit.core.pseudonym import date_offset_days, patient_pseudonym
from deidkit.pseudonymise.linkage import (
    HEADER_SIZE,
    LinkageCheck,
    LinkageEntry,
    LinkageStore,
    open_linkage,
    open_linkage_reader,
)

KEY = ProjectKey(secret=bytes(range(32)), source="test")
OTHER_KEY = ProjectKey(secret=bytes(range(1, 33)), source="test")
LINK_KEY = ProjectKey(secret=bytes(range(100, 132)), source="test")


def _patient_entries(patient_id: str) -> list[LinkageEntry]:
    return [
        LinkageEntry("PatientID", patient_id, patient_pseudonym(KEY, patient_id)),
        LinkageEntry("DateOffset", patient_id, str(date_offset_days(KEY, patient_id))),
    ]


def test_round_trip_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "release.dkl"
    first = LinkageStore(path, key=KEY)
    assert first.append(_patient_entries("MRN-0001")) == 2
    assert first.append(_patient_entries("MRN-0001")) == 0  # already written by this store
    second = LinkageStore(path, key=KEY)  # a later run
    second.append([LinkageEntry("AccessionNumber", "ACC-77", "A123")])
    entries = list(LinkageStore(path, key=KEY).entries())
    assert entries == [
        *_patient_entries("MRN-0001"),
        LinkageEntry("AccessionNumber", "ACC-77", "A123"),
    ]
    assert LinkageStore(path, key=KEY).check().records == 2


def test_lookup_returns_patient_and_offset_not_offset_matches(tmp_path: Path) -> None:
    store = LinkageStore(tmp_path / "l.dkl", key=KEY)
    store.append(_patient_entries("MRN-1") + _patient_entries("MRN-2"))
    pseudonym = patient_pseudonym(KEY, "MRN-1")
    found = store.lookup(pseudonym)
    assert [e.kind for e in found] == ["PatientID", "DateOffset"]
    assert {e.original for e in found} == {"MRN-1"}
    assert store.lookup(str(date_offset_days(KEY, "MRN-1"))) == []
    assert store.lookup("PNOTTHERE") == []
    # A writer that keys DateOffset by the patient pseudonym is understood as well.
    other = LinkageStore(tmp_path / "m.dkl", key=KEY)
    other.append(
        [LinkageEntry("PatientID", "MRN-3", "PX"), LinkageEntry("DateOffset", "PX", "-400")]
    )
    assert [e.kind for e in other.lookup("PX")] == ["PatientID", "DateOffset"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    originals=st.lists(
        st.text(
            alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=6, max_size=20
        ),
        min_size=1,
        max_size=8,
        unique=True,
    )
)
def test_no_plaintext_original_in_bytes(tmp_path: Path, originals: list[str]) -> None:
    path = tmp_path / "canary.dkl"
    path.unlink(missing_ok=True)
    store = LinkageStore(path, key=KEY)
    store.append(LinkageEntry("PatientName", o, patient_pseudonym(KEY, o)) for o in originals)
    data = path.read_bytes()
    for original in originals:
        assert original.encode("utf-8") not in data
    assert sorted(e.original for e in store.entries()) == sorted(originals)


def test_wrong_key_and_separate_linkage_key(tmp_path: Path) -> None:
    path = tmp_path / "l.dkl"
    LinkageStore(path, key=KEY).append(_patient_entries("MRN-9"))
    with pytest.raises(LinkageError, match="does not open it"):
        list(LinkageStore(path, key=OTHER_KEY).entries())

    separate = tmp_path / "sep.dkl"
    LinkageStore(separate, key=KEY, linkage_key=LINK_KEY).append(_patient_entries("MRN-9"))
    # The project key alone cannot re-identify when a separate linkage key was used.
    with pytest.raises(LinkageError, match="separate linkage key"):
        LinkageStore(separate, key=KEY).check()
    reader = LinkageStore(separate, key=OTHER_KEY, linkage_key=LINK_KEY)
    assert len(list(reader.entries())) == 2
    # ...but appending pseudonyms of another project into it is refused.
    with pytest.raises(LinkageError, match="different project key"):
        reader.append([LinkageEntry("PatientID", "x", "y")])


def test_not_a_linkage_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"patient list\n" * 10)
    with pytest.raises(LinkageError, match="not a deidkit linkage file"):
        list(LinkageStore(path, key=KEY).entries())
    with pytest.raises(LinkageError, match="not a deidkit linkage file"):
        LinkageStore(path, key=KEY).append(_patient_entries("MRN-1"))
    assert path.read_bytes() == b"patient list\n" * 10


def _two_records(tmp_path: Path) -> Path:
    path = tmp_path / "l.dkl"
    LinkageStore(path, key=KEY).append(_patient_entries("MRN-1"))
    LinkageStore(path, key=KEY).append(_patient_entries("MRN-2"))
    return path


@pytest.mark.parametrize("where", ["header", "length", "nonce", "ciphertext", "tag"])
def test_tamper_is_rejected(tmp_path: Path, where: str) -> None:
    path = _two_records(tmp_path)
    data = bytearray(path.read_bytes())
    first_len = struct.unpack(">I", data[HEADER_SIZE : HEADER_SIZE + 4])[0]
    position = {
        "header": 20,
        "length": HEADER_SIZE + 3,
        "nonce": HEADER_SIZE + 10,
        "ciphertext": HEADER_SIZE + 8 + 12 + 2,
        "tag": HEADER_SIZE + 8 + first_len - 1,
    }[where]
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(LinkageError):
        list(LinkageStore(path, key=KEY).entries())
    if where == "header":  # the key check fails: nothing at all can be read
        with pytest.raises(LinkageError, match="does not open it"):
            LinkageStore(path, key=KEY).check()
    else:  # the first record is damaged: check counts none and says so
        report = LinkageStore(path, key=KEY).check()
        assert (report.problem, report.records, report.stopped_at_record) == ("damaged", 0, 0)


def test_reordered_records_are_rejected(tmp_path: Path) -> None:
    path = _two_records(tmp_path)
    data = path.read_bytes()
    first_len = struct.unpack(">I", data[HEADER_SIZE : HEADER_SIZE + 4])[0]
    cut = HEADER_SIZE + 8 + first_len
    path.write_bytes(data[:HEADER_SIZE] + data[cut:] + data[HEADER_SIZE:cut])
    with pytest.raises(LinkageError, match="failed authentication"):
        list(LinkageStore(path, key=KEY).entries())
    assert LinkageStore(path, key=KEY).check().problem == "damaged"


def test_record_copied_into_another_file_is_rejected(tmp_path: Path) -> None:
    source = _two_records(tmp_path)
    other = tmp_path / "other.dkl"
    LinkageStore(other, key=KEY).append(_patient_entries("MRN-3"))
    record = source.read_bytes()[HEADER_SIZE:]
    other.write_bytes(other.read_bytes()[:HEADER_SIZE] + record)
    with pytest.raises(LinkageError, match="failed authentication"):
        list(LinkageStore(other, key=KEY).entries())
    assert LinkageStore(other, key=KEY).check().damage is not None


def test_torn_tail_is_reported_and_earlier_records_survive(tmp_path: Path) -> None:
    path = _two_records(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-5])  # a crash in the middle of the second append
    store = LinkageStore(path, key=KEY)
    report = store.check()
    assert report.records == 1 and report.torn_tail_bytes > 0
    assert (report.complete, report.problem, report.stopped_at_record) == (False, "truncated", 1)
    assert [e.original for e in store.entries()] == ["MRN-1", "MRN-1"]
    # The next append drops the unacknowledged torn record and stays readable.
    LinkageStore(path, key=KEY).append(_patient_entries("MRN-3"))
    report = LinkageStore(path, key=KEY).check()
    assert (report.records, report.entries, report.torn_tail_bytes) == (2, 4, 0)
    assert report.complete and report.stopped_at_record is None


def test_check_counts_the_records_before_damage(tmp_path: Path) -> None:
    path = _two_records(tmp_path)
    LinkageStore(path, key=KEY).append(_patient_entries("MRN-3"))
    data = bytearray(path.read_bytes())
    first_len = struct.unpack(">I", data[HEADER_SIZE : HEADER_SIZE + 4])[0]
    second = HEADER_SIZE + 8 + first_len
    data[second] ^= 0x40  # the second record's length: damage, not a torn tail
    path.write_bytes(bytes(data))
    report = LinkageStore(path, key=KEY).check()
    assert (report.records, report.entries) == (1, 2)
    assert (report.problem, report.stopped_at_record) == ("damaged", 1)
    assert f"byte {second}" in (report.damage or "") and "MRN" not in (report.damage or "")


def test_header_only_file_has_no_records(tmp_path: Path) -> None:
    path = _two_records(tmp_path)
    path.write_bytes(path.read_bytes()[:HEADER_SIZE])  # cut right after the header
    report = LinkageStore(path, key=KEY).check()
    assert (report.records, report.problem, report.stopped_at_record) == (0, "no_records", 0)
    assert not report.complete


def test_modified_length_is_damage_not_a_torn_tail(tmp_path: Path) -> None:
    path = _two_records(tmp_path)
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE] ^= 0x40  # the first record now claims far more bytes than exist
    path.write_bytes(bytes(data))
    with pytest.raises(LinkageError, match="failed authentication"):
        list(LinkageStore(path, key=KEY).entries())
    assert "failed authentication" in (LinkageStore(path, key=KEY).check().damage or "")
    with pytest.raises(LinkageError):  # an append must not "repair" it by truncating
        LinkageStore(path, key=KEY).append(_patient_entries("MRN-3"))
    assert path.read_bytes() == bytes(data)


def test_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    path = _two_records(tmp_path)
    path.write_bytes(path.read_bytes() + bytes(64))  # pages allocated, data never written
    report = LinkageStore(path, key=KEY).check()
    assert (report.records, report.torn_tail_bytes) == (2, 64)
    assert report.problem == "truncated"


def test_torn_header_is_restarted(tmp_path: Path) -> None:
    path = tmp_path / "l.dkl"
    path.write_bytes(b"DKLINK")  # crash while the very first header was written
    assert LinkageStore(path, key=KEY).check().entries == 0
    LinkageStore(path, key=KEY).append(_patient_entries("MRN-1"))
    assert LinkageStore(path, key=KEY).check().entries == 2


def _worker(path: str, worker: int, batches: int) -> None:
    store = LinkageStore(Path(path), key=KEY)
    for i in range(batches):
        store.append([LinkageEntry("PatientID", f"W{worker}-{i}", f"P{worker}{i}")])


def test_two_processes_append_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "parallel.dkl"
    context = multiprocessing.get_context("fork")
    batches = 40
    procs = [context.Process(target=_worker, args=(str(path), w, batches)) for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    originals = {e.original for e in LinkageStore(path, key=KEY).entries()}
    assert originals == {f"W{w}-{i}" for w in range(2) for i in range(batches)}
    assert LinkageStore(path, key=KEY).check().records == 2 * batches


def test_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "l.dkl"
    LinkageStore(path, key=KEY).append(_patient_entries("MRN-1"))
    assert path.stat().st_mode & 0o077 == 0


def test_entry_and_check_json() -> None:
    entry = LinkageEntry("PatientID", "MRN-1", "P1")
    assert entry.as_dict() == {"kind": "PatientID", "original": "MRN-1", "pseudonym": "P1"}
    assert list(entry.as_dict()) == ["kind", "original", "pseudonym"]
    check = LinkageCheck(records=2, entries=5, torn_tail_bytes=3)
    assert check.to_json() == {
        "records": 2,
        "entries": 5,
        "torn_tail_bytes": 3,
        "complete": False,
        "problem": "truncated",
        "stopped_at_record": 2,
    }
    intact = LinkageCheck(records=2, entries=5, torn_tail_bytes=0).to_json()
    assert (intact["complete"], intact["problem"], intact["stopped_at_record"]) == (
        True,
        None,
        None,
    )


def test_open_linkage_with_derived_or_separate_key(tmp_path: Path) -> None:
    linkage_key = tmp_path / "linkage.key"
    separate = generate_key_file(linkage_key)
    path = tmp_path / "l.dkl"
    store = open_linkage(path, key=KEY, linkage_key_file=linkage_key)
    assert not path.exists()  # opening reads nothing
    store.append(_patient_entries("MRN-1"))
    with pytest.raises(LinkageError, match="separate linkage key"):
        open_linkage(path, key=KEY).check()
    assert LinkageStore(path, key=KEY, linkage_key=separate).check().entries == 2
    with pytest.raises(KeyFileError):
        open_linkage(path, key=KEY, linkage_key_file=tmp_path / "missing.key")


def test_open_linkage_reader_needs_a_key_that_encrypts(tmp_path: Path) -> None:
    project_file, linkage_file = tmp_path / "project.key", tmp_path / "linkage.key"
    project, separate = generate_key_file(project_file), generate_key_file(linkage_file)
    derived, split = tmp_path / "derived.dkl", tmp_path / "split.dkl"
    LinkageStore(derived, key=project).append(_patient_entries("MRN-1"))
    LinkageStore(split, key=project, linkage_key=separate).append(_patient_entries("MRN-2"))
    assert open_linkage_reader(derived, key_file=project_file, env={}).check().entries == 2
    env = {"DEIDKIT_KEY": project.secret.hex()}
    assert open_linkage_reader(derived, env=env).check().entries == 2
    # a separate linkage key reads without the project key
    assert open_linkage_reader(split, linkage_key_file=linkage_file, env={}).check().entries == 2
    with pytest.raises(KeyFileError, match="no key given"):
        open_linkage_reader(derived, env={})
