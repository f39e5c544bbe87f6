"""Input discovery: deterministic walk, and a reason code for every way a file can fail."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from deidkit.core.errors import InputFileError, UsageError
from deidkit.demo.sample import SampleCorpus
from deidkit.scrub.inputs import is_dicomdir_name, iter_input_files, read_input


def _reason(data: bytes) -> str:
    with pytest.raises(InputFileError) as info:
        read_input(data)
    return info.value.reason


def test_walk_is_sorted_and_complete(sample_corpus: SampleCorpus) -> None:
    found = [f.relpath for f in iter_input_files(sample_corpus.root)]
    assert found == [f.path for f in sample_corpus.files]
    assert found == sorted(found)


def test_walk_ignores_creation_order(tmp_path: Path) -> None:
    for name in ["b/2", "a/1", "b/1", "c"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [f.relpath for f in iter_input_files(tmp_path)] == ["a/1", "b/1", "b/2", "c"]


def test_walk_single_file_and_missing(tmp_path: Path) -> None:
    (tmp_path / "one.dcm").write_bytes(b"x")
    assert [f.relpath for f in iter_input_files(tmp_path / "one.dcm")] == ["one.dcm"]
    with pytest.raises(UsageError):
        list(iter_input_files(tmp_path / "missing"))


def test_broken_kinds_have_reasons(sample_corpus: SampleCorpus) -> None:
    for sample in sample_corpus.files:
        data = (sample_corpus.root / sample.path).read_bytes()
        if sample.expected in {"empty", "not_dicom", "truncated", "dicomdir"}:
            assert _reason(data) == sample.expected, sample.kind
        else:
            assert read_input(data).SOPInstanceUID


def test_raw_dataset_without_meta_is_read(sample_corpus: SampleCorpus) -> None:
    raw = next(f for f in sample_corpus.files if f.kind == "CT-NOMETA")
    ds = read_input((sample_corpus.root / raw.path).read_bytes())
    assert ds.Modality == "CT" and "PixelData" in ds


def _ct_bytes(corpus: SampleCorpus) -> bytes:
    ct = next(f for f in corpus.files if f.kind == "CT")
    return (corpus.root / ct.path).read_bytes()


def test_truncation_anywhere_is_caught(sample_corpus: SampleCorpus) -> None:
    data = _ct_bytes(sample_corpus)
    ds = pydicom.dcmread(io.BytesIO(data))
    pixel_offset = data.rfind(b"\xe0\x7f\x10\x00")  # (7FE0,0010) tag
    # Inside the pixel data, inside the header: the file ends inside an element.
    for cut in (len(data) - 10, 400):
        assert _reason(data[:cut]) in {"truncated", "unreadable"}, cut
    assert read_input(data).SOPInstanceUID == ds.SOPInstanceUID
    # Exactly before Pixel Data (an element boundary) the rest is a complete dataset without
    # pixels, which real files are too (CSA headers): read, not called truncated.
    assert "PixelData" not in read_input(data[:pixel_offset])


def test_image_attributes_without_pixel_data_are_not_truncated() -> None:
    from pydicom.data import get_charset_files

    path = get_charset_files("chrJapMulti.dcm")[0]
    ds = read_input(Path(path).read_bytes())
    assert "Rows" in ds and "PixelData" not in ds


def test_garbage_and_text() -> None:
    assert _reason(b"") == "empty"
    assert _reason(b"hello world, this is not DICOM\n" * 10) == "not_dicom"
    assert _reason(b"\x00" * 128 + b"DICM" + b"\xff" * 50) in {"unreadable", "missing_uids"}


def test_dicomdir_name() -> None:
    assert is_dicomdir_name("a/b/DICOMDIR") and is_dicomdir_name("dicomdir")
    assert not is_dicomdir_name("a/DICOMDIR.dcm")


def test_big_endian_dataset_without_meta_is_read() -> None:
    # Explicit VR big endian, no preamble and no file meta (pydicom ships one): DICOM, not
    # "not_dicom" (the raw-dataset sniffing used to read the first tag little endian only).
    from pydicom.data import get_testdata_file

    path = get_testdata_file("ExplVR_BigEndNoMeta.dcm")
    assert isinstance(path, str)
    ds = read_input(Path(path).read_bytes())
    assert ds.SOPInstanceUID and ds.Modality
