"""A MONAI bundle's own pipeline, run as its authors meant: preprocessing, inferer, postprocessing.

Model-zoo bundles keep their intensity window, spacing and orientation in the config's
``preprocessing`` (``LoadImaged``, ``EnsureChannelFirstd``, ``Orientationd``, ``Spacingd``,
``ScaleIntensityRanged`` ...), the patch size in ``inferer`` (``SlidingWindowInferer``) and the
activation, inversion to the image grid and discretisation in ``postprocessing``. They are
instantiated through ``monai.bundle.ConfigParser`` (the bundle's own parser) and run here with
three changes, each recorded in the provenance:

* the loading transforms (``LoadImage(d)``) are dropped: auditkit reads the image itself (DICOM
  LPS and NIfTI RAS handled explicitly, attributes, coded failures) and hands the pipeline a
  ``MetaTensor`` in RAS, as ``LoadImaged`` would;
* writing transforms (``SaveImage(d)``, any ``Save*``/``Write*``) are skipped: predict writes
  its own outputs, named by row, never by an input name; for classification the
  discretising ``AsDiscreted`` is skipped too (evaluate needs scores, not labels);
* a setting the user passed explicitly replaces the bundle's (``--spacing`` the ``Spacingd``
  pixdim, ``--intensity`` the intensity transforms, ``--spatial-size`` the sliding-window
  ``roi_size`` or the ``Resized`` size); everything else stays the bundle's.

``metadata.json`` ``network_data_format`` is checked against the data
(:func:`check_data_format`): channels, spatial dimensions and fixed or ``"K*n"`` sizes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from auditkit.errors import BundleFormatError, ImageReadError
from auditkit.imaging import ERR_3D_FOR_2D, Volume, parse_intensity

#: Sections of an inference config run by predict.
SECTIONS: Final = ("preprocessing", "inferer", "postprocessing")
_LOADERS: Final = ("LoadImage", "LoadImaged")
_INTENSITY: Final = (
    "ScaleIntensityRanged",
    "ScaleIntensityd",
    "NormalizeIntensityd",
    "ScaleIntensityRangePercentilesd",
    "ClipIntensityPercentilesd",
)
_WRITERS: Final = re.compile(r"^(Save|Write)")
_DISCRETE: Final = ("AsDiscreted", "AsDiscrete")
SOURCE_FLAG: Final = "flag"
SOURCE_BUNDLE: Final = "bundle"


@dataclass
class BundlePipeline:
    """The instantiated sections of a bundle and what was changed in them.

    Attributes
    ----------
    preprocessing, postprocessing : monai.transforms.Compose or None
    inferer : monai.inferers.Inferer or None
    image_key : str
        The dictionary key the bundle's transforms read the image from.
    data_format : dict
        ``metadata.json`` ``network_data_format`` (may be empty).
    sources : dict
        Setting -> ``{"value", "source"}``: ``"bundle"`` or ``"flag"``.
    skipped : list of str
        Transforms not run, with the reason.
    """

    preprocessing: Any = None
    inferer: Any = None
    postprocessing: Any = None
    image_key: str = "image"
    data_format: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    activated: bool = False
    discrete: bool = False

    @property
    def present(self) -> bool:
        """Whether the bundle declares any of the three sections."""
        return any(x is not None for x in (self.preprocessing, self.inferer, self.postprocessing))

    def describe(self) -> dict[str, Any]:
        """The provenance record of the pipeline: what ran, what was skipped, where settings
        came from."""
        return {
            "preprocessing": _names(self.preprocessing),
            "inferer": type(self.inferer).__name__ if self.inferer is not None else None,
            "postprocessing": _names(self.postprocessing),
            "skipped": list(self.skipped),
            "settings": dict(self.sources),
        }

    def infer(self, batch: Any, network: Callable[..., Any]) -> Any:
        """The network output for ``batch`` through the bundle's inferer (or a plain call)."""
        if self.inferer is None:
            return network(batch)
        return self.inferer(batch, network)

    def postprocess(self, image: Any, pred: Any) -> Any:
        """One item's prediction after the bundle's postprocessing (``pred`` without batch)."""
        if self.postprocessing is None:
            return pred
        data = self.postprocessing({self.image_key: image, "pred": pred})
        return data["pred"]


def _name(transform: Any) -> str:
    return type(transform).__name__


def _names(compose: Any) -> list[str] | None:
    if compose is None:
        return None
    return [_name(t) for t in getattr(compose, "transforms", ())]


def _section(parser: Any, name: str) -> Any:
    if name not in parser:
        return None
    return parser.get_parsed_content(name, instantiate=True)


def build_pipeline(
    parser: Any,
    *,
    data_format: dict[str, Any] | None = None,
    task: str | None = None,
    spacing: Sequence[float] | None = None,
    intensity: str | None = None,
    spatial_size: Sequence[int] | None = None,
) -> BundlePipeline:
    """Instantiate the bundle's sections and apply the user's explicit settings.

    ``spacing``, ``intensity`` and ``spatial_size`` are the flags the user set (``None``: not
    set, the bundle's value stays). ``task`` decides whether discretisation is skipped.
    """
    pipeline = BundlePipeline(data_format=dict(data_format or {}))
    for name in SECTIONS:
        setattr(pipeline, name, _section(parser, name))
    if pipeline.preprocessing is not None:
        _adapt_preprocessing(pipeline, spacing=spacing, intensity=intensity, size=spatial_size)
    if pipeline.inferer is not None:
        _adapt_inferer(pipeline, spatial_size)
    if pipeline.postprocessing is not None:
        _adapt_postprocessing(pipeline, segmentation=task == "segmentation")
    return pipeline


def _adapt_preprocessing(
    pipeline: BundlePipeline,
    *,
    spacing: Sequence[float] | None,
    intensity: str | None,
    size: Sequence[int] | None,
) -> None:
    from monai.transforms.utility.dictionary import Lambdad

    kept: list[Any] = []
    user_intensity = parse_intensity(intensity) if intensity is not None else None
    for transform in pipeline.preprocessing.transforms:
        name = _name(transform)
        if name in _LOADERS:
            keys = getattr(transform, "keys", None)
            if keys:
                pipeline.image_key = str(keys[0])
            pipeline.skipped.append(f"{name}: auditkit reads the image (DICOM or NIfTI) itself")
            continue
        if name in _INTENSITY:
            if intensity is not None:
                pipeline.sources["intensity"] = {"value": intensity, "source": SOURCE_FLAG}
                pipeline.skipped.append(f"{name}: replaced by --intensity")
                if user_intensity is not None:
                    kept.append(Lambdad(keys=transform.keys, func=user_intensity))
                continue
            pipeline.sources["intensity"] = {"value": name, "source": SOURCE_BUNDLE}
        elif name == "Spacingd":
            _set_spacing(pipeline, transform, spacing)
        elif name == "Orientationd":
            axcodes = getattr(transform.ornt_transform, "axcodes", None)
            pipeline.sources["axcodes"] = {"value": axcodes, "source": SOURCE_BUNDLE}
        elif name in {"Resized", "ResizeWithPadOrCropd"}:
            _set_size(pipeline, transform, size)
        kept.append(transform)
    pipeline.preprocessing.transforms = tuple(kept)


def _set_spacing(pipeline: BundlePipeline, transform: Any, spacing: Sequence[float] | None) -> None:
    resample = transform.spacing_transform
    if spacing is not None:
        resample.pixdim = np.asarray([float(v) for v in spacing], dtype=np.float64)
        pipeline.sources["spacing"] = {"value": list(spacing), "source": SOURCE_FLAG}
        return
    value = [float(v) for v in np.atleast_1d(resample.pixdim)]
    pipeline.sources["spacing"] = {"value": value, "source": SOURCE_BUNDLE}


def _set_size(pipeline: BundlePipeline, transform: Any, size: Sequence[int] | None) -> None:
    target = getattr(transform, "resizer", None) or getattr(transform, "padcropper", None)
    if target is None or not hasattr(target, "spatial_size"):
        return
    if size is not None:
        target.spatial_size = tuple(int(v) for v in size)
        pipeline.sources["spatial_size"] = {"value": list(size), "source": SOURCE_FLAG}
        return
    value = [int(v) for v in np.atleast_1d(target.spatial_size)]
    pipeline.sources["spatial_size"] = {"value": value, "source": SOURCE_BUNDLE}


def _adapt_inferer(pipeline: BundlePipeline, size: Sequence[int] | None) -> None:
    inferer = pipeline.inferer
    if not hasattr(inferer, "roi_size"):
        return
    if size is not None:
        inferer.roi_size = [int(v) for v in size]
        pipeline.sources["roi_size"] = {"value": list(size), "source": SOURCE_FLAG}
    else:
        value = [int(v) for v in np.atleast_1d(inferer.roi_size)]
        pipeline.sources["roi_size"] = {"value": value, "source": SOURCE_BUNDLE}


def _adapt_postprocessing(pipeline: BundlePipeline, *, segmentation: bool) -> None:
    kept: list[Any] = []
    for transform in pipeline.postprocessing.transforms:
        name = _name(transform)
        if _WRITERS.match(name):
            pipeline.skipped.append(f"{name}: predict writes its own outputs, named by row")
            continue
        if name in _DISCRETE and not segmentation:
            pipeline.skipped.append(f"{name}: evaluate needs scores, not class labels")
            continue
        pipeline.discrete = pipeline.discrete or name in _DISCRETE
        if name in {"Activationsd", "Activations"}:
            # Activationsd keeps its per-key choices itself, Activations on the instance.
            pipeline.activated = any(
                bool(np.any(getattr(transform, flag, False))) for flag in ("sigmoid", "softmax")
            )
        kept.append(transform)
    pipeline.postprocessing.transforms = tuple(kept)


def bundle_input(volume: Volume, *, name: str, rgb: bool = False, flat: bool = False) -> Any:
    """``volume`` as ``LoadImaged`` would give it: a channel-less RAS ``MetaTensor``.

    ``name`` (``case-00001``) stands in for the file name a bundle's transforms may read.
    ``rgb``: a colour volume's R, G, B, channels first (``original_channel_dim`` 0).
    ``flat``: a single slice for a 2D bundle, as ``LoadImaged`` reads a 2D image: the one-voxel
    axis dropped from the array and moved last among the affine's columns (:func:`as_2d`).
    """
    import torch
    from monai.data.meta_tensor import MetaTensor

    array = volume.colour if rgb and volume.colour is not None else volume.data[None]
    affine_np = np.asarray(volume.affine, dtype=np.float64)
    if flat:
        array, affine_np = as_2d(array, affine_np)
    affine = torch.from_numpy(affine_np)
    meta = {
        "original_channel_dim": 0 if rgb else "no_channel",
        "filename_or_obj": name,
        "spatial_shape": np.asarray(array.shape[1:]),
        "original_affine": affine.clone(),
        "space": "RAS",
    }
    data = torch.from_numpy(np.ascontiguousarray(array if rgb else array[0], dtype=np.float32))
    return MetaTensor(data, affine=affine, meta=meta)


def as_2d(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(C, X, Y, Z)`` with a one-voxel axis -> ``(C, A, B)`` and the affine, columns reordered.

    The last one-voxel axis goes (a coronal or sagittal slice's too); the affine keeps all
    three columns, the dropped axis' last, so the 2D grid keeps its place and spacing in the
    world and MONAI's 2D transforms (``to_affine_nd(2, affine)``) read the in-plane axes.

    Raises
    ------
    ImageReadError
        ``volume_for_2d_model`` when no axis is one voxel thick.
    """
    flat = [axis for axis, size in enumerate(array.shape[1:]) if size == 1]
    if not flat:
        raise ImageReadError(ERR_3D_FOR_2D, code="volume_for_2d_model")
    keep = [axis for axis in range(3) if axis != flat[-1]]
    order = [*keep, flat[-1]]
    moved = np.transpose(array, (0, *(1 + axis for axis in order)))[..., 0]
    permuted = affine.copy()
    permuted[:3, :3] = affine[:3, order]
    return moved, permuted


class BundlePreprocessor:
    """Run a bundle's preprocessing on a :class:`Volume`; same call as ``Preprocessor``."""

    def __init__(
        self,
        pipeline: BundlePipeline,
        *,
        channels: int = 1,
        colour_to_grey: bool = False,
        spatial_dims: int = 3,
    ) -> None:
        self.pipeline = pipeline
        self.channels = channels
        self.colour_to_grey = colour_to_grey
        self.spatial_dims = spatial_dims

    def __call__(self, volume: Volume, *, index: int = 0) -> tuple[Any, np.ndarray]:
        """The preprocessed image ``(C, *spatial)`` (a ``MetaTensor``) and its affine.

        A colour image goes in as RGB when the bundle takes 3 channels, as its luminance with
        ``colour_to_grey``, and is refused otherwise (as :class:`~auditkit.imaging.Preprocessor`).
        """
        rgb = volume.colour is not None and self.channels == 3
        if volume.colour is not None and not rgb and not self.colour_to_grey:
            raise volume.colour_error(self.channels)
        name = f"case-{index + 1:05d}"
        flat = self.spatial_dims == 2
        data = {self.pipeline.image_key: bundle_input(volume, name=name, rgb=rgb, flat=flat)}
        try:
            if self.pipeline.preprocessing is not None:
                data = self.pipeline.preprocessing(data)
        except Exception as exc:  # MONAI wraps every transform error; its text may quote data
            raise ImageReadError(
                f"the bundle's preprocessing failed ({_root_name(exc)})",
                code="bundle_preprocessing_failed",
            ) from None
        image = data[self.pipeline.image_key]
        if not bool(image.isfinite().all()):
            raise ImageReadError(
                "image has non-finite values after preprocessing", code="input_not_finite"
            )
        affine = np.asarray(getattr(image, "affine", volume.affine), dtype=np.float64)
        return image, affine


def _root_name(exc: BaseException) -> str:
    """The innermost exception's class: MONAI re-raises as RuntimeError 'applying transform'."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__


_MULTIPLE: Final = re.compile(r"^\s*(\d+)\s*\*\s*n\s*$")


def check_data_format(
    data_format: dict[str, Any], *, image_shape: Sequence[int], network_shape: Sequence[int]
) -> None:
    """Check the preprocessed image against ``metadata.json`` ``network_data_format``.

    ``image_shape`` is ``(C, *spatial)`` of one preprocessed image; ``network_shape`` the
    spatial size the network sees (the sliding window's ``roi_size``, else the image's).

    Raises
    ------
    BundleFormatError
        Channels, number of spatial dimensions or a size the bundle declares do not match.
    """
    image = (data_format.get("inputs") or {}).get("image") or {}
    if not isinstance(image, dict):
        return
    channels = image.get("num_channels")
    if isinstance(channels, int) and channels != int(image_shape[0]):
        raise BundleFormatError(
            f"the bundle's metadata.json declares {channels} input channel(s); the "
            f"preprocessed image has {int(image_shape[0])}"
        )
    declared = image.get("spatial_shape")
    if not isinstance(declared, list) or not declared:
        return
    if len(declared) != len(network_shape):
        raise BundleFormatError(
            f"the bundle's metadata.json declares {len(declared)}D input; the preprocessed "
            f"image is {len(network_shape)}D"
        )
    for axis, (want, got) in enumerate(zip(declared, network_shape, strict=True)):
        _check_size(want, int(got), axis)


def _check_size(want: Any, got: int, axis: int) -> None:
    if isinstance(want, int) and not isinstance(want, bool):
        if want != got:
            raise BundleFormatError(
                f"the bundle's metadata.json declares size {want} on spatial axis {axis}; "
                f"the network is given {got}"
            )
        return
    match = _MULTIPLE.match(str(want))
    if match and got % int(match.group(1)):
        raise BundleFormatError(
            f"the bundle's metadata.json declares sizes of {want} on spatial axis {axis}; "
            f"the network is given {got}, not a multiple of {match.group(1)}"
        )
