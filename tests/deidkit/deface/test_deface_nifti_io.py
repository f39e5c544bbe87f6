"""NIfTI writing keeps geometry, dtype and scaling; header text and sidecars are scrubbed."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from deidkit.deface import scrub_nifti_header, scrub_sidecar
from deidkit.deface.errors import UnsupportedImageError
from deidkit.deface.nifti_io import image_bytes, load_nifti, raw_data, slope_inter


def _image(tmp_path: Path) -> Path:
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    affine = np.array([[-2.0, 0, 0, 10], [0, 0, 3.0, -5], [0, -1.5, 0, 7], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=2)
    img.header.set_slope_inter(0.25, -3.0)
    for field, value in [
        ("descrip", b"Doe^Jane"),
        ("aux_file", b"x.img"),
        ("intent_name", b"JD"),
        ("db_name", b"site"),
    ]:
        img.header[field] = value
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"Patient Doe^Jane"))
    path = tmp_path / "a.nii"
    nib.save(img, path)
    return path


def test_scrub_header_keeps_geometry_and_scaling(tmp_path: Path) -> None:
    img = load_nifti(_image(tmp_path))
    clean = scrub_nifti_header(img)
    for field in ("descrip", "aux_file", "intent_name", "db_name"):
        assert clean.header[field].tobytes().strip(b"\0") == b""
    assert len(clean.header.extensions) == 0
    data = image_bytes(img, gz=False)
    assert b"Doe^Jane" not in data
    out = tmp_path / "b.nii"
    out.write_bytes(data)
    back = nib.load(out)
    np.testing.assert_array_equal(raw_data(back), raw_data(img))
    assert slope_inter(back) == (0.25, -3.0)
    np.testing.assert_allclose(back.header.get_qform(), img.header.get_qform())
    np.testing.assert_allclose(back.header.get_sform(), img.header.get_sform())
    assert int(back.header["sform_code"]) == 2
    assert back.get_data_dtype() == np.int16


def test_gz_output_is_deterministic(tmp_path: Path) -> None:
    img = load_nifti(_image(tmp_path))
    assert image_bytes(img, gz=True) == image_bytes(img, gz=True)


def test_bad_files_raise_typed_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.nii"
    bad.write_bytes(b"not a nifti")
    with pytest.raises(UnsupportedImageError, match="x.nii"):
        load_nifti(bad)
    with pytest.raises(UnsupportedImageError):
        load_nifti(tmp_path / "x.hdr")


def test_scrub_sidecar_drops_identifying_keys() -> None:
    sidecar = {
        "RepetitionTime": 2.3,
        "AcquisitionDateTime": "2020-01-02T10:00:00",
        "InstitutionName": "General Hospital",
        "InstitutionAddress": "1 Main St",
        "DeviceSerialNumber": "12345",
        "StationName": "MR1",
        "PatientName": "Doe^Jane",
        "Nested": {"StudyDate": "20200102", "EchoTime": 0.003},
        "Manufacturer": "Siemens",
    }
    clean = scrub_sidecar(sidecar)
    assert clean == {
        "RepetitionTime": 2.3,
        "Nested": {"EchoTime": 0.003},
        "Manufacturer": "Siemens",
    }
    assert "InstitutionName" in sidecar  # input not mutated
