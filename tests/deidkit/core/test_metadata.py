"""The shared NIfTI-header rules (deface and pseudonymise --bids both use them).

The sidecar rules are the profile's, tested in ``tests/deidkit/rules/test_sidecars.py``.
"""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from deidkit.core.metadata import image_bytes, nifti_bytes, scrub_nifti_header


def _image(nifti2: bool = False) -> nib.Nifti1Image:
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    image = cls(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([2.0, 2.0, 2.0, 1.0]))
    header = image.header
    header["descrip"] = b"Doe^Jane"
    header["aux_file"] = b"Doe^Jane"
    header["intent_name"] = b"Doe^Jane"
    header["unused_str" if nifti2 else "data_type"] = b"Doe^Jane"
    if not nifti2:
        header["db_name"] = b"Doe^Jane"
    header.extensions.append(nib.nifti1.Nifti1Extension(6, b"Doe^Jane"))
    return image


@pytest.mark.parametrize("nifti2", [False, True])
def test_every_text_field_and_extension_is_emptied(nifti2: bool) -> None:
    image = _image(nifti2)
    assert b"Doe^Jane" in image.header.binaryblock
    clean = scrub_nifti_header(image)
    assert b"Doe^Jane" not in clean.header.binaryblock and len(clean.header.extensions) == 0
    data = gzip.decompress(image_bytes(image, gz=True))
    assert b"Doe^Jane" not in data
    assert data[-48:] == np.arange(24, dtype=np.int16).reshape(2, 3, 4).tobytes(order="F")


def test_gzip_member_has_no_name_or_time() -> None:
    data = image_bytes(_image(), gz=True)
    flags, mtime = data[3], data[4:8]
    assert flags & 0x08 == 0 and mtime == b"\0\0\0\0"  # FNAME unset: no input name travels


def test_voxels_of_another_shape_are_refused() -> None:
    image = _image()
    with pytest.raises(ValueError, match="shape"):
        nifti_bytes(image.header, np.zeros((2, 2, 2), np.int16), scaling=(1.0, 0.0), gz=False)
