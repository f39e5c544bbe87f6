"""Decoding errors say whether a plugin is missing or the stream is damaged."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import MPEG2MPML

from deidkit.core.errors import PixelDataError
from deidkit.pixels.frames import decode_frames, layout_of


def _read(name: str) -> pydicom.Dataset:
    path = get_testdata_file(name)
    assert path is not None
    return pydicom.dcmread(path)


def test_a_damaged_stream_is_not_blamed_on_missing_plugins() -> None:
    ds = _read("JPEG-lossy.dcm")  # pydicom's 12-bit JPEG Extended that no plugin here reads
    with pytest.raises(PixelDataError) as caught:
        decode_frames(ds, layout_of(ds))
    assert caught.value.reason == "undecodable"
    assert "install pylibjpeg" not in str(caught.value)
    assert "could not decode" in str(caught.value)


def test_a_syntax_without_a_decoder_names_what_to_install() -> None:
    ds = _read("JPEG2000.dcm")
    ds.file_meta.TransferSyntaxUID = MPEG2MPML  # video: pydicom has no decoder for it
    with pytest.raises(PixelDataError) as caught:
        decode_frames(ds, layout_of(ds))
    assert "install pylibjpeg" in str(caught.value)
