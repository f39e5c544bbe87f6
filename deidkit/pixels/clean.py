"""Find burned-in PHI in every frame, clean it, and prove it gone by reading again.

:func:`scan_dataset` reads each frame (:mod:`~deidkit.pixels.render`,
:mod:`~deidkit.pixels.ocr`), keeps the words that hold this file's identifiers or generic
PHI (:mod:`~deidkit.pixels.match`) and adds the boxes of matching region rules
(:mod:`~deidkit.pixels.regions`). :func:`clean_dataset` fills each box, with a margin, with
the median of the pixels around it (in the stored representation, per sample), reads the
changed frames again (cleaning what the first pass had missed, up to :data:`ROUNDS` times)
and re-encodes the pixel data:

- native data is rewritten byte for byte: every value outside a box keeps its exact bits;
- RLE and JPEG 2000 lossless are re-encoded losslessly (pydicom's encoders); syntaxes with
  no encoder here (JPEG lossless, JPEG-LS, lossy JPEG 2000, JPEG extended) are written
  uncompressed (Explicit VR Little Endian), which loses nothing;
- JPEG baseline is re-encoded as JPEG baseline (Pillow, quality 95), and Lossy Image
  Compression, its Ratio and Method record the second lossy step.

The caller sets Burned In Annotation = NO and the Clean Pixel Data code (113101) only when
the result's ``status`` is ``cleaned`` (the re-check found nothing, :func:`apply_result`) or
``no_text`` (every frame read, nothing found: :func:`record_no_text`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from deidkit.core.errors import PixelDataError
from deidkit.pixels.frames import PixelLayout, decode_frames, encode_native, layout_of
from deidkit.pixels.match import Identifiers, identifiers_of, phi_words
from deidkit.pixels.ocr import Word, read_frame
from deidkit.pixels.regions import RegionRule, matching_boxes
from deidkit.pixels.render import render_frame

if TYPE_CHECKING:
    import pydicom

__all__ = [
    "STATUS_CLEANED",
    "STATUS_NO_TEXT",
    "STATUS_RESIDUAL",
    "Detection",
    "PixelResult",
    "ScanResult",
    "apply_result",
    "clean_dataset",
    "filled_box",
    "record_no_text",
    "scan_dataset",
]

STATUS_NO_TEXT: Final = "no_text"
STATUS_CLEANED: Final = "cleaned"
STATUS_RESIDUAL: Final = "residual"
MARGIN: Final = 3
#: The source of a detection read in text turned off the horizontal.
SOURCE_TURNED: Final = "ocr-turned"
#: Clean-and-read rounds before text still read holds a file back.
ROUNDS: Final = 3
_RING: Final = 4
_JPEG_BASELINE: Final = "1.2.840.10008.1.2.4.50"
_RLE: Final = "1.2.840.10008.1.2.5"
_J2K_LOSSLESS: Final = "1.2.840.10008.1.2.4.90"
_EXPLICIT_LE: Final = "1.2.840.10008.1.2.1"

Reader = Callable[[np.ndarray], list[Word]]


@dataclass(frozen=True)
class Detection:
    """A box of one frame to clean: ``(left, top, right, bottom)``, the kind and the signal."""

    frame: int
    box: tuple[int, int, int, int]
    kind: str
    source: str  # "ocr", "ocr-turned" or "region"
    #: a turned word's own box as four corners (x0, y0, ... x3, y3), filled whole
    quad: tuple[int, ...] = ()

    def record(self) -> dict[str, Any]:
        """For reports (a kind and a box, never the text read)."""
        return {"frame": self.frame, "box": list(self.box), "kind": self.kind,
                "source": self.source}  # fmt: skip


@dataclass(frozen=True)
class ScanResult:
    """What a scan found (nothing is changed)."""

    layout: PixelLayout
    detections: tuple[Detection, ...]
    words_read: int


@dataclass(frozen=True)
class PixelResult:
    """The outcome of cleaning one dataset's pixels; apply it with :func:`apply_result`."""

    status: str
    detections: tuple[Detection, ...]
    residual: tuple[Detection, ...] = ()
    pixel_data: bytes | None = None
    transfer_syntax: str | None = None
    attributes: tuple[tuple[str, str, Any], ...] = field(default_factory=tuple)
    changed_pixels: int = 0
    frames: int = 0


def _palette(ds: pydicom.Dataset, layout: PixelLayout) -> np.ndarray | None:
    if layout.photometric != "PALETTE COLOR":
        return None
    try:
        from pydicom.pixels.processing import apply_color_lut

        index = np.arange(2 ** min(layout.bits_allocated, 16))
        return np.asarray(apply_color_lut(index, ds))
    except Exception:
        return None


def _region_detections(
    ds: pydicom.Dataset, rules: Sequence[RegionRule], layout: PixelLayout
) -> list[Detection]:
    def get(keyword: str) -> str:
        try:
            return str(ds.get(keyword, "") or "").strip()
        except Exception:
            return ""

    found = []
    for left, top, width, height in matching_boxes(rules, get):
        box = (left, top, min(layout.columns, left + width), min(layout.rows, top + height))
        if box[2] > box[0] and box[3] > box[1]:
            found += [Detection(f, box, "region", "region") for f in range(layout.frames)]
    return found


def _ocr_frame(
    frame: np.ndarray,
    index: int,
    *,
    layout: PixelLayout,
    palette: np.ndarray | None,
    identifiers: Identifiers,
    reader: Reader,
) -> tuple[list[Detection], int]:
    gray = render_frame(frame, photometric=layout.photometric, palette=palette)
    words = reader(gray)
    rows = layout.rows
    found = []
    for word, kind in phi_words(words, identifiers):
        left, top, right, bottom = word.box
        box = (max(0, left), max(0, top), min(layout.columns, right), min(rows, bottom))
        # a turned word's upright box holds background in its corners: only what stands
        # out there is filled
        source = "ocr" if word.angle == 0.0 else SOURCE_TURNED
        detection = Detection(index, box, kind, source, word.quad if word.angle else ())
        if box[2] > box[0] and box[3] > box[1] and detection not in found:
            found.append(detection)
    return found, len(words)


def _scan_frames(
    frames: np.ndarray,
    *,
    layout: PixelLayout,
    palette: np.ndarray | None,
    identifiers: Identifiers,
    reader: Reader,
    only: Sequence[int] | None = None,
    threads: int = 1,
) -> tuple[list[Detection], int]:
    indices = list(range(layout.frames) if only is None else only)

    def one(index: int) -> tuple[list[Detection], int]:
        return _ocr_frame(
            frames[index], index, layout=layout, palette=palette,
            identifiers=identifiers, reader=reader,
        )  # fmt: skip

    if threads > 1 and len(indices) > 1:
        # each read is a Tesseract process: threads only wait for them
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(one, indices))
    else:
        results = [one(index) for index in indices]
    found = [hit for hits, _ in results for hit in hits]
    return found, sum(count for _, count in results)


def scan_dataset(
    ds: pydicom.Dataset,
    *,
    identifiers: Identifiers | None = None,
    regions: Sequence[RegionRule] = (),
    reader: Reader = read_frame,
    threads: int = 1,
) -> ScanResult:
    """Boxes of burned-in PHI in every frame of ``ds`` (nothing is changed).

    Parameters
    ----------
    ds
        A dataset with its original header (its values are what is looked for).
    identifiers
        Values to look for; by default this file's own (:func:`identifiers_of`).
    regions
        Region rules; the boxes of those that match are reported as ``region``.
    reader
        The OCR of one rendered frame (words in frame pixels, both polarities);
        :func:`~deidkit.pixels.ocr.read_frame`.
    threads
        Frames read at once (each read is a Tesseract process).
    """
    layout = layout_of(ds)
    frames = decode_frames(ds, layout)
    ids = identifiers if identifiers is not None else identifiers_of(ds)
    found, words = _scan_frames(
        frames, layout=layout, palette=_palette(ds, layout), identifiers=ids, reader=reader,
        threads=threads,
    )  # fmt: skip
    return ScanResult(layout, tuple(_region_detections(ds, regions, layout) + found), words)


def _expand(box: tuple[int, int, int, int], margin: int, layout: PixelLayout) -> tuple[int, ...]:
    left, top, right, bottom = box
    # OCR drops or misplaces an end character of a word it misreads: half a glyph height
    # more on each side, not only the fixed margin (boxes from region rules are exact)
    side = max(margin, (bottom - top) // 2)
    return (
        max(0, left - side),
        max(0, top - margin),
        min(layout.columns, right + side),
        min(layout.rows, bottom + margin),
    )


def filled_box(
    detection: Detection, layout: PixelLayout, *, margin: int = MARGIN
) -> tuple[int, ...]:
    """The pixels :func:`clean_dataset` may fill for ``detection``: ``(left, top, right, bottom)``.

    A word read gets the margin (and half its height on each side), in which only pixels
    that stand out from the background are filled; a region rule's box is exact and filled
    whole.
    """
    return _expand(detection.box, 0 if detection.source == "region" else margin, layout)


def _fill(
    frame: np.ndarray,
    box: tuple[int, ...],
    layout: PixelLayout,
    *,
    core: tuple[int, int, int, int] | None = None,
    quad: tuple[int, ...] = (),
) -> int:
    """Fill ``box`` of ``frame`` in place with the median of a ring around it.

    With ``core`` (the word's own box), only ``core`` is filled whole; in the margin
    around it only the pixels that stand out from the background are (:func:`_standing_out`).
    """
    left, top, right, bottom = box
    outer = frame[
        max(0, top - _RING) : min(layout.rows, bottom + _RING),
        max(0, left - _RING) : min(layout.columns, right + _RING),
    ]
    mask = np.ones(outer.shape[:2], dtype=bool)
    mask[top - max(0, top - _RING) : bottom - max(0, top - _RING),
         left - max(0, left - _RING) : right - max(0, left - _RING)] = False  # fmt: skip
    ring = outer[mask] if mask.any() else frame.reshape(-1, frame.shape[-1])
    ring = ring.astype(np.float64)
    value = np.median(ring, axis=0)
    if np.issubdtype(frame.dtype, np.integer):
        info = np.iinfo(frame.dtype)
        value = np.clip(np.rint(value), info.min, info.max)
    region = frame[top:bottom, left:right]
    before = region.copy()
    if core is None:
        region[...] = value.astype(frame.dtype)
    else:
        where = _standing_out(before, value, ring)
        if core[2] > core[0] and core[3] > core[1]:
            where[max(0, core[1] - top) : max(0, core[3] - top),
                  max(0, core[0] - left) : max(0, core[2] - left)] = True  # fmt: skip
        if len(quad) == 8:
            where |= _inside(quad, (left, top), where.shape)
        region[where] = value.astype(frame.dtype)
    return int(np.any(before != region, axis=-1).sum())


def _inside(quad: tuple[int, ...], origin: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Pixels (of a box at ``origin``) within 1.5 pixels of the convex quadrilateral ``quad``."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    xs, ys = xs + origin[0] + 0.5, ys + origin[1] + 0.5
    points = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    centre = points.mean(axis=0)
    inside = np.ones(shape[:2], dtype=bool)
    for start, end in zip(points, np.roll(points, -1, axis=0), strict=True):
        edge = end - start
        length = float(np.hypot(*edge)) or 1.0
        normal = np.array([-edge[1], edge[0]]) / length
        if np.dot(centre - start, normal) < 0:
            normal = -normal  # point inwards, whichever way the corners run
        inside &= (xs - start[0]) * normal[0] + (ys - start[1]) * normal[1] >= -1.5
    return inside


def _standing_out(region: np.ndarray, value: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Pixels of ``region`` that differ from the background more than the ring around it does.

    The glyph's halo (antialiasing, a stroke the word box cut) differs; background noise
    within three robust standard deviations of the ring's median does not and keeps its bits.
    """
    spread = 1.4826 * np.median(np.abs(ring - value), axis=0)
    tolerance = np.maximum(3.0 * spread, 1.0)
    distance = np.abs(region.astype(np.float64) - value)
    out: np.ndarray = np.any(distance > tolerance, axis=-1)
    return out


def _encode_jpeg_baseline(frames: np.ndarray, layout: PixelLayout) -> tuple[bytes, float]:
    from PIL import Image
    from pydicom.encaps import encapsulate

    pieces = []
    for frame in frames:
        data = frame[..., 0] if layout.samples == 1 else frame
        buffer = io.BytesIO()
        image = Image.fromarray(np.ascontiguousarray(data.astype(np.uint8)))
        image.save(buffer, format="JPEG", quality=95, subsampling=1)  # 4:2:2
        pieces.append(buffer.getvalue())
    raw = frames.size * frames.dtype.itemsize
    return encapsulate(pieces), raw / max(1, sum(len(p) for p in pieces))


def _encode_with_pydicom(frames: np.ndarray, layout: PixelLayout, syntax: str, ds: Any) -> bytes:
    import pydicom

    work = pydicom.Dataset()
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored",
                    "HighBit", "PixelRepresentation", "PhotometricInterpretation"):  # fmt: skip
        if keyword in ds:
            setattr(work, keyword, ds[keyword].value)
    if layout.samples > 1:
        work.PlanarConfiguration = 0
        work.PhotometricInterpretation = "RGB"
    if layout.frames > 1:
        work.NumberOfFrames = layout.frames
    array = frames if layout.samples > 1 else frames[..., 0]
    work.compress(syntax, array[0] if layout.frames == 1 else array, generate_instance_uid=False)
    return bytes(work.PixelData)


def _reencode(
    ds: pydicom.Dataset, frames: np.ndarray, layout: PixelLayout
) -> tuple[bytes, str | None, list[tuple[str, str, Any]]]:
    """New Pixel Data, the new transfer syntax (None: unchanged) and attributes to set."""
    if layout.native:
        return encode_native(frames, layout, bytes(ds.PixelData)), None, []
    attrs: list[tuple[str, str, Any]] = []
    colour = layout.samples > 1
    if layout.syntax in (_RLE, _J2K_LOSSLESS):
        try:
            data = _encode_with_pydicom(frames, layout, layout.syntax, ds)
            if colour:
                attrs += [("PhotometricInterpretation", "CS", "RGB"),
                          ("PlanarConfiguration", "US", 0)]  # fmt: skip
            return data, None, attrs
        except Exception:
            pass  # no encoder for this data here: stored uncompressed below, losslessly
    if layout.syntax == _JPEG_BASELINE and layout.bits_allocated == 8:
        data, ratio = _encode_jpeg_baseline(frames, layout)
        ratios = [str(v) for v in (ds.get("LossyImageCompressionRatio", None) or [])]
        methods = [str(v) for v in (ds.get("LossyImageCompressionMethod", None) or [])]
        attrs += [
            ("LossyImageCompression", "CS", "01"),
            ("LossyImageCompressionRatio", "DS", [*ratios, f"{ratio:.2f}"[:16]]),
            ("LossyImageCompressionMethod", "CS", [*methods, "ISO_10918_1"]),
        ]
        if colour:
            attrs += [("PhotometricInterpretation", "CS", "YBR_FULL_422"),
                      ("PlanarConfiguration", "US", 0)]  # fmt: skip
        return data, None, attrs
    native = PixelLayout(
        rows=layout.rows, columns=layout.columns, frames=layout.frames,
        samples=layout.samples, bits_allocated=layout.bits_allocated, signed=layout.signed,
        planar=0, photometric=layout.photometric, syntax=_EXPLICIT_LE,
    )  # fmt: skip
    if colour:
        attrs += [("PhotometricInterpretation", "CS", "RGB"), ("PlanarConfiguration", "US", 0)]
    return encode_native(frames, native, b""), _EXPLICIT_LE, attrs


def clean_dataset(
    ds: pydicom.Dataset,
    *,
    identifiers: Identifiers | None = None,
    regions: Sequence[RegionRule] = (),
    margin: int = MARGIN,
    reader: Reader = read_frame,
    threads: int = 1,
) -> PixelResult:
    """Find, clean and re-check burned-in PHI of ``ds`` (``ds`` itself is not changed).

    Parameters
    ----------
    ds
        A dataset with its original header: its identifiers are what is looked for.
    identifiers
        Values to look for; by default this file's own.
    regions
        Region rules (their boxes are cleaned whether or not text is read there).
    margin
        Pixels added around each box before it is filled.
    reader
        The OCR function.
    threads
        Frames read at once (1 in scrub's workers, which already run one file per core).

    Returns
    -------
    PixelResult
        ``no_text`` (nothing to clean; no new pixel data), ``cleaned`` or ``residual`` (PHI
        still read after cleaning: the file must be held back).
    """
    layout = layout_of(ds)
    frames = decode_frames(ds, layout)
    ids = identifiers if identifiers is not None else identifiers_of(ds)
    palette = _palette(ds, layout)
    found, _ = _scan_frames(
        frames, layout=layout, palette=palette, identifiers=ids, reader=reader, threads=threads
    )
    detections = _region_detections(ds, regions, layout) + found
    if not detections:
        return PixelResult(STATUS_NO_TEXT, (), frames=layout.frames)
    changed = 0
    pending = list(detections)
    residual: list[Detection] = []
    for _ in range(ROUNDS):
        for detection in pending:
            box = filled_box(detection, layout, margin=margin)
            core = {"ocr": detection.box, SOURCE_TURNED: (0, 0, 0, 0)}.get(detection.source)
            changed += _fill(frames[detection.frame], box, layout, core=core,
                             quad=detection.quad)  # fmt: skip
        touched = sorted({d.frame for d in pending})
        residual, _ = _scan_frames(
            frames, layout=layout, palette=palette, identifiers=ids, reader=reader,
            only=touched, threads=threads,
        )  # fmt: skip
        if not residual:
            break
        # what a cleaned box uncovers (a word read only once its neighbour is gone) is
        # cleaned too; what is still read after the last round holds the file back
        detections += residual
        pending = residual
    if residual:
        return PixelResult(STATUS_RESIDUAL, tuple(detections), tuple(residual),
                           frames=layout.frames)  # fmt: skip
    try:
        data, syntax, attrs = _reencode(ds, frames, layout)
    except PixelDataError:
        raise
    except Exception as exc:
        reason = f"cleaned pixels cannot be encoded ({type(exc).__name__})"
        raise PixelDataError("encode", reason) from None
    return PixelResult(
        STATUS_CLEANED, tuple(detections), pixel_data=data, transfer_syntax=syntax,
        attributes=tuple(attrs), changed_pixels=changed, frames=layout.frames,
    )  # fmt: skip


def apply_result(ds: pydicom.Dataset, result: PixelResult) -> None:
    """Write a ``cleaned`` result into ``ds``: pixel data, syntax, attributes, provenance.

    Burned In Annotation becomes NO and the Clean Pixel Data code (DCM 113101) joins the
    De-identification Method Code Sequence: the re-check passed.
    """
    from pydicom.uid import UID

    if result.status != STATUS_CLEANED or result.pixel_data is None:
        raise PixelDataError("not_cleaned", "only a re-checked, cleaned result is applied")
    syntax = result.transfer_syntax or str(ds.file_meta.TransferSyntaxUID)
    encapsulated = syntax not in ("1.2.840.10008.1.2", _EXPLICIT_LE, "1.2.840.10008.1.2.2")
    vr = "OB" if encapsulated or int(ds.get("BitsAllocated", 8)) <= 8 else "OW"
    ds.add_new(0x7FE00010, vr, result.pixel_data)
    if result.transfer_syntax is not None:
        ds.file_meta.TransferSyntaxUID = UID(result.transfer_syntax)
    for keyword, element_vr, value in result.attributes:
        ds.add_new(keyword, element_vr, value)
    _record_clean_pixels(ds)


def record_no_text(ds: pydicom.Dataset, result: PixelResult) -> None:
    """Record in ``ds`` that a ``no_text`` scan read every frame and found no PHI.

    Burned In Annotation becomes NO and the Clean Pixel Data code (DCM 113101) joins the
    method codes, as for a cleaned file: the scan behind ``no_text`` reads every frame with
    the same reader and matcher as the re-check that lets a cleaned file go (which reads
    only the frames it cleaned), so it proves no less. The pixels are not touched.
    """
    if result.status != STATUS_NO_TEXT:
        raise PixelDataError("not_no_text", "only a scan that read no PHI is recorded so")
    _record_clean_pixels(ds)


def _record_clean_pixels(ds: pydicom.Dataset) -> None:
    import pydicom

    ds.add_new("BurnedInAnnotation", "CS", "NO")
    code = pydicom.Dataset()
    code.CodeValue = "113101"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Clean Pixel Data Option"
    sequence = ds.get("DeidentificationMethodCodeSequence", None)
    items = list(sequence) if sequence is not None else []
    if not any(str(i.get("CodeValue", "")) == "113101" for i in items):
        items.append(code)
    ds.DeidentificationMethodCodeSequence = pydicom.Sequence(items)
