"""GPU check for ``auditkit predict``: CUDA (+AMP) against CPU on demo-like data.

Writes synthetic demo-like cases (2D single-slice MR DICOM files from three vendors with a
small bright lesion in 40 % of them, 64x64) and a small 3D volume set for sliding-window
segmentation, trains a tiny MONAI classifier for a few seconds on CPU, saves it as
TorchScript, then runs :func:`auditkit.inference.predict` on CUDA with ``--amp``, on CUDA
in float32 and on CPU. Prints images/s for each and the max |score difference| against
CPU, and the mask agreement (Dice) of the CUDA segmentation against CPU.

Usage: ``bash bench/gpu_check.sh [--n 1024] [--workers 4]``. Exits 2 with a message when
no CUDA device is present (``--gpu-device cpu`` runs every step on CPU to check the
script itself).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from auditkit.inference import predict

VENDORS = ("SIEMENS", "GE MEDICAL SYSTEMS", "Philips Medical Systems")


def write_cases(folder: Path, n: int, size: int, seed: int) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        lesion = bool(rng.random() < 0.4)
        image = rng.normal(300, 40, size=(size, size))
        if lesion:
            x, y = rng.integers(4, size - 8, size=2)
            image[x : x + 4, y : y + 4] += 250
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = generate_uid()
        ds.Modality = "MR"
        ds.Manufacturer = VENDORS[i % 3]
        ds.MagneticFieldStrength = "1.5" if i % 2 else "3"
        ds.PatientSex = "F" if i % 4 < 2 else "M"
        ds.PatientAge = f"{30 + i % 50:03d}Y"
        ds.ImagePositionPatient = ["0", "0", "0"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = ["1", "1"]
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = np.clip(image, 0, 4095).astype("<u2").tobytes()
        name = f"images/case-{i:05d}.dcm"
        ds.save_as(folder / name, enforce_file_format=True)
        rows.append({"image": name, "label": int(lesion), "patient_id": f"P{i:05d}"})
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def train(manifest: Path, size: int, out: Path, seed: int) -> Path:
    from monai.networks.nets import Classifier

    from auditkit.imaging import Preprocessor, PreprocessSpec, load_volume

    pre = Preprocessor(
        PreprocessSpec(spatial_dims=2, spatial_size=(size, size), intensity="minmax")
    )
    table = pd.read_csv(manifest).head(256)
    x = torch.stack([pre(load_volume(manifest.parent / p))[0] for p in table["image"]])
    y = torch.tensor(table["label"].to_numpy(), dtype=torch.float32)[:, None]
    torch.manual_seed(seed)
    net = Classifier(in_shape=(1, size, size), classes=1, channels=(8, 16, 32), strides=(2, 2, 2))
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(40):
        optimiser.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(x), y).backward()
        optimiser.step()
    torch.jit.save(torch.jit.trace(net.eval(), torch.zeros(1, 1, size, size)), str(out))
    return out


def write_volumes(folder: Path, n: int, seed: int) -> tuple[Path, Path]:
    import nibabel as nib
    from monai.networks.nets import BasicUNet

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        volume = rng.normal(0, 1, size=(96, 96, 64)).astype(np.float32)
        volume[30:60, 20:50, 10:40] += 3
        nib.save(nib.Nifti1Image(volume, np.eye(4)), str(folder / f"v{i}.nii.gz"))
        nib.save(
            nib.Nifti1Image((volume > 1.5).astype(np.uint8), np.eye(4)),
            str(folder / f"m{i}.nii.gz"),
        )
        rows.append({"image": f"v{i}.nii.gz", "mask": f"m{i}.nii.gz"})
    pd.DataFrame(rows).to_csv(folder / "seg.csv", index=False)
    torch.manual_seed(seed)
    net = BasicUNet(spatial_dims=3, in_channels=1, out_channels=2, features=(8, 8, 16, 32, 64, 8))
    model = folder / "unet.ts"
    torch.jit.save(torch.jit.trace(net.eval(), torch.zeros(1, 1, 64, 64, 64)), str(model))
    return folder / "seg.csv", model


def timed(**kwargs: object) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    run = predict(progress=False, overwrite=True, **kwargs)  # type: ignore[arg-type]
    return run.frame, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="classification cases")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--volumes", type=int, default=4, help="3D segmentation volumes")
    parser.add_argument("--gpu-device", default="cuda", help="device under test (cpu: dry run)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.gpu_device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device on this machine (torch.cuda.is_available() is False);"
            " nothing to check. Run it where a GPU is present.",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="auditkit-gpu-check-"))
    try:
        t0 = time.perf_counter()
        manifest = write_cases(work / "cls", args.n, args.size, args.seed)
        model = train(manifest, args.size, work / "model.ts", args.seed)
        seg_manifest, unet = write_volumes(work / "seg", args.volumes, args.seed)
        print(
            f"data + model ready in {time.perf_counter() - t0:.1f} s "
            f"({args.n} images {args.size}x{args.size}, {args.volumes} volumes 96x96x64)"
        )
        if args.gpu_device.startswith("cuda"):
            print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
        common = {
            "model": model,
            "manifest": manifest,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "spatial_size": (args.size, args.size),
            "spatial_dims": 2,
            "intensity": "minmax",
            "seed": args.seed,
        }
        # Warm-up (CUDA context, cuDNN autotuning, page cache) on a separate output.
        timed(out=work / "warm", device=args.gpu_device, amp=True, **common)
        runs = {}
        for label, device, amp in (
            ("gpu+amp", args.gpu_device, True),
            ("gpu fp32", args.gpu_device, False),
            ("cpu", "cpu", False),
        ):
            frame, seconds = timed(
                out=work / label.replace(" ", "_").replace("+", "_"),
                device=device,
                amp=amp,
                **common,
            )
            assert (frame["status"] == "ok").all(), "some rows failed"
            runs[label] = frame
            print(f"{label:9s}: {args.n / seconds:8.1f} images/s ({seconds:.2f} s)")
        cpu = runs["cpu"]["score"].to_numpy()
        for label in ("gpu+amp", "gpu fp32"):
            diff = np.abs(runs[label]["score"].to_numpy() - cpu).max()
            print(f"max |score difference| {label} vs cpu: {diff:.2e}")

        seg_common = {
            "model": unet,
            "manifest": seg_manifest,
            "task": "segmentation",
            "label_column": "mask",
            "spatial_size": (64, 64, 64),
            "seed": args.seed,
        }
        seg = {}
        for label, device, amp in (("gpu+amp", args.gpu_device, True), ("cpu", "cpu", False)):
            frame, seconds = timed(
                out=work / f"seg_{label.replace('+', '_')}", device=device, amp=amp, **seg_common
            )
            seg[label] = frame
            print(
                f"segmentation {label:7s}: {args.volumes / seconds:6.2f} volumes/s "
                f"(sliding window 64^3 over 96x96x64)"
            )
        agree = []
        for a, b in zip(seg["gpu+amp"]["mask_path"], seg["cpu"]["mask_path"], strict=True):
            import nibabel as nib

            ma = np.asarray(nib.load(str(work / a)).dataobj) > 0
            mb = np.asarray(nib.load(str(work / b)).dataobj) > 0
            denom = ma.sum() + mb.sum()
            agree.append(1.0 if denom == 0 else 2 * (ma & mb).sum() / denom)
        print(f"segmentation mask agreement gpu+amp vs cpu (Dice): min {min(agree):.4f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
