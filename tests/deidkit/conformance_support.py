"""Real-world DICOM for the conformance oracle: the corpus, dciodvfy and reference checks.

Shared by ``tests/deidkit/scrub/test_conformance.py`` and ``bench/conformance.py``. The
corpus is DICOM nobody on the project wrote (pydicom's and nibabel's test files, the
``deid-data`` package), the sample export, and SEG/SR objects built with highdicom. Every
file is public test data, so naming files here is fine; messages are still compared
with their values masked, which is also what makes input and output comparable.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import re
import shutil
import subprocess
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

DCIODVFY = shutil.which("dciodvfy")

#: Top-level attributes that define an entity another instance may reference.
TARGET_KEYWORDS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID")


# ---------------------------------------------------------------------------------- corpus


def _is_dicom(path: Path) -> bool:
    try:
        pydicom.dcmread(path, stop_before_pixels=True)
    except (
        InvalidDicomError,
        OSError,
        ValueError,
        EOFError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        NotImplementedError,
    ):
        return False
    return True


def _copy_dicom(sources: Iterable[Path], dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, source in enumerate(sorted(sources)):
        data = source.read_bytes()
        name = source.name
        if name.endswith(".gz"):
            data, name = gzip.decompress(data), name[: -len(".gz")]
        target = dest / f"{index:03d}-{name}"
        target.write_bytes(data)
        if _is_dicom(target):
            count += 1
        else:
            target.unlink()
    return count


def pydicom_files() -> list[Path]:
    """pydicom's test files that are on this machine (never downloads)."""
    from pydicom.data import get_testdata_files

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "download failures": only local files are wanted
        return [Path(p) for p in get_testdata_files("*") if Path(p).is_file()]


def deid_data_files() -> list[Path]:
    """The ``deid-data`` package's DICOM files (empty when it is not installed)."""
    try:
        import deid_data
    except ImportError:
        return []
    return sorted(Path(deid_data.__file__).parent.rglob("*.dcm"))


def nibabel_files() -> list[Path]:
    """nibabel's DICOM test files (gzipped ones too)."""
    import nibabel

    root = Path(nibabel.__file__).parent
    found: list[Path] = []
    for sub in ("nicom/tests/data", "tests/data"):
        found += [p for p in (root / sub).rglob("*") if p.name.endswith((".dcm", ".dcm.gz"))]
    return sorted(found)


def write_highdicom_objects(dest: Path) -> int:
    """Three CT slices, a binary SEG, a label-map SEG and an SR that reference them."""
    import highdicom as hd
    import numpy as np
    from pydicom.data import get_testdata_file
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    dest.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    series, frame = generate_uid(), generate_uid()
    slices: list[pydicom.Dataset] = []
    for index in range(3):
        ds: pydicom.Dataset = copy.deepcopy(template)
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesInstanceUID = series
        ds.FrameOfReferenceUID = frame
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(index) * 5.0]
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(dest / f"ct{index}.dcm", enforce_file_format=True)
        slices.append(ds)
    mask = np.zeros((3, template.Rows, template.Columns), dtype=np.uint8)
    mask[1, 40:80, 40:80] = 1
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    common = {
        "manufacturer": "deidkit tests",
        "manufacturer_model_name": "conformance",
        "software_versions": "1",
        "device_serial_number": "1",
        "series_number": 20,
        "instance_number": 1,
        "omit_empty_frames": False,
    }
    segs = []
    for name, kind in (("seg", "BINARY"), ("labelmap", "LABELMAP")):
        seg = hd.seg.Segmentation(
            source_images=slices,
            pixel_array=mask,
            segmentation_type=kind,
            segment_descriptions=[description],
            series_instance_uid=generate_uid(),
            sop_instance_uid=generate_uid(),
            **common,  # type: ignore[arg-type]
        )
        seg.save_as(dest / f"{name}.dcm")
        segs.append(seg)
    _write_sr(dest / "sr.dcm", slices, segs[0])
    return 3 + len(segs) + 1


def _write_sr(path: Path, slices: list[pydicom.Dataset], seg: pydicom.Dataset) -> None:
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    region = hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID,
        sop_instance_uid=seg.SOPInstanceUID,
        segment_number=1,
        source_images=[hd.sr.SourceImageForSegmentation.from_source_image(slices[1])],
    )
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="lesion 1"),
        referenced_segment=region,
        finding_type=codes.SCT.Neoplasm,
        measurements=[
            hd.sr.Measurement(
                name=codes.SCT.Volume,
                value=1.5,
                unit=codes.UCUM.CubicMillimeter,
            )
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Person,
                observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                    name="Reader^Test"
                ),
            )
        ),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[group],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*slices, seg],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=30,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="deidkit tests",
    )
    sr.save_as(path)


def build_corpus(root: Path, *, sample: Path | None = None) -> dict[str, int]:
    """Copy every corpus into ``root/<corpus>/``; returns the DICOM files per corpus."""
    counts = {
        "pydicom": _copy_dicom(pydicom_files(), root / "pydicom"),
        "deid-data": _copy_dicom(deid_data_files(), root / "deid-data"),
        "nibabel": _copy_dicom(nibabel_files(), root / "nibabel"),
        "highdicom": write_highdicom_objects(root / "highdicom"),
    }
    if sample is not None:
        counts["sample"] = _copy_dicom(
            (p for p in sample.rglob("*") if p.is_file()), root / "sample"
        )
    return counts


# -------------------------------------------------------------------------------- dciodvfy

# dciodvfy quotes values as "= <value>"; UIDs and item indices also appear in paths and prose.
_VALUE = re.compile(r"= <[^<>]*>")
_UID = re.compile(r"\b[0-9]+(?:\.[0-9]+)+\b")
_INDEX = re.compile(r"\[[0-9]+\]")


def normalise(message: str) -> str:
    """A dciodvfy message with its values, UIDs and item indices masked."""
    text = _VALUE.sub("= <v>", message)
    text = _UID.sub("<uid>", text)
    text = _INDEX.sub("[i]", text)
    return " ".join(text.split())


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines of ``dciodvfy -new`` on ``path``, normalised."""
    assert DCIODVFY is not None
    run = subprocess.run(
        [DCIODVFY, "-new", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        timeout=120,
    )
    lines = (run.stdout + run.stderr).splitlines()
    return sorted({normalise(line) for line in lines if line.startswith("Error")})


def errors_of(paths: Iterable[Path], *, threads: int = 8) -> dict[Path, list[str]]:
    """dciodvfy errors of many files, run in parallel (dciodvfy is a separate process)."""
    unique = sorted(set(paths))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return dict(zip(unique, pool.map(dciodvfy_errors, unique), strict=True))


# ------------------------------------------------------------------------------ the release


def released_pairs(source_root: Path, output: Path) -> list[tuple[Path, Path]]:
    """(input file, output file) of every file a scrub of ``source_root`` released."""
    log = output.with_name(output.name + ".actions.jsonl")
    pairs = []
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("status") in {"written", "unchanged"} and record.get("output"):
            out = Path(record["output"])
            source = Path(record["source"])
            pairs.append(
                (
                    source if source.is_absolute() else source_root / source,
                    out if out.is_absolute() else output / out,
                )
            )
    return pairs


def introduced_errors(
    pairs: Iterable[tuple[Path, Path]], errors: Mapping[Path, list[str]]
) -> dict[Path, list[str]]:
    """Per input file: the output's dciodvfy errors that its input did not already have."""
    found = {}
    for source, out in pairs:
        new = sorted(set(errors[out]) - set(errors[source]))
        if new:
            found[source] = new
    return found


# ------------------------------------------------------------------------------ references


@dataclass
class References:
    """UI values below the top level, the sequences that hold them and the identities."""

    identities: dict[str, str] = field(default_factory=dict)  # keyword -> UID
    refs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (path, UID)
    containers: set[str] = field(default_factory=lambda: {""})  # "Seq>Seq>" paths present


def _walk(ds: pydicom.Dataset, prefix: str, found: References) -> None:
    for element in ds:
        name = element.keyword or str(element.tag)
        if element.VR == "SQ":
            found.containers.add(f"{prefix}{name}>")
            for item in element.value:
                _walk(item, f"{prefix}{name}>", found)
        elif element.VR == "UI" and element.value and _is_reference(prefix, name):
            values = element.value if element.VM > 1 else [element.value]
            for value in values:
                found.refs[(f"{prefix}{name}", str(value))] += 1


def _is_reference(prefix: str, keyword: str) -> bool:
    # nested UIDs all refer to something; at the top level only the Referenced... ones do
    # (the rest are the file's own identities or its class)
    return bool(prefix) or (
        keyword not in TARGET_KEYWORDS
        and (keyword.startswith("Referenced") or keyword.endswith("FrameOfReferenceUID"))
    )


def container(path: str) -> str:
    """The sequence path that holds the reference at ``path`` ("" at the top level)."""
    return path.rsplit(">", 1)[0] + ">" if ">" in path else ""


@functools.cache
def references(path: Path) -> References:
    """What ``path`` is (its top-level identities) and every reference it holds (cached:
    both profiles read the same inputs; treat the result as read-only)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    found = References()
    for keyword in TARGET_KEYWORDS:
        value = ds.get(keyword)
        if value:
            found.identities[keyword] = str(value)
    _walk(ds, "", found)
    return found


@dataclass
class ReferenceCheck:
    """References between released instances: how many went in, how many resolve.

    ``removed``: references whose whole sequence the profile removed (an X on a Type 3
    sequence, e.g. Referenced Study Sequence or Request Attributes Sequence): nothing
    dangles there. ``missing``: the sequence is still there but the reference is not, or
    points elsewhere.
    """

    expected: int = 0
    resolved: int = 0
    removed: Counter[str] = field(default_factory=Counter)  # container path -> count
    missing: list[str] = field(default_factory=list)  # "<input name>: <path>"
    inconsistent: list[str] = field(default_factory=list)  # identities mapped two ways
    dangling_in: int = 0  # references in the inputs to instances outside the release


def check_references(pairs: list[tuple[Path, Path]]) -> ReferenceCheck:
    """Every input reference whose target is released must point at the target's output.

    Targets are instances, series, studies and frames of reference (the top-level
    identities of released files). The old-to-new map comes from the released pairs;
    a target mapped to two different UIDs is an inconsistency.
    """
    inputs = {source: references(source) for source, _ in pairs}
    outputs = {out: references(out) for _, out in pairs}
    mapping: dict[str, set[str]] = {}
    for source, out in pairs:
        for keyword, old in inputs[source].identities.items():
            new = outputs[out].identities.get(keyword)
            if new is not None:
                mapping.setdefault(old, set()).add(new)
    check = ReferenceCheck()
    check.inconsistent = sorted(old for old, new in mapping.items() if len(new) > 1)
    for source, out in pairs:
        have = outputs[out]
        for (path, old), count in inputs[source].refs.items():
            if old.startswith("1.2.840.10008."):
                continue  # a class or a well-known UID, no instance
            if old not in mapping:
                check.dangling_in += count
                continue
            if container(path) not in have.containers:
                check.removed[container(path)] += count
                continue
            check.expected += count
            new = next(iter(mapping[old]))
            resolved = min(count, have.refs[(path, new)])
            check.resolved += resolved
            if resolved < count:
                check.missing.append(f"{source.parent.name}/{source.name}: {path}")
    return check


def scrub_one_by_one(
    sources: Iterable[Path], output: Path, *, profile: str, key_hex: str
) -> list[tuple[Path, Path]]:
    """Scrub each file alone (the batch's per-file path, in this process), each into its own
    folder: for inputs a batch holds back because another input maps to the same output."""
    from deidkit.core.keys import ProjectKey
    from deidkit.rules.profile import load_profile
    from deidkit.scrub.per_file import ScrubSettings, WorkerConfig, process_file

    settings = ScrubSettings(
        profile=load_profile(profile),
        key=ProjectKey(secret=bytes.fromhex(key_hex), source="test"),
        allow_burned_in=True,
    )
    pairs = []
    for index, source in enumerate(sorted(sources)):
        folder = output / f"{index:03d}"
        config = WorkerConfig(
            settings=settings, output=folder, dry_run=False, want_linkage=False, want_cohort=False
        )
        outcome = process_file(source, source.name, config)
        if outcome.status == "written" and outcome.output:
            pairs.append((source, folder / outcome.output))
    return pairs
