"""A DICOM series is defaced in patient space and round-trips with only face pixels changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from deface_heads import head_grid, make_head
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.dicom_series import read_series
from deidkit.deface.geometry import RAS_TO_LPS, Grid
from deidkit.deface.templates import HeadTemplate


def write_series(folder: Path, volume: np.ndarray, grid: Grid) -> list[Path]:
    """Write ``volume[col, row, slice]`` as single-frame MR slices placed by ``grid``."""
    folder.mkdir(parents=True)
    lps = RAS_TO_LPS @ grid.affine
    zooms = grid.zooms
    row_dir, col_dir = lps[:3, 0] / zooms[0], lps[:3, 1] / zooms[1]
    study, series = generate_uid(prefix=None), generate_uid(prefix=None)
    paths = []
    stored = np.round(volume).astype(np.int16)
    order = np.random.default_rng(1).permutation(grid.shape[2])  # files not in slice order
    for n, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(prefix=None)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.Modality = "Doe^Jane", "MRN123", "MR"
        ds.InstanceNumber = int(k) + 1
        ds.ImagePositionPatient = [float(v) for v in (lps @ [0, 0, k, 1])[:3]]
        ds.ImageOrientationPatient = [float(v) for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [float(zooms[1]), float(zooms[0])]
        ds.SliceThickness = float(zooms[2])
        ds.Rows, ds.Columns = grid.shape[1], grid.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
        path = folder / f"IM{n:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_series_round_trip_only_face_pixels(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, orient="LPS", tilt_deg=15.0, zooms=(4.0, 4.0, 4.0))
    head, truth = make_head(template, grid)
    src = tmp_path / "in"
    paths = write_series(src / "series1", head, grid)
    before = {p.name: p.read_bytes() for p in paths}
    report = run_batch(src, tmp_path / "out", DefaceOptions())
    assert [r.status for r in report.results] == ["defaced"], report.results
    assert {p.name: p.read_bytes() for p in paths} == before  # input untouched
    out_paths = sorted((tmp_path / "out" / "series1").iterdir())
    assert [p.name for p in out_paths] == sorted(before)
    for path in out_paths:
        old, new = pydicom.dcmread(src / "series1" / path.name), pydicom.dcmread(path)
        assert new.file_meta == old.file_meta
        for elem in old:
            if elem.keyword != "PixelData":
                assert new[elem.tag] == elem, elem.keyword
        assert len(new) == len(old)
    # Rebuild the volumes through the reader: geometry equal, only face voxels changed.
    a = read_series(sorted((src / "series1").iterdir()))
    b = read_series(out_paths)
    np.testing.assert_allclose(a.grid.affine, grid.affine, atol=1e-4)
    np.testing.assert_allclose(b.grid.affine, a.grid.affine)
    changed = a.raw != b.raw
    assert not (changed & truth.brain).any()
    assert (changed & truth.face).sum() / truth.face.sum() > 0.9
