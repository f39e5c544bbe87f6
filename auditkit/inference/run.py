"""Run an imaging model over a manifest: the one loop of ``auditkit predict``.

Output contract (read by ``auditkit evaluate``): ``out`` names the predictions table.
``X.parquet`` and ``X.csv`` are both written (an ``out`` ending in ``.parquet`` or ``.csv``
gets its sibling with the other suffix; any other name gets both suffixes appended),
plus ``X.provenance.json`` and, for segmentation, predicted masks in ``X_masks/``
named by row number (``case-00001.nii``, uncompressed so the bytes are reproducible),
never by anything from the data.

One row per manifest row, in manifest order: ``case_id``, ``patient_id`` (when the
manifest has it), ``status`` (``ok``/``failed``), ``error`` (a reason, never a value),
``label``, then per task: binary ``score`` (probability of class 1); multiclass
``score_<class>`` per class and ``prediction`` (the argmax class); regression
``prediction``; segmentation ``mask_path``, ``dice``, ``hd95``. Then the subgroup
attributes of :data:`auditkit.inference.attributes.ATTRIBUTE_COLUMNS` (manifest value first, DICOM
header second) and every other manifest column except the image path column.

Segmentation empty-mask rule (:data:`EMPTY_MASK_RULE`): foreground is every non-zero
label; both masks empty -> dice 1, hd95 0; exactly one empty -> dice 0, hd95 empty
(undefined). Masks and metrics live on the model's resampled grid (``spacing``), so HD95
is in millimetres of that grid.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auditkit.errors import (
    DeviceUnavailableError,
    ImageReadError,
    ModelLoadError,
    OutputPathError,
    UsageError,
)
from auditkit.imaging import (
    Preprocessor,
    PreprocessSpec,
    Volume,
    load_volume,
    read_header,
    spacing_of,
)
from auditkit.inference.attributes import dicom_attributes, empty_attributes
from auditkit.inference.bundle import (
    BundlePipeline,
    BundlePreprocessor,
    build_pipeline,
    check_data_format,
)
from auditkit.inference.dicomseg import remove_own_segs, write_dicom_seg
from auditkit.inference.failures import CODE_MODEL_FAILED, FailureReasons
from auditkit.inference.manifest import load_manifest
from auditkit.inference.models import LoadedModel, load_model
from auditkit.inference.outputs import (
    EMPTY_MASK_RULE,
    Scorer,
    assemble_table,
    dicom_seg_dir,
    output_paths,
    segmentation_metrics,
    write_mask,
    write_table,
)
from auditkit.inference.provenance import build_provenance, write_provenance
from auditkit.inference.shards import select_shard
from auditkit.results import WarningEntry
from auditkit.vendors import VendorTable, load_vendor_table
from deidkit.core.io import OutputKind, check_output_path
from deidkit.core.keys import ProjectKey

logger = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("binary", "multiclass", "regression", "segmentation")
ERR_NO_IMAGE = "no image path in the manifest row"
ERR_BAD_LABEL_MASK = "label mask grid differs from the image grid"
ERR_NOT_FINITE = "model output is not finite (NaN or infinity)"
WARN_SITE_NO_KEY = (
    "'site' is empty for {count} of {rows} rows: no project key was given (--key-file or "
    "$DEIDKIT_KEY), so no site pseudonym was derived from the images' DICOM headers"
)


@dataclass(frozen=True)
class PredictionRun:
    """What :func:`predict` wrote.

    Attributes
    ----------
    frame : pandas.DataFrame
        The predictions table (as written).
    parquet_path, csv_path, provenance_path : Path
        The written files.
    mask_dir : Path or None
        Folder of predicted masks (segmentation).
    task : str
        The task run.
    device : str
        ``"cpu"`` or ``"cuda"`` (``"cuda:1"`` ...).
    n_ok, n_failed : int
        Row counts by status.
    provenance : dict
        The provenance record.
    seg_dir : Path or None
        Folder of DICOM SEG objects (``--dicom-seg``).
    warnings : tuple of WarningEntry
        What the user should know about the table (also in the provenance record): a
        cohort manifest that matched few rows, a ``site`` column left empty for want of a key.
    """

    frame: Any
    parquet_path: Path
    csv_path: Path
    provenance_path: Path
    mask_dir: Path | None
    task: str
    device: str
    n_ok: int
    n_failed: int
    provenance: dict[str, Any] = field(repr=False)
    warnings: tuple[WarningEntry, ...] = ()
    seg_dir: Path | None = None


def select_device(requested: str) -> torch.device:
    """Pick the compute device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda[:N]``.

    Raises
    ------
    DeviceUnavailableError
        CUDA was asked for explicitly but is not available (a UsageError, exit 2).
    UsageError
        Anything else than auto/cpu/cuda[:N].
    """
    text = requested.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "--device cuda was requested but CUDA is not available on this machine "
                "(torch.cuda.is_available() is False); use --device auto or --device cpu"
            )
        device = torch.device(text)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(f"no CUDA device {device.index} on this machine")
        return device
    raise UsageError(f"unknown device '{requested}': use auto, cpu or cuda")


class CaseDataset(torch.utils.data.Dataset[dict[str, Any]]):
    """Read, describe and preprocess one manifest row; errors become the row's reason."""

    def __init__(
        self,
        images: Sequence[str | None],
        preprocessor: Preprocessor | BundlePreprocessor,
        *,
        masks: Sequence[str | None] | None = None,
        key: ProjectKey | None = None,
        keep_volume: bool = False,
        vendors: VendorTable | None = None,
    ) -> None:
        self.images = list(images)
        self.masks = list(masks) if masks is not None else None
        self.preprocessor = preprocessor
        self.key = key
        self.keep_volume = keep_volume
        self.vendors = vendors

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"index": index, "error": "", "attributes": empty_attributes()}
        path = image_path(self.images[index])
        try:
            if path is None:
                raise ImageReadError(ERR_NO_IMAGE, code="no_image")
            # The header first: a row whose pixels fail still shows its scanner and patient.
            header = read_header(path)
            if header is not None:
                item["attributes"] = dicom_attributes(header, key=self.key, vendors=self.vendors)
            volume = load_volume(path)
            item["image"], item["affine"] = self.preprocessor(volume)
            item["volume"] = volume if self.keep_volume else None
            mask_path = self.masks[index] if self.masks is not None else None
            if mask_path and isinstance(self.preprocessor, BundlePreprocessor):
                # Compared on the grid the bundle's postprocessing gives (see _segment).
                item["label_volume"] = _load_label(mask_path)
            elif mask_path:
                item["label_mask"] = self._label_mask(mask_path, item["image"])
        except ImageReadError as exc:
            item["error"], item["error_code"] = str(exc), exc.code
        except Exception as exc:  # a reason by type only: messages may quote file content
            item["error"] = f"preprocessing failed ({type(exc).__name__})"
            item["error_code"] = "preprocessing_failed"
        if item["error"]:
            item.pop("image", None)
        return item

    def _label_mask(self, mask_path: str, image: Any) -> Any:
        assert isinstance(self.preprocessor, Preprocessor)
        mask, _ = self.preprocessor.geometry(_load_label(mask_path), label=True)
        if tuple(mask.shape[1:]) != tuple(image.shape[1:]):
            raise ImageReadError(ERR_BAD_LABEL_MASK, code="label_mask_grid")
        return (mask[0] > 0.5).numpy()


def _load_label(mask_path: str) -> Volume:
    try:
        return load_volume(mask_path)
    except ImageReadError as exc:
        # Say which file failed: the image itself was read fine.
        raise ImageReadError(f"label mask: {exc}", code="label_mask_unreadable") from None


def image_path(value: Any) -> str | None:
    """A manifest image cell as a path, ``None`` when empty (blank, NaN, None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text.strip() else None


def _keep_list(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Images differ in size when no spatial_size is set; the loop stacks equal shapes.
    return items


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


@contextlib.contextmanager
def _deterministic(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch and, on CUDA, ask for deterministic kernels; global state restored afterwards.

    The deterministic switch chooses among CUDA kernels; CPU inference kernels give the same
    result run to run without it. It is left alone on CPU because setting it imports
    torch._dynamo and torch._inductor (seconds of start-up, ``python -X importtime``).
    """
    cuda = device.type == "cuda"
    devices = [device.index or 0] if cuda else []
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_bench = torch.backends.cudnn.benchmark
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if cuda:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        try:
            yield
        finally:
            if cuda:
                torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
                torch.backends.cudnn.benchmark = previous_bench


def _resolve_spec(
    model: LoadedModel,
    *,
    spatial_size: tuple[int, ...] | None,
    spacing: tuple[float, ...] | None,
    intensity: str | None,
    spatial_dims: int | None,
    channels: int | None = None,
    colour_to_grey: bool = False,
) -> PreprocessSpec:
    hints = model.hints
    size = spatial_size if spatial_size is not None else hints.get("spatial_size")
    space = spacing if spacing is not None else hints.get("spacing")
    dims = spatial_dims or (len(size) if size else None) or hints.get("spatial_dims") or 3
    return PreprocessSpec(
        spatial_dims=int(dims),
        spatial_size=tuple(size) if size else None,
        spacing=tuple(float(s) for s in space) if space else None,
        intensity=intensity if intensity is not None else hints.get("intensity"),
        axcodes=str(hints.get("axcodes", "RAS")),
        channels=int(channels if channels is not None else hints.get("channels", 1)),
        colour_to_grey=colour_to_grey,
    )


def _bundle_pipeline(
    loaded: LoadedModel,
    *,
    task: str,
    spacing: tuple[float, ...] | None,
    intensity: str | None,
    spatial_size: tuple[int, ...] | None,
) -> BundlePipeline | None:
    """The bundle's own sections with the user's explicit flags applied; ``None`` without."""
    if loaded.bundle_parser is None:
        return None
    try:
        pipeline = build_pipeline(
            loaded.bundle_parser,
            data_format=loaded.data_format,
            task=task,
            spacing=spacing,
            intensity=intensity,
            spatial_size=spatial_size,
        )
    except UsageError:
        raise
    except Exception as exc:  # MONAI's parser raises many types; their text may quote config
        raise ModelLoadError(
            f"the bundle's preprocessing, inferer or postprocessing failed to instantiate "
            f"({type(exc).__name__})"
        ) from None
    if not pipeline.present:
        return None
    loaded.pipeline = pipeline
    return pipeline


def _sources(
    loaded: LoadedModel,
    *,
    spatial_size: tuple[int, ...] | None,
    spacing: tuple[float, ...] | None,
    intensity: str | None,
) -> dict[str, str]:
    """Where each input setting came from: ``flag``, ``bundle`` or ``default``."""
    given = {"spatial_size": spatial_size, "spacing": spacing, "intensity": intensity}
    return {
        name: "flag" if value is not None else "bundle" if name in loaded.hints else "default"
        for name, value in given.items()
    }


def predict(
    *,
    model: str | Path,
    manifest: str | Path,
    out: Path,
    task: str = "binary",
    device: str = "auto",
    batch_size: int = 8,
    workers: int = 0,
    amp: bool = False,
    image_column: str = "image",
    label_column: str | None = "label",
    spatial_size: tuple[int, ...] | None = None,
    spacing: tuple[float, ...] | None = None,
    intensity: str | None = None,
    seed: int = 0,
    progress: bool = True,
    model_kind: str | None = None,
    weights: Path | None = None,
    spatial_dims: int | None = None,
    class_names: Sequence[str] | None = None,
    cohort: Path | None = None,
    key: ProjectKey | None = None,
    overlap: float = 0.25,
    overwrite: bool = False,
    vendor_table: Path | None = None,
    shard: tuple[int, int] | None = None,
    dicom_seg: bool = False,
    channels: int | None = None,
    colour_to_grey: bool = False,
) -> PredictionRun:
    """Run ``model`` on every image of ``manifest`` and write predictions + provenance.

    Parameters
    ----------
    model : str or Path
        TorchScript file, MONAI bundle folder, ``.onnx`` file or ``module:function``
        factory (with ``weights``); see :mod:`auditkit.inference.models`.
    manifest : str or Path
        CSV/Parquet manifest (see :mod:`auditkit.inference.manifest`).
    out : Path
        Predictions path; see the module docstring for the files written.
    task : {"binary", "multiclass", "regression", "segmentation"}
        How outputs become columns (a bundle declaring segmentation overrides binary).
    device : {"auto", "cpu", "cuda"}
        See :func:`select_device`.
    batch_size, workers : int
        DataLoader batch size and worker processes (0: load in this process).
    amp : bool
        float16 autocast on CUDA (ignored, with a warning, on CPU).
    image_column, label_column : str, str or None
        Manifest columns; for segmentation the label column holds mask paths.
    spatial_size, spacing, intensity, spatial_dims : optional
        Model input expectations; each overrides the bundle's declaration. For
        segmentation ``spatial_size`` is the sliding-window patch size.
    seed : int
        Seeds torch for the run (inference is deterministic on CPU).
    progress : bool
        Show a progress bar on stderr.
    model_kind, weights : optional
        Loader kind (detected when ``None``) and state-dict file (factory models).
    class_names : sequence of str, optional
        Multiclass output names (``score_<name>``); default the bundle's, else 0..K-1.
    cohort : Path, optional
        ``deidkit scrub --cohort-manifest`` table joined into the manifest.
    key : ProjectKey, optional
        Project key for site pseudonyms; without it ``site`` stays empty.
    overlap : float
        Sliding-window overlap (segmentation).
    overwrite : bool
        Replace existing output files.
    vendor_table : Path, optional
        YAML spellings added to the shipped vendor table (:mod:`auditkit.vendors`); the
        ``manufacturer`` column, from headers or the manifest, goes through it.
    dicom_seg : bool
        Segmentation of DICOM input: also write each mask as a DICOM SEG referencing the
        source series, in ``X_seg/`` (:mod:`auditkit.inference.dicomseg`).
    shard : (int, int), optional
        ``(i, n)``: predict only shard ``i`` of ``n`` of the manifest's rows, with the case
        ids of the whole manifest (:mod:`auditkit.inference.shards`; ``auditkit merge``).
    channels : int, optional
        Input channels of the model (default: the bundle's, else 1). A grey image is
        repeated to fill them; a colour DICOM (RGB, YBR, PALETTE COLOR through its lookup
        table) gives its R, G, B to a 3-channel model.
    colour_to_grey : bool
        A colour image for a model of other than 3 channels is scored as its luminance
        (ITU-R BT.601); without it the row fails (``colour_unsupported``, ``palette_colour``).

    Returns
    -------
    PredictionRun

    Raises
    ------
    UsageError
        Bad arguments, manifest, model/task mismatch, or unavailable device.
    """

    if task not in TASKS:
        raise UsageError(f"unknown task '{task}': use one of {', '.join(TASKS)}")
    if batch_size < 1 or workers < 0:
        raise UsageError("batch size must be >= 1 and workers >= 0")
    started = time.perf_counter()
    parquet_path, csv_path, provenance_path, mask_dir = output_paths(Path(out))
    seg_dir = dicom_seg_dir(Path(out)) if dicom_seg else None
    manifest_path = Path(manifest)
    _check_outputs(
        {
            "--out (.parquet)": parquet_path,
            "--out (.csv)": csv_path,
            "--out (.provenance.json)": provenance_path,
        },
        mask_dir=mask_dir,
        seg_dir=seg_dir,
        inputs={
            "--data": manifest_path,
            "--model": Path(str(model)) if Path(str(model)).exists() else None,
            "--weights": weights,
            "--cohort": cohort,
            "--vendor-table": vendor_table,
        },
        overwrite=overwrite,
    )
    vendors = load_vendor_table(vendor_table)
    torch_device = select_device(device)
    if amp and torch_device.type != "cuda":
        logger.warning("--amp needs CUDA; running in float32 on %s", torch_device.type)
    loaded = load_model(model, device=torch_device, kind=model_kind, weights=weights)
    if task == "binary" and loaded.hints.get("task") == "segmentation":
        task = "segmentation"
    seg = task == "segmentation"
    if dicom_seg and not seg:
        raise UsageError("--dicom-seg writes segmentation masks: it needs --task segmentation")
    spec = _resolve_spec(
        loaded,
        spatial_size=spatial_size,
        spacing=spacing,
        intensity=intensity,
        spatial_dims=spatial_dims,
        channels=channels,
        colour_to_grey=colour_to_grey,
    )
    if spec.channels < 1:
        raise UsageError("--channels must be at least 1")
    pipeline = _bundle_pipeline(
        loaded, task=task, spacing=spacing, intensity=intensity, spatial_size=spatial_size
    )
    preprocessor: Preprocessor | BundlePreprocessor = (
        BundlePreprocessor(
            pipeline,
            channels=spec.channels,
            colour_to_grey=colour_to_grey,
            spatial_dims=spec.spatial_dims,
        )
        if pipeline is not None and pipeline.preprocessing is not None
        else Preprocessor(spec, resize=not seg)
    )
    table = load_manifest(
        manifest_path,
        image_column=image_column,
        label_column=label_column,
        cohort=cohort,
    )
    frame = table.frame
    if shard is not None:
        frame = select_shard(frame, *shard)
    masks: list[str | None] | None = None
    if seg and label_column is not None:
        base = manifest_path.resolve().parent
        masks = [
            None if (v is None or (isinstance(v, float) and math.isnan(v))) else str(base / str(v))
            for v in frame[label_column].tolist()
        ]
    dataset = CaseDataset(
        frame[image_column].tolist(),
        preprocessor,
        masks=masks,
        key=key,
        vendors=vendors,
        keep_volume=dicom_seg,
    )
    generator = torch.Generator()
    generator.manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=1 if seg else batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_keep_list,
        worker_init_fn=_seed_worker,
        generator=generator,
        pin_memory=torch_device.type == "cuda",
    )
    results: list[dict[str, Any]] = [{} for _ in range(len(dataset))]
    scorer = Scorer(
        task,
        class_names or loaded.hints.get("class_names"),
        activated=pipeline is not None and pipeline.activated,
    )
    failures = FailureReasons(spatial_size_given=spec.spatial_size is not None)
    if seg:
        mask_dir.mkdir(parents=True, exist_ok=True)
    if seg_dir is not None:
        seg_dir.mkdir(parents=True, exist_ok=True)
    with _deterministic(seed, torch_device), _progress(progress, len(dataset)) as advance:
        for items in loader:
            _run_batch(
                items,
                results,
                loaded,
                scorer,
                spec,
                torch_device,
                amp,
                seg,
                mask_dir,
                overlap,
                failures,
                seg_dir,
            )
            advance(len(items))
    table_out = assemble_table(
        frame, results, task=task, image_column=image_column, label_column=label_column
    )
    # Manifest spellings too: a curated "G.E. Medical Systems" must join the header's "GE".
    table_out["manufacturer"] = table_out["manufacturer"].map(
        lambda v: v if v is None else vendors.normalise(str(v))
    )
    write_table(table_out, parquet_path, csv_path)
    n_failed = int((table_out["status"] == "failed").sum())
    warnings = [*table.warnings, *_site_warning(table_out, key), *_seg_warning(results)]
    settings = {
        "task": task,
        "model_name": Path(str(model)).name,
        "batch_size": batch_size,
        "workers": workers,
        "amp": bool(amp and torch_device.type == "cuda"),
        "seed": seed,
        "spatial_dims": spec.spatial_dims,
        "spatial_size": list(spec.spatial_size) if spec.spatial_size else None,
        "spacing": list(spec.spacing) if spec.spacing else None,
        "intensity": spec.intensity,
        "axcodes": spec.axcodes,
        "channels": spec.channels,
        "colour_to_grey": colour_to_grey,
        "image_column": image_column,
        "label_column": label_column,
        "empty_mask_rule": EMPTY_MASK_RULE if seg else None,
        "key_fingerprint": key.fingerprint if key is not None else None,
        "vendor_table": Path(vendor_table).name if vendor_table is not None else None,
        "seconds": round(time.perf_counter() - started, 3),
        "sources": _sources(
            loaded, spatial_size=spatial_size, spacing=spacing, intensity=intensity
        ),
        "bundle_pipeline": pipeline.describe() if pipeline is not None else None,
        "dicom_seg": dicom_seg,
    }
    if shard is not None:
        settings["shard"] = f"{shard[0]}/{shard[1]}"
    record = build_provenance(
        model_sha256=loaded.sha256,
        model_kind=loaded.kind,
        manifest_sha256=table.sha256,
        device=torch_device,
        settings=settings,
        counts={"rows": len(table_out), "ok": len(table_out) - n_failed, "failed": n_failed},
        warnings=warnings,
    )
    write_provenance(provenance_path, record)
    return PredictionRun(
        frame=table_out,
        parquet_path=parquet_path,
        csv_path=csv_path,
        provenance_path=provenance_path,
        mask_dir=mask_dir if seg else None,
        task=task,
        device=str(torch_device),
        n_ok=len(table_out) - n_failed,
        n_failed=n_failed,
        provenance=record,
        warnings=tuple(warnings),
        seg_dir=seg_dir,
    )


def _check_outputs(
    files: dict[str, Path],
    *,
    mask_dir: Path,
    seg_dir: Path | None = None,
    inputs: dict[str, Path | None],
    overwrite: bool,
) -> None:
    """The one output rule (:func:`deidkit.core.io.check_output_path`) for every file of --out.

    Predictions name patients and image paths: never in a release, never over an input.
    """
    for option, path in files.items():
        check_output_path(
            path,
            option=option,
            inputs=inputs,
            sensitive=True,
            force=overwrite,
            error=OutputPathError,
        )
    folders = {"--out (_masks)": mask_dir}
    if seg_dir is not None:
        folders["--dicom-seg (_seg)"] = seg_dir
    for option, folder in folders.items():
        if folder == seg_dir and overwrite:
            # Our own SEGs of an earlier run make the folder look like a DICOM release;
            # --force replaces them (a folder holding any other DICOM file is still refused).
            remove_own_segs(folder)
        check_output_path(
            folder,
            option=option,
            kind=OutputKind.FOLDER,
            inputs=inputs,
            sensitive=True,
            error=OutputPathError,
        )


def _seg_warning(results: list[dict[str, Any]]) -> list[WarningEntry]:
    failed = [r["seg_error"] for r in results if r.get("seg_error")]
    if not failed:
        return []
    kinds = ", ".join(sorted(set(failed)))
    message = (
        f"no DICOM SEG was written for {len(failed)} segmented DICOM row(s) ({kinds}); "
        "their NIfTI masks are in mask_path"
    )
    return [{"code": "dicom_seg_not_written", "message": message, "count": len(failed)}]


def _site_warning(table: Any, key: ProjectKey | None) -> list[WarningEntry]:
    # Without a key the site is blank by design (the name itself is never written), but a
    # blank column audits as one "missing" group: a site bias would go unseen.
    if key is not None or "site" not in table.columns or len(table) == 0:
        return []
    count = int(table["site"].isna().sum())
    if not count:
        return []
    message = WARN_SITE_NO_KEY.format(count=count, rows=len(table))
    return [{"code": "site_without_key", "message": message, "count": count}]


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    ) as bar:
        task_id = bar.add_task("predict", total=total)
        yield lambda n: bar.advance(task_id, n)


def _executor(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """TorchScript's optimising graph executor, on CUDA only.

    On CPU it profiles a scripted graph over its first calls and then re-optimises it: seconds
    for a DenseNet121, most of a one-image ``auditkit predict`` (bench/startup.py), for no
    gain, as TorchScript fuses kernels on GPUs only (``torch._C._jit_can_fuse_on_cpu()``). The
    same operators run either way, so the scores are the same. Eager modules ignore it.
    """
    jit: Any = torch.jit  # optimized_execution is public but not in torch.jit's __all__
    manager: contextlib.AbstractContextManager[None] = jit.optimized_execution(
        device.type == "cuda"
    )
    return manager


def _forward(
    loaded: LoadedModel, batch: torch.Tensor, device: torch.device, amp: bool
) -> torch.Tensor:
    with (
        torch.inference_mode(),
        _executor(device),
        torch.autocast(
            device_type=device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"
        ),
    ):
        # A bundle's preprocessing gives MetaTensors; networks (TorchScript) want plain tensors.
        plain = batch.as_tensor() if hasattr(batch, "as_tensor") else batch
        inputs = plain.to(device, non_blocking=True)
        pipeline = loaded.pipeline
        if pipeline is None:
            output = loaded.network(inputs)
        else:
            output = pipeline.infer(inputs, loaded.network)
    if isinstance(output, list | tuple):
        output = output[0]
    if isinstance(output, dict):
        output = next(iter(output.values()))
    if pipeline is not None and pipeline.postprocessing is not None:
        output = torch.stack(
            [pipeline.postprocess(image, pred) for image, pred in zip(batch, output, strict=True)]
        )
    result: torch.Tensor = torch.as_tensor(output).float()
    return result


def _run_batch(
    items: list[dict[str, Any]],
    results: list[dict[str, Any]],
    loaded: LoadedModel,
    scorer: Scorer,
    spec: PreprocessSpec,
    device: torch.device,
    amp: bool,
    seg: bool,
    mask_dir: Path,
    overlap: float,
    failures: FailureReasons,
    seg_dir: Path | None = None,
) -> None:
    ready = []
    for item in items:
        if item["error"]:
            results[item["index"]] = {
                "error": item["error"],
                "error_code": item["error_code"],
                "attributes": item["attributes"],
            }
        else:
            _check_format(loaded, item["image"], spec, seg)
            ready.append(item)
    if seg:
        for item in ready:
            results[item["index"]] = _segment(
                item, loaded, spec, device, amp, mask_dir, overlap, failures, seg_dir
            )
        return
    groups: dict[tuple[int, ...], list[dict[str, Any]]] = {}
    for item in ready:
        groups.setdefault(tuple(item["image"].shape), []).append(item)
    for group in groups.values():
        try:
            output = _forward(loaded, torch.stack([g["image"] for g in group]), device, amp)
            columns = scorer.columns(output)
        except UsageError:
            raise  # the model does not fit the task: every row would fail the same way
        except Exception:
            columns = []
        if len(columns) == len(group):
            for item, cols in zip(group, columns, strict=True):
                results[item["index"]] = _checked(cols, item)
            continue
        for item in group:  # one bad input must not fail its batch: retry one by one
            try:
                cols = scorer.columns(_forward(loaded, item["image"][None], device, amp))[0]
                results[item["index"]] = _checked(cols, item)
            except UsageError:
                raise
            except Exception as exc:
                reason = failures.reason(
                    exc, input_shape=tuple(item["image"][None].shape), row=item["index"]
                )
                results[item["index"]] = {
                    "error": reason,
                    "error_code": CODE_MODEL_FAILED,
                    "attributes": item["attributes"],
                }


def _check_format(loaded: LoadedModel, image: Any, spec: PreprocessSpec, seg: bool) -> None:
    """A bundle's declared input format against one preprocessed image (raises on mismatch)."""
    if not loaded.data_format:
        return
    network_shape: Sequence[int] = tuple(image.shape[1:])
    inferer = loaded.pipeline.inferer if loaded.pipeline is not None else None
    if seg and inferer is not None and hasattr(inferer, "roi_size"):
        network_shape = tuple(int(v) for v in inferer.roi_size)
    elif seg and spec.spatial_size is not None:
        network_shape = spec.spatial_size
    check_data_format(
        loaded.data_format, image_shape=tuple(image.shape), network_shape=network_shape
    )


def _checked(columns: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """A row's result; a non-finite model output fails the row instead of scoring it."""
    numbers = [v for v in columns.values() if isinstance(v, float)]
    if not all(math.isfinite(v) for v in numbers):
        return {
            "error": ERR_NOT_FINITE,
            "error_code": "output_not_finite",
            "attributes": item["attributes"],
        }
    return {"columns": columns, "attributes": item["attributes"]}


def _segment(
    item: dict[str, Any],
    loaded: LoadedModel,
    spec: PreprocessSpec,
    device: torch.device,
    amp: bool,
    mask_dir: Path,
    overlap: float,
    failures: FailureReasons,
    seg_dir: Path | None = None,
) -> dict[str, Any]:
    image = item["image"][None]
    try:
        logits = _segment_logits(image, loaded, spec, device, amp, overlap)
        pred, affine = _foreground(item, logits, loaded.pipeline)
    except Exception as exc:
        reason = failures.reason(exc, input_shape=tuple(image.shape), row=item["index"])
        return {"error": reason, "error_code": CODE_MODEL_FAILED, "attributes": item["attributes"]}
    name = f"case-{item['index'] + 1:05d}.nii"
    write_mask(mask_dir / name, pred, affine)
    columns: dict[str, Any] = {"mask_path": f"{mask_dir.name}/{name}"}
    try:
        truth = _truth(item, pred, affine)
    except ImageReadError as exc:
        return {"error": str(exc), "error_code": exc.code, "attributes": item["attributes"]}
    if truth is not None:
        columns.update(segmentation_metrics(pred, truth, spacing_of(affine)))
    result = {"columns": columns, "attributes": item["attributes"]}
    volume = item.get("volume")
    if seg_dir is not None and volume is not None and volume.source == "dicom":
        seg_name = f"case-{item['index'] + 1:05d}.dcm"
        try:
            write_dicom_seg(seg_dir / seg_name, pred, affine, volume, model_sha256=loaded.sha256)
            columns["seg_path"] = f"{seg_dir.name}/{seg_name}"
        except Exception as exc:  # highdicom refuses some sources (e.g. no geometry)
            result["seg_error"] = type(exc).__name__
    return result


def _segment_logits(
    image: Any,
    loaded: LoadedModel,
    spec: PreprocessSpec,
    device: torch.device,
    amp: bool,
    overlap: float,
) -> torch.Tensor:
    """Network output for one image: the bundle's inferer, else a sliding window or one call."""
    from monai.inferers.utils import sliding_window_inference

    with (
        torch.inference_mode(),
        _executor(device),
        torch.autocast(
            device_type=device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"
        ),
    ):
        plain = image.as_tensor() if hasattr(image, "as_tensor") else image
        batch = plain.to(device)
        pipeline = loaded.pipeline
        if pipeline is not None and pipeline.inferer is not None:
            logits = pipeline.inferer(batch, loaded.network)
        elif spec.spatial_size is not None:
            logits = sliding_window_inference(
                batch, spec.spatial_size, 4, loaded.network, overlap=overlap, mode="gaussian"
            )
        else:
            logits = loaded.network(batch)
    return torch.as_tensor(logits).float().cpu()


def _foreground(
    item: dict[str, Any], logits: torch.Tensor, pipeline: BundlePipeline | None
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean foreground mask and the 4x4 RAS affine of its grid.

    After a bundle's postprocessing the grid is the one it gives (``Invertd``: the image's
    own); values are probabilities or labels when it activated or discretised them.
    """
    affine = item["affine"]
    threshold = 0.0  # a logit above 0 is a sigmoid above 0.5
    values: Any = logits[0]
    if pipeline is not None and pipeline.postprocessing is not None:
        with torch.inference_mode():
            out = pipeline.postprocess(item["image"], logits[0])
        if hasattr(out, "affine"):
            affine = np.asarray(out.affine, dtype=np.float64)
        values = torch.as_tensor(out.as_tensor() if hasattr(out, "as_tensor") else out).float()
        threshold = 0.5 if (pipeline.activated or pipeline.discrete) else 0.0
    mask = values[0] > threshold if values.shape[0] == 1 else values.argmax(0) > 0
    return np.asarray(mask.cpu().numpy(), dtype=bool), affine


def _truth(item: dict[str, Any], pred: np.ndarray, affine: np.ndarray) -> np.ndarray | None:
    """The truth mask on the prediction's grid, or ``None`` when the row has none."""
    truth = item.get("label_mask")
    if truth is not None:
        flat: np.ndarray = truth if pred.ndim == truth.ndim else truth[..., 0]
        return flat
    volume = item.get("label_volume")
    if volume is None:
        return None
    from monai.data.meta_tensor import MetaTensor
    from monai.transforms.spatial.array import ResampleToMatch

    source = MetaTensor(
        torch.from_numpy(np.ascontiguousarray(volume.data, dtype=np.float32))[None],
        affine=torch.from_numpy(np.asarray(volume.affine, dtype=np.float64)),
    )
    target = MetaTensor(
        torch.zeros((1, *pred.shape)), affine=torch.from_numpy(np.asarray(affine, np.float64))
    )
    resampled = ResampleToMatch(mode="nearest", padding_mode="zeros")(source, img_dst=target)
    mask = np.asarray(torch.as_tensor(resampled)[0].numpy() > 0.5)
    if mask.shape != pred.shape:
        raise ImageReadError(ERR_BAD_LABEL_MASK, code="label_mask_grid")
    return mask
