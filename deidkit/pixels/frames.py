"""Pixel data as arrays in the stored representation, and back to Pixel Data bytes.

Native (uncompressed) pixel data is read and written here, byte for byte, so that values
outside a cleaned box keep their exact bits (signed values, unused high bits and planar
configuration included). Encapsulated pixel data is decoded and re-encoded through
pydicom's pixel backends (see :mod:`deidkit.pixels.clean`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from deidkit.core.errors import PixelDataError

if TYPE_CHECKING:
    import pydicom

__all__ = ["PixelLayout", "decode_frames", "encode_native", "layout_of"]

_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_NATIVE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", _BIG_ENDIAN})


@dataclass(frozen=True)
class PixelLayout:
    """The attributes that say how the Pixel Data bytes are laid out."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    signed: bool
    planar: int
    photometric: str
    syntax: str

    @property
    def native(self) -> bool:
        """Whether the pixel data is stored uncompressed."""
        return self.syntax in _NATIVE

    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype of one stored sample."""
        if self.bits_allocated not in (8, 16, 32):
            raise PixelDataError("bits_allocated", f"BitsAllocated {self.bits_allocated}")
        kind = "i" if self.signed else "u"
        order = ">" if self.syntax == _BIG_ENDIAN else "<"
        return np.dtype(f"{order}{kind}{self.bits_allocated // 8}")


def _int(ds: pydicom.Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword, None)
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def layout_of(ds: pydicom.Dataset) -> PixelLayout:
    """Read the layout attributes; raise :class:`PixelDataError` when there is no image."""
    if "PixelData" not in ds:
        raise PixelDataError("no_pixel_data", "no Pixel Data element")
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    rows, columns = _int(ds, "Rows", 0), _int(ds, "Columns", 0)
    if rows <= 0 or columns <= 0:
        raise PixelDataError("no_dimensions", "Rows or Columns missing")
    return PixelLayout(
        rows=rows,
        columns=columns,
        frames=max(1, _int(ds, "NumberOfFrames", 1)),
        samples=max(1, _int(ds, "SamplesPerPixel", 1)),
        bits_allocated=_int(ds, "BitsAllocated", 8),
        signed=_int(ds, "PixelRepresentation", 0) == 1,
        planar=_int(ds, "PlanarConfiguration", 0),
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper(),
        syntax=syntax or "1.2.840.10008.1.2.1",
    )


def _native_frames(data: bytes, layout: PixelLayout) -> np.ndarray:
    dtype = layout.dtype()
    per_frame = layout.rows * layout.columns * layout.samples
    count = per_frame * layout.frames
    if len(data) < count * dtype.itemsize:
        raise PixelDataError("short_pixel_data", "Pixel Data shorter than its attributes say")
    flat = np.frombuffer(data, dtype=dtype, count=count)
    if layout.samples == 1:
        return flat.reshape(layout.frames, layout.rows, layout.columns, 1).copy()
    if layout.planar == 1:
        planes = flat.reshape(layout.frames, layout.samples, layout.rows, layout.columns)
        return np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
    return flat.reshape(layout.frames, layout.rows, layout.columns, layout.samples).copy()


def encode_native(frames: np.ndarray, layout: PixelLayout, original: bytes) -> bytes:
    """Pixel Data bytes for ``frames`` in ``layout``; bytes after the image are kept."""
    dtype = layout.dtype()
    array = frames.astype(dtype, copy=False)
    if layout.samples > 1 and layout.planar == 1:
        array = array.transpose(0, 3, 1, 2)
    body = np.ascontiguousarray(array).tobytes()
    return body + original[len(body) :]


def _undecodable(ds: pydicom.Dataset, exc: Exception) -> str:
    """Why decoding failed: no plugin for the syntax (name what to install), or bad data.

    Telling the two apart keeps an officer from installing plugins that are already there
    when the stream itself is damaged.
    """
    from pydicom.pixels.decoders.base import get_decoder

    try:
        available = get_decoder(ds.file_meta.TransferSyntaxUID).is_available
    except Exception:  # no decoder for the syntax at all, or no file meta
        available = False
    if available:
        return (
            f"the installed decoders could not decode this pixel data ({type(exc).__name__}): "
            "damaged or an unsupported variant of its transfer syntax"
        )
    return (
        f"no installed plugin decodes this transfer syntax ({type(exc).__name__}); "
        "install pylibjpeg, pylibjpeg-libjpeg and pylibjpeg-openjpeg (or gdcm)"
    )


def decode_frames(ds: pydicom.Dataset, layout: PixelLayout) -> np.ndarray:
    """All frames as ``(frames, rows, columns, samples)`` in the stored representation.

    Native data is read byte for byte. Encapsulated data goes through pydicom's decoders,
    which convert YBR colour to RGB (the re-encoder writes what it encodes).
    """
    data = ds.PixelData
    if layout.native:
        return _native_frames(bytes(data), layout)
    try:
        array = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom's message can name plugins, never values
        raise PixelDataError("undecodable", _undecodable(ds, exc)) from exc
    shape = (layout.frames, layout.rows, layout.columns, layout.samples)
    return array.reshape(shape).copy()  # pydicom caches its array: never edit that one
