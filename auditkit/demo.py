"""``auditkit demo``: a planted scanner bias, found end to end by the real pipeline.

1. Synthesise an imaging data set as DICOM files: three manufacturers, two field strengths,
   five sites, a demographic mix, and a finding to detect (a small bright lesion). Scanner
   effects differ by vendor: intensity scaling, noise, resolution (blur) and lesion contrast.
   The Philips 1.5 T scanner images the lesion with less contrast and resolution.
2. Train a small MONAI classifier twice: on a training split dominated by one scanner
   (Siemens, "biased") and on a balanced split ("balanced"); save each as TorchScript.
3. Audit each model on the same balanced test split with the real stages:
   :func:`auditkit.inference.predict` -> :class:`auditkit.evaluate.AuditResult` ->
   :func:`auditkit.report.build_report` -> :func:`auditkit.gate.run_gate` with the shipped
   ``strict-predeployment`` policy. The biased model misses lesions on the Philips scanner:
   its sensitivity gap has a CI that excludes zero and the gate fails; the balanced model
   passes.

Everything is seeded: the same seed gives the same files. Runs on CPU in a few minutes
(``size="small"`` in well under one) and on CUDA unchanged (``device="cuda"``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from auditkit.errors import UsageError
from auditkit.optional import require_extra
from deidkit.core.io import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

INTENSITY: Final = "zscore"  # no clipping: a faint lesion must not be cut off
GROUPS: Final = ("manufacturer", "field_strength", "site", "sex", "age_band")
POLICY_NAME: Final = "strict-predeployment.yaml"


@dataclass(frozen=True)
class Scanner:
    """How one scanner model renders the phantom (its DICOM header values and effects)."""

    manufacturer: str  # as a vendor writes it in the header; auditkit normalises it
    model: str
    field_strength: float
    sites: tuple[str, ...]  # InstitutionName values; auditkit turns them into site codes
    scale: float  # intensity scaling (removed again by per-image normalisation)
    noise: float  # Gaussian noise SD relative to tissue intensity
    blur: float  # point-spread SD in pixels at 32 px (resolution)
    contrast: float  # lesion contrast relative to the reference scanner


SCANNERS: Final[tuple[Scanner, ...]] = (
    Scanner(
        "SIEMENS",
        "Skyra",
        3.0,
        ("North General Hospital", "Riverside Clinic"),
        scale=1.0,
        noise=0.02,
        blur=0.3,
        contrast=1.0,
    ),
    Scanner(
        "GE MEDICAL SYSTEMS",
        "SIGNA Explorer",
        1.5,
        ("Lakeside Imaging", "Hillcrest Hospital"),
        scale=0.8,
        noise=0.025,
        blur=0.5,
        contrast=0.9,
    ),
    # A smoother reconstruction (less noise, less resolution) and a sequence that gives the
    # lesion less contrast: still clearly detectable (a model trained on all scanners finds
    # it), but fainter than anything a Siemens-trained model has seen.
    Scanner(
        "Philips Medical Systems",
        "Ingenia",
        1.5,
        ("Harbour Medical Centre",),
        scale=1.3,
        noise=0.006,
        blur=0.6,
        contrast=0.4,
    ),
)


@dataclass(frozen=True)
class DemoSize:
    """Scale of one demo run."""

    image: int
    n_train: int
    n_test: int
    epochs: int
    n_boot: int
    intersections: int


SIZES: Final[dict[str, DemoSize]] = {
    "tiny": DemoSize(image=32, n_train=1200, n_test=750, epochs=16, n_boot=200, intersections=1),
    "small": DemoSize(image=32, n_train=1200, n_test=750, epochs=16, n_boot=500, intersections=2),
    "full": DemoSize(image=64, n_train=3000, n_test=1500, epochs=16, n_boot=1000, intersections=2),
}

#: Share of training cases per scanner (Siemens, GE, Philips) in each run.
TRAIN_MIX: Final[dict[str, tuple[float, float, float]]] = {
    "biased": (0.89, 0.10, 0.01),
    "balanced": (1 / 3, 1 / 3, 1 / 3),
}


@dataclass(frozen=True)
class Case:
    """One synthetic examination."""

    index: int
    scanner: int
    site: str
    sex: str
    age: int
    finding: bool


@dataclass(frozen=True)
class RunOutcome:
    """What one audited model produced."""

    name: str
    model: Path
    predictions: Path
    results: Path
    report: Path
    junit: Path
    markdown: Path
    verdict: str
    passed: bool
    summary: str


@dataclass(frozen=True)
class DemoResult:
    """Both runs of the demo."""

    outdir: Path
    runs: tuple[RunOutcome, ...]


# ---------------------------------------------------------------- data


def draw_cases(
    rng: np.random.Generator, n: int, mix: Sequence[float], *, start: int, prevalence: float = 0.4
) -> list[Case]:
    """Draw ``n`` cases with scanner shares ``mix`` and an even demographic mix."""
    counts = np.floor(np.asarray(mix) * n).astype(int)
    counts[0] += n - counts.sum()
    cases = []
    index = start
    for scanner, count in enumerate(counts):
        sites = SCANNERS[scanner].sites
        for _ in range(int(count)):
            cases.append(
                Case(
                    index=index,
                    scanner=scanner,
                    site=sites[int(rng.integers(len(sites)))],
                    sex=str(rng.choice(["F", "M"])),
                    age=int(rng.integers(30, 80)),
                    finding=bool(rng.random() < prevalence),
                )
            )
            index += 1
    return cases


def render(case: Case, *, size: int, seed: int) -> np.ndarray[Any, np.dtype[np.uint16]]:
    """Render one case as a 2D image (uint16), seeded by the case index."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng([seed, case.index])
    scanner = SCANNERS[case.scanner]
    grid = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    yy, xx = grid[0], grid[1]
    a, b = rng.uniform(0.36, 0.45), rng.uniform(0.30, 0.40)
    body = ((xx / a) ** 2 + (yy / b) ** 2 <= 1.0).astype(float)
    texture = gaussian_filter(rng.normal(size=(size, size)), sigma=size / 8)
    texture *= 0.04 / max(float(texture.std()), 1e-6)
    image = body * (0.5 + texture)
    if case.finding:
        radius, angle = rng.uniform(0.0, 0.22), rng.uniform(0, 2 * np.pi)
        cy, cx = radius * np.sin(angle) * b / 0.4, radius * np.cos(angle) * a / 0.45
        sigma = rng.uniform(0.040, 0.055)
        amplitude = rng.uniform(0.30, 0.45) * scanner.contrast
        image += amplitude * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2)) * body
    image = gaussian_filter(image, sigma=scanner.blur * size / 32)
    image = image + rng.normal(0.0, scanner.noise, size=image.shape)
    image = np.clip(image * scanner.scale, 0.0, None)
    pixels: np.ndarray[Any, np.dtype[np.uint16]] = np.round(image * 1000).astype(np.uint16)
    return pixels


def dicom_bytes(case: Case, pixels: np.ndarray[Any, Any], *, seed: int) -> bytes:
    """A valid MR Image Storage file for ``case`` (synthetic identifiers only)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    scanner = SCANNERS[case.scanner]
    uid = generate_uid(entropy_srcs=[f"auditkit-demo:{seed}:{case.index}"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[f"study:{seed}:{case.index}"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[f"series:{seed}:{case.index}"])
    ds.Modality = "MR"
    ds.PatientID = f"DEMO{case.index:05d}"
    ds.PatientSex = case.sex
    ds.PatientAge = f"{case.age:03d}Y"
    ds.Manufacturer = scanner.manufacturer
    ds.ManufacturerModelName = scanner.model
    ds.MagneticFieldStrength = scanner.field_strength
    ds.InstitutionName = case.site
    ds.BodyPartExamined = "BRAIN"
    ds.PixelSpacing = [7.0, 7.0] if pixels.shape[0] == 32 else [3.5, 3.5]
    ds.SliceThickness = 5.0
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_split(folder: Path, name: str, cases: Sequence[Case], *, size: int, seed: int) -> Path:
    """Write the DICOM files of ``cases`` and their manifest ``<name>.csv``; return it."""
    image_dir = folder / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    lines = ["image,label,patient_id"]
    for case in cases:
        file_name = f"case-{case.index:05d}.dcm"
        # Always (re)written: a rerun with another seed or size must not reuse old files.
        pixels = render(case, size=size, seed=seed)
        atomic_write_bytes(image_dir / file_name, dicom_bytes(case, pixels, seed=seed))
        lines.append(f"images/{file_name},{int(case.finding)},DEMO{case.index:05d}")
    manifest = folder / f"{name}.csv"
    atomic_write_text(manifest, "\n".join(lines) + "\n")
    return manifest


# ---------------------------------------------------------------- model


def _layouts(pixels: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    # The eight in-plane flips/transposes, one of which is predict's reorientation.
    out = []
    for image in (pixels, pixels.T):
        out += [image, image[::-1], image[:, ::-1], image[::-1, ::-1]]
    return out


def _zscore(image: np.ndarray[Any, Any], ddof: int) -> np.ndarray[Any, Any]:
    image = image.astype(np.float64)
    scaled: np.ndarray[Any, Any] = (image - image.mean()) / max(float(image.std(ddof=ddof)), 1e-8)
    return scaled


def load_inputs(manifest: Path, *, size: int) -> tuple[Any, Any]:
    """Images of a manifest exactly as ``predict`` preprocesses them, and their labels.

    auditkit's reference preprocessing (MONAI transforms per image) is slow for thousands of
    training images, so the first image selects the equivalent pixel layout and z-score
    among the few candidates; every image is then prepared with numpy. When no candidate
    reproduces the reference, every image goes through the reference path.
    """
    import pandas as pd
    import pydicom
    import torch

    from auditkit.imaging import Preprocessor, PreprocessSpec, load_volume

    pre = Preprocessor(
        PreprocessSpec(spatial_dims=2, spatial_size=(size, size), intensity=INTENSITY)
    )
    table = pd.read_csv(manifest)
    paths = [manifest.parent / p for p in table["image"]]
    labels = torch.tensor(table["label"].to_numpy(), dtype=torch.float32)
    reference = pre(load_volume(paths[0]))[0].numpy()[0]
    first = pydicom.dcmread(paths[0]).pixel_array
    match = next(
        (
            (k, ddof)
            for k, image in enumerate(_layouts(first))
            for ddof in (0, 1)
            if image.shape == reference.shape
            and np.allclose(_zscore(image, ddof), reference, atol=1e-4)
        ),
        None,
    )
    if match is None:
        logger.info("fast preprocessing does not match the reference; using the reference")
        images = [pre(load_volume(p))[0] for p in paths]
        return torch.stack(images), labels
    k, ddof = match
    arrays = [_zscore(_layouts(pydicom.dcmread(p).pixel_array)[k], ddof) for p in paths]
    stacked = torch.from_numpy(np.stack(arrays).astype(np.float32)[:, None])
    return stacked, labels


def train_model(
    manifest: Path, out: Path, *, size: int, epochs: int, device: Any, seed: int
) -> Path:
    """Train a small MONAI classifier on ``manifest`` and save it as TorchScript at ``out``."""
    import torch
    from monai.networks.nets.classifier import Classifier

    torch.manual_seed(seed)
    images, labels = load_inputs(manifest, size=size)
    net = Classifier(
        in_shape=(1, size, size),
        classes=1,
        channels=(8, 16, 32),
        strides=(2, 2, 2),
        num_res_units=0,
    ).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    # Positives weighted up: a screening model that favours sensitivity.
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(2.5, device=device))
    generator = torch.Generator().manual_seed(seed)
    images, labels = images.to(device), labels.to(device)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator).to(device)
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            optimiser.zero_grad()
            loss = loss_fn(net(images[batch]).reshape(-1), labels[batch])
            loss.backward()
            optimiser.step()
    net = net.eval().cpu()  # saved on CPU so the file loads on any machine
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # TorchScript is the format auditkit predict loads; torch >= 2.10 flags it deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.trace(net, torch.zeros(1, 1, size, size))  # type: ignore[no-untyped-call]
        torch.jit.save(scripted, buffer)
    atomic_write_bytes(out, buffer.getvalue())
    return out


# ---------------------------------------------------------------- the audit


def _audit(
    name: str,
    run_dir: Path,
    *,
    model: Path,
    test_manifest: Path,
    size: DemoSize,
    device: str,
    seed: int,
    make_report: bool,
    say: Callable[[str], None],
) -> RunOutcome:
    from auditkit.evaluate import AuditResult, load_predictions
    from auditkit.gate import load_policy, markdown_summary, run_gate, text_summary, write_junit
    from auditkit.inference import predict
    from auditkit.report import build_report, curves_for_results, write_report
    from auditkit.results import dumps_results
    from deidkit.core.keys import ProjectKey
    from deidkit.core.resources import shipped_dir

    # A fixed, public demo key: site codes are stable across runs (never use it for real data).
    key = ProjectKey(secret=hashlib.sha256(b"auditkit-demo-key").digest(), source="demo")
    say(f"[{name}] predict: {size.n_test} test images")
    run = predict(
        model=model,
        manifest=test_manifest,
        out=run_dir / "predictions",
        task="binary",
        device=device,
        batch_size=64,
        spatial_size=(size.image, size.image),
        spatial_dims=2,
        intensity=INTENSITY,
        seed=seed,
        progress=False,
        key=key,
        overwrite=True,
    )
    say(f"[{name}] evaluate: {size.n_boot} bootstrap replicates, resampling patients")
    table = load_predictions(
        run.parquet_path,
        task="binary",
        label="label",
        scores=("score",),
        patient="patient_id",
        groups=GROUPS,
    )
    audit = AuditResult(
        predictions=table,
        intersections=size.intersections,
        n_boot=size.n_boot,
        seed=seed,
        provenance={"model": model.name, "predictions": run.parquet_path.name, "demo": name},
    )
    results = audit.to_dict()
    results_path = run_dir / "results.json"
    atomic_write_text(results_path, dumps_results(results))
    policy = load_policy(shipped_dir("profiles") / "policies" / POLICY_NAME)
    gate = run_gate(results, policy)
    junit_path, markdown_path = run_dir / "gate.xml", run_dir / "gate.md"
    write_junit(gate, junit_path)
    atomic_write_text(markdown_path, markdown_summary(gate))
    report_path = run_dir / "report.html"
    if make_report:
        say(f"[{name}] report")
        curves = curves_for_results(results, run.parquet_path, label="label", score="score")
        trained = "mostly on Siemens" if name == "biased" else "on all scanners"
        title = f"Demo audit: {name} model (trained {trained})"
        write_report(report_path, build_report(results, policy=policy, curves=curves, title=title))
    return RunOutcome(
        name=name,
        model=model,
        predictions=run.parquet_path,
        results=results_path,
        report=report_path,
        junit=junit_path,
        markdown=markdown_path,
        verdict=gate.verdict.value,
        passed=gate.passed,
        summary=text_summary(gate, max_lines=6),
    )


def run_demo(
    outdir: str | Path,
    *,
    size: str = "small",
    device: str = "auto",
    seed: int = 0,
    make_report: bool = True,
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """Generate the data, train both models and audit them; return where everything is.

    Parameters
    ----------
    outdir
        Output folder (created; existing demo files are replaced).
    size
        ``"tiny"`` (the test's size), ``"small"`` (32 px, about a minute on an idle CPU)
        or ``"full"`` (64 px, a few minutes).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"`` for training and inference.
    seed
        Seed of every random step.
    make_report
        Write the HTML reports (the slowest step after training).
    log
        Called with one line per step (the CLI prints them on stderr).
    """
    require_extra("audit", feature="auditkit demo")  # before the first file is written
    from auditkit.inference import select_device

    if size not in SIZES:
        raise UsageError(f"--size must be one of {', '.join(SIZES)}, not '{size}'")
    scale = SIZES[size]
    say = log or (lambda _line: None)
    torch_device = select_device(device)
    out = Path(outdir)
    data = out / "data"
    rng = np.random.default_rng(seed)
    test_cases = draw_cases(rng, scale.n_test, (1 / 3, 1 / 3, 1 / 3), start=0)
    say(f"writing {scale.n_test} test DICOM files ({scale.image} px, 3 vendors, 5 sites)")
    test_manifest = write_split(data, "test", test_cases, size=scale.image, seed=seed)
    runs = []
    start = scale.n_test
    for name, mix in TRAIN_MIX.items():
        cases = draw_cases(rng, scale.n_train, mix, start=start)
        start += scale.n_train
        shares = "/".join(f"{m:.0%}" for m in mix)
        say(f"[{name}] writing {scale.n_train} training files (Siemens/GE/Philips {shares})")
        manifest = write_split(data, f"train-{name}", cases, size=scale.image, seed=seed)
        run_dir = out / name
        say(f"[{name}] training a MONAI classifier on {torch_device}")
        model = train_model(
            manifest,
            run_dir / "model.ts",
            size=scale.image,
            epochs=scale.epochs,
            device=torch_device,
            seed=seed,
        )
        outcome = _audit(
            name,
            run_dir,
            model=model,
            test_manifest=test_manifest,
            size=scale,
            device=device,
            seed=seed,
            make_report=make_report,
            say=say,
        )
        runs.append(outcome)
    return DemoResult(outdir=out, runs=tuple(runs))
