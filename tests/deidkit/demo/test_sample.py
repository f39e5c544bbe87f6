"""The synthetic PACS export: deterministic, complete, with PHI planted where promised."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import RLELossless
from scrub_helpers import find_canaries, read_tree

from deidkit.demo.sample import SAMPLE_UID_ROOT, SampleCorpus, generate_sample_corpus


def test_same_seed_same_bytes(tmp_path: Path, sample_corpus: SampleCorpus) -> None:
    again = generate_sample_corpus(tmp_path / "again")
    assert read_tree(again.root) == read_tree(sample_corpus.root)
    assert again.canaries == sample_corpus.canaries


def test_other_seed_other_uids(tmp_path: Path, sample_corpus: SampleCorpus) -> None:
    other = generate_sample_corpus(tmp_path / "other", seed=1, broken=False)
    assert read_tree(other.root) != read_tree(sample_corpus.root)


def test_every_canary_is_planted(sample_corpus: SampleCorpus) -> None:
    tree = read_tree(sample_corpus.root)
    assert set(find_canaries(tree, sample_corpus.canaries)) == set(sample_corpus.canaries)
    assert len(sample_corpus.canaries) > 50


def test_file_listing_matches_disk(sample_corpus: SampleCorpus) -> None:
    assert sorted(read_tree(sample_corpus.root)) == [f.path for f in sample_corpus.files]
    names = "/".join(f.path for f in sample_corpus.files)
    assert all(pid in names for pid in sample_corpus.patient_ids)  # PHI in paths on purpose


def test_expectations(sample_corpus: SampleCorpus) -> None:
    held = sample_corpus.expected_held_back
    assert sorted(set(held.values())) == ["burned_in", "empty", "not_dicom", "truncated"]
    assert list(sample_corpus.expected_skipped.values()) == ["dicomdir"]
    kinds = {f.kind for f in sample_corpus.files if f.expected == "release"}
    assert kinds >= {"CT", "MR", "MR-RLE", "CR", "DX", "SR", "RTSTRUCT", "SEG", "CT-NOMETA"}


def _read(corpus: SampleCorpus, kind: str) -> pydicom.Dataset:
    path = next(f.path for f in corpus.files if f.kind == kind)
    return pydicom.dcmread(corpus.root / path, force=True)


def test_planted_structures(sample_corpus: SampleCorpus) -> None:
    ct = _read(sample_corpus, "CT")
    assert ct.SOPInstanceUID.startswith(SAMPLE_UID_ROOT)
    assert ct.file_meta.SourceApplicationEntityTitle.startswith("CANARY")
    nested = ct.RequestAttributesSequence[0].ReferencedStudySequence[0]
    assert str(nested[0x0040A123].value).startswith("CANARY")  # PN three levels down
    assert ct.private_block(0x0019, "GEMS_ACQU_01")[0x23].value == "39.375"
    acme = ct.private_block(0x0029, "ACME IMAGING 1.0")
    assert acme[0x11].VR == "DA" and acme[0x12].VR == "SQ"
    rle = _read(sample_corpus, "MR-RLE")
    assert rle.file_meta.TransferSyntaxUID == RLELossless
    assert rle.pixel_array.shape == (32, 32)
    us = _read(sample_corpus, "US")
    assert us.BurnedInAnnotation == "YES"
    sr = _read(sample_corpus, "SR")
    inner = sr.ContentSequence[0].ContentSequence[0].ContentSequence[0]
    assert inner.ValueType == "PNAME"
    ref = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == ct.SeriesInstanceUID
    raw_bytes = (
        sample_corpus.root / next(f.path for f in sample_corpus.files if f.kind == "CT-NOMETA")
    ).read_bytes()
    assert raw_bytes[128:132] != b"DICM"


def test_cohort_mix(sample_corpus: SampleCorpus) -> None:
    datasets = [
        pydicom.dcmread(sample_corpus.root / f.path)
        for f in sample_corpus.files
        if f.kind in {"CT", "MR"}
    ]
    assert len({ds.Manufacturer for ds in datasets}) == 4
    assert len({ds.PatientSex for ds in datasets}) >= 2
    assert len({ds.InstitutionName for ds in datasets}) >= 2
    assert {str(ds.MagneticFieldStrength) for ds in datasets if ds.Modality == "MR"} == {"1.5", "3"}


def test_rejects_bad_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_sample_corpus(tmp_path, n_patients=0)
