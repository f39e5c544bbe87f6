"""The fast reader builds the same dataset as ``pydicom.dcmread(..., force=True)``."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset

import deidkit.scrub.codec.read as dicom_read
from deidkit.demo.sample import SampleCorpus
from deidkit.scrub.codec.read import read_dicom, read_sequence_value

_DATA_DIR = Path(str(get_testdata_file("CT_small.dcm"))).parent


def _raw_fields(elem: RawDataElement) -> tuple[Any, ...]:
    return (
        elem.VR,
        elem.length,
        elem.value,
        elem.value_tell,
        elem.is_implicit_VR,
        elem.is_little_endian,
    )


def _assert_same(a: Dataset, b: Dataset, where: str = "") -> None:
    assert list(a._dict) == list(b._dict), where
    assert a.original_encoding == b.original_encoding, where
    assert a.original_character_set == b.original_character_set, where
    for attr in ("is_undefined_length_sequence_item", "seq_item_tell", "file_tell"):
        assert getattr(a, attr, None) == getattr(b, attr, None), f"{where}{attr}"
    assert a._parent_encoding == b._parent_encoding, where
    for tag, elem in a._dict.items():
        other = b._dict[tag]
        here = f"{where}{tag}"
        assert type(elem) is type(other), here
        if isinstance(elem, RawDataElement):
            assert _raw_fields(elem) == _raw_fields(other), here
            continue
        assert (elem.VR, elem.is_undefined_length) == (other.VR, other.is_undefined_length)
        if elem.VR == "SQ":
            assert len(elem.value) == len(other.value), here
            for index, (x, y) in enumerate(zip(elem.value, other.value, strict=True)):
                _assert_same(x, y, f"{here}[{index}].")
        else:
            assert elem.value == other.value, here


def _meta_values(ds: Dataset) -> dict[int, Any]:
    # pydicom decodes one or two meta elements while reading: compare raw fields where both
    # are still raw, decoded values always
    meta = ds.file_meta
    raw = {int(t): _raw_fields(e) for t, e in meta._dict.items() if isinstance(e, RawDataElement)}
    values: dict[int, Any] = {}
    for tag in list(meta._dict):
        try:
            decoded = (meta[tag].VR, meta[tag].value)
        except Exception as exc:  # a damaged VR: both readers must fail alike
            decoded = (type(exc).__name__, None)
        values[int(tag)] = (*decoded, raw.get(int(tag)))
    return values


def _assert_same_meta(got: Dataset, expected: Dataset) -> None:
    got_meta, expected_meta = _meta_values(got), _meta_values(expected)
    assert list(got_meta) == list(expected_meta)
    for tag, (vr, value, raw) in expected_meta.items():
        assert got_meta[tag][:2] == (vr, value)
        assert raw is None or got_meta[tag][2] == raw


def _outcome(data: bytes, reader: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return reader(data)
    except Exception as exc:
        return type(exc).__name__


def _dcmread(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data), force=True)


def _compare(root: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    fast_hits: list[int] = []
    original = dicom_read._read_fast

    def counting(data: bytes) -> Any:
        result = original(data)
        fast_hits.append(result is not None)
        return result

    body_hits: list[int] = []
    original_body = dicom_read._read_body

    def counting_body(*args: Any) -> Any:
        result = original_body(*args)
        body_hits.append(result is not None)
        return result

    monkeypatch.setattr(dicom_read, "_read_fast", counting)
    monkeypatch.setattr(dicom_read, "_read_body", counting_body)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        expected, got = _outcome(data, _dcmread), _outcome(data, read_dicom)
        if isinstance(expected, str) or isinstance(got, str):
            assert got == expected, path.name
            continue
        assert got.preamble == expected.preamble, path.name
        _assert_same_meta(got, expected)
        assert (got.is_implicit_VR, got.is_little_endian) == (
            expected.is_implicit_VR,
            expected.is_little_endian,
        )
        _assert_same(got, expected, f"{path.name}:")
    # the slicing body reader took (nearly) every file the meta fast path took
    assert sum(body_hits) >= 0.9 * sum(fast_hits)
    return sum(fast_hits)


def test_same_dataset_as_dcmread_on_the_sample_export(
    sample_corpus: SampleCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _compare(sample_corpus.root, monkeypatch) > 20


def test_same_dataset_as_dcmread_on_pydicom_test_files(monkeypatch: pytest.MonkeyPatch) -> None:
    # implicit/explicit, big endian, deflate, no preamble, truncated and odd files
    assert _compare(_DATA_DIR, monkeypatch) > 60


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d[:150],  # cut inside the meta group
        lambda d: d[:-7],  # cut inside the body
        lambda d: d[:128] + b"DICX" + d[132:],  # no DICM prefix
        lambda d: d[:140] + b"\x00\x00" + d[142:],  # a VR that is not a VR
    ],
)
def test_damaged_files_behave_like_dcmread(mutate: Any) -> None:
    path = get_testdata_file("CT_small.dcm")
    assert path is not None
    data = mutate(Path(path).read_bytes())
    expected, got = _outcome(data, _dcmread), _outcome(data, read_dicom)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert not isinstance(got, str)
        _assert_same(got, expected)


_SEED_FILES = ("CT_small.dcm", "MR_small_RLE.dcm", "rtplan.dcm", "SC_rgb_jpeg_dcmtk.dcm")


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(_SEED_FILES),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=4000), st.binary(min_size=1, max_size=4)),
        min_size=1,
        max_size=4,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=132, max_value=6000)),
)
def test_mutated_files_read_like_dcmread(
    name: str, edits: list[tuple[int, bytes]], cut: int | None
) -> None:
    path = get_testdata_file(name)
    assert path is not None
    data = bytearray(Path(path).read_bytes())
    for offset, chunk in edits:
        data[offset : offset + len(chunk)] = chunk  # header bytes: tags, VRs, lengths
    mutated = bytes(data[:cut] if cut else data)
    expected, got = _outcome(mutated, _dcmread), _outcome(mutated, read_dicom)
    if isinstance(expected, str) or isinstance(got, str):
        assert got == expected
        return
    _assert_same(got, expected)
    _assert_same_meta(got, expected)


def _compare_sequences(ds: Dataset, where: str = "") -> tuple[int, int]:
    """Compare the fast sequence reader with pydicom's conversion for every raw SQ element."""
    fast_count = fallback = 0
    for tag, raw in list(ds._dict.items()):
        if not (isinstance(raw, RawDataElement) and raw.VR == "SQ"):
            continue
        encoding = ds.original_character_set or ds._character_set
        fast = read_sequence_value(raw, encoding)
        if fast is None:
            fallback += 1
            continue
        fast_count += 1
        expected = convert_raw_data_element(raw, encoding=encoding, ds=ds).value
        assert len(fast) == len(expected) and not fast.is_undefined_length, f"{where}{tag}"
        for index, (got, want) in enumerate(zip(fast, expected, strict=True)):
            _assert_same(got, want, f"{where}{tag}[{index}].")
            inner = _compare_sequences(got, f"{where}{tag}[{index}].")
            fast_count, fallback = fast_count + inner[0], fallback + inner[1]
    return fast_count, fallback


def test_sequences_read_like_pydicom_on_test_files_and_sample(
    sample_corpus: SampleCorpus,
) -> None:
    fast = fallback = 0
    for path in [*sorted(_DATA_DIR.rglob("*.dcm")), *sorted(sample_corpus.root.rglob("*"))]:
        if not path.is_file():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = read_dicom(path.read_bytes())
        except Exception:
            continue
        counts = _compare_sequences(ds, f"{path.name}:")
        fast, fallback = fast + counts[0], fallback + counts[1]
    assert fast > 100  # the fast reader takes the common case
    assert fallback > 0  # and leaves the unusual ones (undefined lengths) to pydicom


@settings(max_examples=80, deadline=None)
@given(
    name=st.sampled_from(("rtplan.dcm", "reportsi.dcm", "CT_small.dcm")),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=6000), st.binary(min_size=1, max_size=4)),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_sequences_read_like_pydicom(name: str, edits: list[tuple[int, bytes]]) -> None:
    path = get_testdata_file(name)
    assert path is not None
    data = bytearray(Path(path).read_bytes())
    for offset, chunk in edits:
        data[offset : offset + len(chunk)] = chunk
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_dicom(bytes(data))
    except Exception:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compare_sequences(ds)
