"""Load DICOM files, DICOM series folders and NIfTI files into one canonical geometry.

Geometry is explicit, never guessed:

* DICOM positions live in LPS patient space (ImagePositionPatient /
  ImageOrientationPatient); NIfTI affines map voxels to RAS world space. Every image is
  converted to a voxel array ``data[i, j, k]`` plus a 4x4 **RAS** affine, so the same
  anatomy gives the same array and affine whichever format it came in. DICOM pixel
  arrays are stored ``[row, column]``; they are transposed to ``[column, row]`` so that
  voxel axis 0 runs along the row direction cosine, as the affine says.
* :class:`Preprocessor` then reorients to the model's axis codes (default ``RAS``) and
  resamples to the model's spacing as MONAI's ``Orientation`` / ``Spacing`` do
  (:mod:`auditkit.transforms`, without importing MONAI). A left-right flip changes the array,
  so it changes the prediction.

Intensities: DICOM stored values go through the Modality LUT (Rescale Slope/Intercept),
so CT arrives in Hounsfield units; MONOCHROME1 images are inverted so that higher always
means brighter. The intensity step (window, percentile scaling, ...) is declared by the
model bundle or the flags, see :func:`parse_intensity`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.errors import ImageReadError, UsageError

NIFTI_SUFFIXES = (".nii", ".nii.gz")

ERR_MISSING = "image file not found"
ERR_UNREADABLE = "not a readable DICOM or NIfTI image"
ERR_NO_PIXELS = "DICOM has no pixel data"
#: How to score a colour image: a model given 3 channels takes it as RGB.
_COLOUR_HOW = "a 3-channel model (--channels 3) scores it as RGB, --colour-to-grey as luminance"
ERR_COLOUR = "colour image for a {channels}-channel model: " + _COLOUR_HOW
ERR_PALETTE = (
    "PALETTE COLOR image for a {channels}-channel model: its stored values are palette "
    "indices, not intensities; " + _COLOUR_HOW
)
ERR_PALETTE_LUT = "PALETTE COLOR image without a usable colour lookup table"
#: ITU-R BT.601 luma weights (what Pillow's "L" conversion uses) for --colour-to-grey.
LUMA: tuple[float, float, float] = (0.299, 0.587, 0.114)
ERR_NO_DECODER = "no pixel data decoder installed for {syntax}: {install}"
ERR_DECODE = "pixel data could not be decoded ({syntax}; tried: {plugins})"
ERR_MIXED_SERIES = "folder holds more than one DICOM series"
ERR_SHAPE = "DICOM series slices differ in size or orientation"
ERR_GAPS = "DICOM series has irregular or duplicate slice positions"
ERR_NO_POSITION = "DICOM series slices lack ImagePositionPatient; their order is unknown"
ERR_DIMS = "image has {n} dimensions; expected 2 or 3"
ERR_3D_FOR_2D = "a 3D volume was given to a 2D model"
ERR_NOT_FINITE_INPUT = "image has non-finite values after preprocessing"
#: deidkit.core.errors.SeriesError reasons -> this module's messages (others keep theirs).
_SERIES_ERRORS = {
    "orientation": (ERR_SHAPE, "series_geometry"),
    "shape": (ERR_SHAPE, "series_geometry"),
    "spacing": (ERR_GAPS, "series_gaps"),
    "no_position": (ERR_NO_POSITION, "series_no_position"),
}
_PYLIBJPEG = "pip install pylibjpeg pylibjpeg-libjpeg"
_OPENJPEG = "pip install pylibjpeg pylibjpeg-openjpeg"
_OR_GDCM = " (or python-gdcm; both come with 'deidkit-auditkit[audit]')"
#: Transfer syntax UID -> the pydicom pixel-data plugins that decode it.
DECODER_PLUGINS = {
    "1.2.840.10008.1.2.4.50": _PYLIBJPEG + _OR_GDCM,  # JPEG Baseline (Pillow also decodes)
    "1.2.840.10008.1.2.4.51": _PYLIBJPEG + _OR_GDCM,  # JPEG Extended (12-bit)
    "1.2.840.10008.1.2.4.57": _PYLIBJPEG + _OR_GDCM,  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": _PYLIBJPEG + _OR_GDCM,  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": _PYLIBJPEG + " or pyjpegls" + _OR_GDCM,  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": _PYLIBJPEG + " or pyjpegls" + _OR_GDCM,  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": _OPENJPEG + _OR_GDCM,  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": _OPENJPEG + _OR_GDCM,  # JPEG 2000
    "1.2.840.10008.1.2.4.201": _OPENJPEG,  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": _OPENJPEG,  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": _OPENJPEG,  # HTJ2K
}


@dataclass(frozen=True)
class Volume:
    """An image in voxel space with its RAS affine.

    Attributes
    ----------
    data : numpy.ndarray
        float32 array ``(X, Y, Z)``; 2D images have ``Z == 1``.
    affine : numpy.ndarray
        4x4 voxel-to-RAS-world matrix in millimetres.
    header : pydicom.Dataset or None
        Header of the first slice (for attributes), ``None`` for NIfTI.
    source : str
        ``"dicom"`` or ``"nifti"``.
    datasets : tuple of pydicom.Dataset
        DICOM: the slices in ``k`` order (a DICOM SEG references them); empty for NIfTI.
    colour : numpy.ndarray or None
        A colour DICOM (RGB, YBR, PALETTE COLOR through its lookup table): float32 RGB
        ``(3, X, Y, Z)`` on the same grid; ``data`` then holds its luminance (:data:`LUMA`).
    palette : bool
        The colour came from a PALETTE COLOR lookup table (scaled to 8 bits).
    frame_order : tuple of int
        An enhanced multi-frame image: the source frame index of each ``k`` plane (frames are
        stacked by position, not by frame number); empty otherwise.
    """

    data: np.ndarray
    affine: np.ndarray
    header: Any
    source: str
    datasets: tuple[Any, ...] = ()
    colour: np.ndarray | None = None
    palette: bool = False
    frame_order: tuple[int, ...] = ()

    def colour_error(self, channels: int) -> ImageReadError:
        """Why this colour image cannot be scored by a ``channels``-channel model as it is."""
        if self.palette:
            return ImageReadError(ERR_PALETTE.format(channels=channels), code="palette_colour")
        return ImageReadError(ERR_COLOUR.format(channels=channels), code="colour_unsupported")


def is_nifti(path: Path) -> bool:
    """Whether ``path`` names a NIfTI file by extension."""
    name = path.name.lower()
    return any(name.endswith(s) for s in NIFTI_SUFFIXES)


def load_volume(path: str | Path) -> Volume:
    """Load a DICOM file, a DICOM series folder or a NIfTI file.

    Raises
    ------
    ImageReadError
        With a reason that names no value from the file (it becomes the failed row's
        ``error``).
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(ERR_MISSING, code="image_missing")
    if path.is_dir():
        return _load_dicom_series(path)
    if is_nifti(path):
        return _load_nifti(path)
    return _load_dicom_files([path])


def read_header(path: str | Path) -> Any:
    """The DICOM header of ``path`` (a series folder: its first DICOM file) without pixels.

    Read before the pixels so that a row whose pixel data cannot be decoded still has its
    scanner and patient attributes. ``None`` for NIfTI, a missing or unreadable file.
    """
    path = Path(path)
    if is_nifti(path):
        return None  # before importing pydicom: a NIfTI-only run never needs it
    import pydicom

    try:
        if not path.exists():
            return None
        if path.is_dir():
            first = next((p for p in _series_files(path) if _looks_like_dicom(p)), None)
            if first is None:
                return None
            path = first
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # any unreadable header is the pixel read's failure to report
        return None


# --- NIfTI -----------------------------------------------------------------------------


def _load_nifti(path: Path) -> Volume:
    import nibabel as nib

    try:
        image: Any = nib.load(str(path))
        data = np.asarray(image.get_fdata(dtype=np.float32))  # applies scl_slope/inter
        affine = np.asarray(image.affine, dtype=np.float64)
    except Exception:  # nibabel raises many types for corrupt files
        raise ImageReadError(ERR_UNREADABLE) from None
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise ImageReadError(ERR_DIMS.format(n=data.ndim), code="image_dimensions")
    return Volume(data=data, affine=affine, header=None, source="nifti")


# --- DICOM -----------------------------------------------------------------------------


def _read_dicom(path: Path) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError):
        raise ImageReadError(ERR_UNREADABLE) from None


def _decode_error(ds: Any) -> ImageReadError:
    """Why ``ds.pixel_array`` failed: a missing decoder plugin (named) or bad pixel data."""
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.uid import UID

    syntax = UID(str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""))
    name = syntax.name if syntax else "an unknown transfer syntax"
    try:
        plugins: tuple[str, ...] = tuple(get_decoder(syntax).available_plugins)
    except (NotImplementedError, ValueError):  # pydicom has no decoder for it at all
        plugins = ()
    if not plugins and str(syntax) in DECODER_PLUGINS:
        return ImageReadError(
            ERR_NO_DECODER.format(syntax=name, install=DECODER_PLUGINS[str(syntax)]),
            code="decoder_missing",
        )
    tried = ", ".join(plugins) or "no plugin"
    return ImageReadError(ERR_DECODE.format(syntax=name, plugins=tried), code="decode_failed")


def _pixels(ds: Any) -> np.ndarray:
    """Stored pixels -> float32 modality values (HU for CT); frames first."""
    from pydicom.pixels.processing import apply_modality_lut

    stored = _stored(ds)
    values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        # MONOCHROME1 shows high values dark; invert so every image means the same thing.
        values = values.max() + values.min() - values
    return values


def _stored(ds: Any) -> np.ndarray:
    if "PixelData" not in ds:
        raise ImageReadError(ERR_NO_PIXELS, code="no_pixel_data")
    try:
        stored: np.ndarray = ds.pixel_array
    except Exception:  # decoder errors: missing plugin, truncated data
        raise _decode_error(ds) from None
    return stored


def is_colour(ds: Any) -> bool:
    """RGB/YBR (three samples per pixel) or PALETTE COLOR (indices into a colour table)."""
    photometric = str(getattr(ds, "PhotometricInterpretation", "")).upper()
    return photometric == "PALETTE COLOR" or int(getattr(ds, "SamplesPerPixel", 1)) != 1


def _rgb(ds: Any) -> np.ndarray:
    """A colour dataset's pixels as float32 RGB ``(..., rows, columns, 3)``.

    pydicom decodes YBR to RGB. Palette indices go through the dataset's colour lookup table;
    a 16-bit table is brought to 8 bits (its top byte), the range of the colours a viewer
    shows and of most RGB images, so a palette image and its RGB rendering score alike.
    """
    stored = _stored(ds)
    if str(getattr(ds, "PhotometricInterpretation", "")).upper() != "PALETTE COLOR":
        return np.asarray(stored, dtype=np.float32)
    from pydicom.pixels.processing import apply_color_lut

    try:
        rgb = np.asarray(apply_color_lut(stored, ds), dtype=np.float32)
        bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    except Exception:  # missing or malformed lookup table: pydicom raises several types
        raise ImageReadError(ERR_PALETTE_LUT, code="palette_colour") from None
    return rgb / 256.0 if bits == 16 else rgb


class _ColourReader:
    """The series reader's pixel reader: grey as modality values, colour set aside as RGB.

    The series reader stacks 2D planes; a colour dataset gives it its luminance, so the
    geometry (order, spacing, affine) is computed once for both.
    """

    def __init__(self) -> None:
        self.rgb: dict[int, np.ndarray] = {}
        self.palette = False

    def __call__(self, ds: Any) -> np.ndarray:
        if not is_colour(ds):
            return _pixels(ds)
        rgb = _rgb(ds)
        if rgb.shape[-1] != 3:
            raise ImageReadError(ERR_DIMS.format(n=rgb.ndim), code="series_dimensions")
        self.rgb[id(ds)] = rgb
        self.palette = self.palette or str(ds.PhotometricInterpretation).upper() == "PALETTE COLOR"
        luma: np.ndarray = rgb @ np.asarray(LUMA, dtype=np.float32)
        return luma

    def volume(self, datasets: Sequence[Any]) -> np.ndarray | None:
        """RGB ``(3, X, Y, Z)`` of ``datasets`` (in ``k`` order), ``None`` for a grey series."""
        if not self.rgb:
            return None
        if any(id(ds) not in self.rgb for ds in datasets):
            raise ImageReadError(ERR_SHAPE, code="series_geometry")  # colour and grey mixed
        planes = [self.rgb[id(ds)] for ds in datasets]
        frames = np.concatenate([p[None] if p.ndim == 3 else p for p in planes])
        # (frame, row, column, sample) -> (sample, column, row, frame), as data's transpose.
        return np.ascontiguousarray(np.transpose(frames, (3, 2, 1, 0)), dtype=np.float32)


def _series_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
    )


def _load_dicom_series(folder: Path) -> Volume:
    files = _series_files(folder)
    readable = [p for p in files if _looks_like_dicom(p)]
    if not readable:
        if files:
            raise ImageReadError(ERR_UNREADABLE)
        raise ImageReadError(ERR_MISSING, code="image_missing")
    # Other files in a series folder (notes, thumbnails) are ignored; a missing slice
    # still shows up as an irregular gap.
    return _load_dicom_files(readable)


def _looks_like_dicom(path: Path) -> bool:
    """Part 10 files start with a 128-byte preamble and ``DICM``."""
    try:
        with path.open("rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _load_dicom_files(files: Sequence[Path]) -> Volume:
    from deidkit.core.errors import SeriesError
    from deidkit.core.series import read_series_volume

    datasets = [_read_dicom(p) for p in files]
    series = {str(getattr(ds, "SeriesInstanceUID", "")) for ds in datasets}
    if len(series) > 1:
        raise ImageReadError(ERR_MIXED_SERIES, code="mixed_series")
    reader = _ColourReader()
    frames = _frame_headers(datasets[0]) if len(datasets) == 1 else None
    try:
        if frames is not None:
            return _load_frames(datasets[0], frames, reader)
        # Projection radiographs carry no patient geometry, so none is required; "gaps"
        # keeps the tolerance audits have always had (relative to the slice gap).
        volume = read_series_volume(
            datasets, require_geometry=False, spacing_check="gaps", pixels=reader
        )
    except SeriesError as exc:
        message, code = _SERIES_ERRORS.get(exc.reason, (str(exc), f"series_{exc.reason}"))
        raise ImageReadError(message, code=code) from None
    return Volume(
        data=volume.data,
        affine=volume.affine,
        header=volume.datasets[0],
        source="dicom",
        datasets=volume.datasets,
        colour=reader.volume(volume.datasets),
        palette=reader.palette,
    )


#: Functional group sequence -> the attributes it gives each frame of an enhanced image.
_FRAME_GROUPS = {
    "PlanePositionSequence": ("ImagePositionPatient",),
    "PlaneOrientationSequence": ("ImageOrientationPatient",),
    "PixelMeasuresSequence": ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"),
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept"),
}


def _frame_headers(ds: Any) -> list[Any] | None:
    """One small header per frame of an enhanced multi-frame image, from its functional groups.

    Enhanced CT/MR/PET keep each frame's position (and often orientation, spacing and rescale)
    in the per-frame or shared functional groups, not at the top level. ``None`` for other
    images, or when a frame has no position (its place in space is then unknown).
    """
    from pydicom.dataset import Dataset

    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    if not per_frame:
        return None
    shared_items = getattr(ds, "SharedFunctionalGroupsSequence", None)
    shared = shared_items[0] if shared_items else Dataset()
    headers = []
    for item in per_frame:
        header = Dataset()
        for group in (shared, item):  # per-frame values override shared ones
            for sequence, keywords in _FRAME_GROUPS.items():
                entries = getattr(group, sequence, None)
                for keyword in keywords:
                    if entries and keyword in entries[0]:
                        setattr(header, keyword, entries[0][keyword].value)
        if "ImagePositionPatient" not in header:
            return None
        headers.append(header)
    return headers


def _load_frames(ds: Any, headers: list[Any], reader: _ColourReader) -> Volume:
    """An enhanced multi-frame image: frames ordered and spaced by their own positions.

    The frames are stacked as the slices of a series (:func:`read_series_volume` on one header
    per frame), so they are sorted along the normal and checked for even spacing; the order
    is kept in ``frame_order`` for the DICOM SEG, which references the source frames.
    """
    from deidkit.core.series import read_series_volume

    stack = reader(ds)
    stack = stack[None] if stack.ndim == 2 else stack
    if len(stack) != len(headers):
        raise ImageReadError(ERR_SHAPE, code="series_geometry")
    if ds.get("RescaleSlope") is None and id(ds) not in reader.rgb:
        stack = np.stack([_rescaled(frame, h) for frame, h in zip(stack, headers, strict=True)])
    index = {id(header): i for i, header in enumerate(headers)}
    volume = read_series_volume(
        headers,
        require_geometry=False,
        spacing_check="gaps",
        pixels=lambda header: stack[index[id(header)]],
    )
    rgb = reader.rgb.get(id(ds))
    colour = None
    if rgb is not None:
        rgb = rgb[None] if rgb.ndim == 3 else rgb
        frames = rgb[list(volume.order)]
        colour = np.ascontiguousarray(np.transpose(frames, (3, 2, 1, 0)), dtype=np.float32)
    return Volume(
        data=volume.data,
        affine=volume.affine,
        header=ds,
        source="dicom",
        datasets=(ds,),
        colour=colour,
        palette=reader.palette,
        frame_order=volume.order,
    )


def _rescaled(frame: np.ndarray, header: Any) -> np.ndarray:
    """A frame's stored values through its functional groups' Rescale Slope and Intercept."""
    slope = float(header.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(header.get("RescaleIntercept", 0.0) or 0.0)
    return np.asarray(frame * slope + intercept, dtype=np.float32)


# --- preprocessing ---------------------------------------------------------------------


def parse_intensity(spec: str | None) -> Callable[[Any], Any] | None:
    """Build the intensity transform named by ``spec`` or ``None``.

    The transforms are MONAI's (``ScaleIntensityRange`` ...) as :mod:`auditkit.transforms`
    repeats them without importing MONAI; they take and return torch tensors.

    Accepted forms:

    * ``none`` or empty: values as loaded (HU for CT);
    * ``window:LOW,HIGH`` (alias ``ct:LOW,HIGH``): clip to [LOW, HIGH], scale to [0, 1];
    * ``percentile:LO,HI`` (alias ``mr``, default 1,99): per-image percentile scaling to
      [0, 1] with clipping;
    * ``minmax``: per-image min-max to [0, 1];
    * ``zscore``: per-image zero mean, unit variance.

    Raises
    ------
    UsageError
        For any other spec.
    """
    from auditkit.transforms import MinMax, PercentileRange, WindowRange, ZScore

    if spec is None or spec.strip().lower() in {"", "none"}:
        return None
    name, _, args = spec.strip().lower().partition(":")
    try:
        numbers = [float(x) for x in args.split(",")] if args else []
    except ValueError:
        raise UsageError(f"intensity '{spec}': arguments must be numbers") from None
    if name in {"window", "ct"}:
        if len(numbers) != 2 or not numbers[0] < numbers[1]:
            raise UsageError(f"intensity '{spec}': expected window:LOW,HIGH with LOW < HIGH")
        return WindowRange(numbers[0], numbers[1])
    if name in {"percentile", "mr"}:
        low, high = numbers if numbers else [1.0, 99.0]
        if not 0 <= low < high <= 100:
            raise UsageError(f"intensity '{spec}': expected percentile:LO,HI in [0, 100]")
        return PercentileRange(low, high)
    if name == "minmax" and not numbers:
        return MinMax()
    if name == "zscore" and not numbers:
        return ZScore()
    raise UsageError(
        f"unknown intensity '{spec}': use none, window:LOW,HIGH, percentile:LO,HI, minmax, zscore"
    )


@dataclass(frozen=True)
class PreprocessSpec:
    """What a model expects as input.

    Attributes
    ----------
    spatial_dims : int
        2 or 3.
    spatial_size : tuple of int or None
        Input size for classification/regression (``None``: as resampled).
        For segmentation it is the sliding-window patch size instead.
    spacing : tuple of float or None
        Voxel size in mm to resample to (``None``: keep).
    intensity : str or None
        See :func:`parse_intensity`.
    axcodes : str
        Where each voxel axis points (``"RAS"``: axis 0 runs towards the patient's right).
    channels : int
        Input channels; a single-channel image is repeated to fill them, a colour image
        gives its R, G, B when there are 3.
    colour_to_grey : bool
        Score a colour image with a model of other than 3 channels as its luminance
        (:data:`LUMA`); without it such an image is refused with a reason.
    """

    spatial_dims: int = 3
    spatial_size: tuple[int, ...] | None = None
    spacing: tuple[float, ...] | None = None
    intensity: str | None = None
    axcodes: str = "RAS"
    channels: int = 1
    colour_to_grey: bool = False


class Preprocessor:
    """Turn a :class:`Volume` into a model input tensor ``(C, *spatial)``.

    Configured once in ``__init__`` (MONAI style); ``__call__`` is pure, so it can run
    in DataLoader worker processes.

    Parameters
    ----------
    spec : PreprocessSpec
        The model's expected input.
    resize : bool
        Bring the image to ``spec.spatial_size`` (classification). When ``spec.spacing``
        is set the image is padded/cropped around its centre, keeping physical scale;
        without a spacing it is resized (interpolated). Segmentation passes ``False``.
    """

    def __init__(self, spec: PreprocessSpec, *, resize: bool = True) -> None:
        from auditkit.transforms import PadOrCrop, Resize

        if spec.spatial_dims not in (2, 3):
            raise UsageError("spatial_dims must be 2 or 3")
        if len(spec.axcodes) != 3:
            raise UsageError("axcodes must name three axes, e.g. RAS")
        self.spec = spec
        self._intensity = parse_intensity(spec.intensity)
        self._resize: Callable[..., Any] | None = None
        if resize and spec.spatial_size is not None:
            size = tuple(int(s) for s in spec.spatial_size)
            if len(size) != spec.spatial_dims:
                raise UsageError(f"spatial_size needs {spec.spatial_dims} values")
            # With a spacing the physical scale is kept (pad/crop); without one, interpolate.
            self._resize = PadOrCrop(size) if spec.spacing is not None else Resize(size)

    def geometry(self, volume: Volume, *, label: bool = False) -> tuple[Any, np.ndarray]:
        """Reorient and resample: a float32 tensor ``(C, X, Y, Z)`` and the affine of its grid.

        Labels are resampled with nearest neighbours and zero padding, images bilinearly with
        border padding (MONAI's ``Orientation`` and ``Spacing``, see :mod:`auditkit.transforms`).
        """
        import torch

        from auditkit.transforms import orient, resample_to_spacing

        array = self._channels(volume, label=label)
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        affine = np.asarray(volume.affine, dtype=np.float64)
        if axcodes_of(affine) != self.spec.axcodes.upper():
            # Already in the model's orientation (most NIfTI, axial DICOM): reorienting
            # would be a no-op costing more than the NIfTI read (bench/predict.py).
            tensor, affine = orient(tensor, affine, self.spec.axcodes)
        if self.spec.spacing is not None:
            # A non-positive pixdim keeps that axis' spacing: the one-voxel axis of a
            # single slice, wherever reorientation put it (coronal, sagittal, axial).
            pixdim = _pixdim(self.spec.spacing, self._flat_axis(tensor.shape[1:]))
            tensor, affine = resample_to_spacing(
                tensor,
                affine,
                pixdim,
                mode="nearest" if label else "bilinear",
                padding_mode="zeros" if label else "border",
            )
        return tensor, affine

    def _channels(self, volume: Volume, *, label: bool) -> np.ndarray:
        """``(C, X, Y, Z)``: RGB for a 3-channel model, else the grey (or luminance) image."""
        if volume.colour is None or label:
            return volume.data[None]
        if self.spec.channels == 3:
            return volume.colour
        if self.spec.colour_to_grey:
            return volume.data[None]
        raise volume.colour_error(self.spec.channels)

    def _flat_axis(self, shape: Sequence[int]) -> int:
        """The voxel axis a 2D model's slice lies across (the last one-voxel axis).

        3D models resample every axis given in the spacing; their "flat" axis is the last.
        """
        if self.spec.spatial_dims == 3:
            return 2
        flat = [axis for axis, size in enumerate(shape) if int(size) == 1]
        if not flat:
            raise ImageReadError(ERR_3D_FOR_2D, code="volume_for_2d_model")
        return flat[-1]

    def __call__(self, volume: Volume) -> tuple[Any, np.ndarray]:
        """Return the input tensor ``(C, *spatial)`` and the 4x4 RAS affine of its grid."""
        tensor, affine = self.geometry(volume)
        if self._intensity is not None:
            tensor = self._intensity(tensor)
        if self.spec.spatial_dims == 2:
            tensor = tensor.select(1 + self._flat_axis(tensor.shape[1:]), 0)
        if self._resize is not None:
            tensor = self._resize(tensor)
        plain = tensor.float()
        if self.spec.channels > 1 and plain.shape[0] == 1:
            plain = plain.repeat(self.spec.channels, *([1] * (plain.ndim - 1)))
        if not bool(plain.isfinite().all()):
            raise ImageReadError(ERR_NOT_FINITE_INPUT, code="input_not_finite")
        return plain.contiguous(), affine


_LABELS = ("LR", "PA", "IS")
#: A voxel axis counts as aligned with a world axis when that component carries at least this
#: share of its direction; anything more oblique is reoriented (``transforms.orient``).
_ALIGNED = 0.9


def axcodes_of(affine: np.ndarray) -> str:
    """Where each voxel axis points (``"RAS"``), or ``""`` when an axis is oblique or shared."""
    codes, axes = [], set()
    rotation = np.asarray(affine, dtype=np.float64)[:3, :3]
    for column in rotation.T:
        norm = float(np.linalg.norm(column))
        axis = int(np.argmax(np.abs(column)))
        if norm == 0 or abs(column[axis]) < _ALIGNED * norm or axis in axes:
            return ""
        axes.add(axis)
        codes.append(_LABELS[axis][1 if column[axis] > 0 else 0])
    return "".join(codes)


def _pixdim(spacing: Sequence[float], flat: int) -> tuple[float, ...]:
    """Spacing for each voxel axis: a 2D spacing skips the ``flat`` axis (-1 keeps it)."""
    values = [float(v) for v in spacing]
    if len(values) >= 3:
        return tuple(values[:3])
    values += [-1.0] * (2 - len(values))
    values.insert(flat, -1.0)
    return tuple(values)


def spacing_of(affine: np.ndarray) -> tuple[float, ...]:
    """Voxel sizes (mm) encoded in an affine's columns."""
    return tuple(float(math.hypot(*affine[:3, i])) for i in range(3))
