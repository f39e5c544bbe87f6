"""Images with text drawn in (Pillow), as DICOM datasets, for the pixel cleaning tests.

Every planted item is recorded with its box, so a test can check that PHI is gone where it
was and that a control label is still there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

US = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTI = "1.2.840.10008.5.1.4.1.1.3.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
CT = "1.2.840.10008.5.1.4.1.1.2"
ROOT = "1.2.826.0.1.3680043.2.1125.77."

NAME = "QUIXOTE^MARGARETHA"
PATIENT_ID = "MRN48213977"
BIRTH = "19710203"
BIRTH_FORMS = ("03/02/1971", "1971-02-03", "03.02.1971", "3 Feb 1971")
CONTROLS = ("TIS 0.4", "MI 1.2", "C5-1", "12 cm")
_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass
class Planted:
    """A text drawn into a frame: what, where (left, top, right, bottom), PHI or control."""

    text: str
    box: tuple[int, int, int, int]
    phi: bool
    frame: int = 0
    #: the drawn glyph pixels inside ``box`` (True where ink is)
    ink: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Picture:
    """A dataset and what was drawn into it."""

    ds: pydicom.Dataset
    planted: list[Planted] = field(default_factory=list)

    @property
    def phi(self) -> list[Planted]:
        return [p for p in self.planted if p.phi]

    @property
    def controls(self) -> list[Planted]:
        return [p for p in self.planted if not p.phi]


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _FONT_DIR / "DejaVuSans-Bold.ttf"
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def header(ds: pydicom.Dataset, *, sop_class: str, modality: str) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    uid = generate_uid(prefix=ROOT)
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = ROOT + "1"
    ds.SeriesInstanceUID = ROOT + "2"
    ds.Modality = modality
    ds.PatientName = NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = BIRTH
    ds.PatientSex = "F"
    ds.StudyDate = "20190415"
    ds.AccessionNumber = "ACC7781234"
    ds.InstitutionName = "Ravensworth Infirmary"
    ds.Manufacturer = "Acme"


def background(rows: int, columns: int, *, kind: str, seed: int) -> np.ndarray:
    """A grey background: ``noise``, ``anatomy`` (blobs and gradients) or ``flat``."""
    rng = np.random.default_rng(seed)
    if kind == "flat":
        return np.full((rows, columns), 20.0)
    y, x = np.mgrid[0:rows, 0:columns]
    base = rng.normal(35, 10, (rows, columns))
    if kind == "anatomy":
        cy, cx = rows * 0.55, columns * 0.5
        body = np.exp(-(((y - cy) / (rows * 0.3)) ** 2 + ((x - cx) / (columns * 0.25)) ** 2))
        base += 90 * body + 25 * np.sin(x / 9.0) * body
    return np.clip(base, 0, 255)


def ink_mask(size: tuple[int, int], xy: tuple[int, int], text: str, fnt, box) -> np.ndarray:
    """Where ``text`` puts ink inside ``box`` (drawn alone on a blank canvas)."""
    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).text(xy, text, fill=255, font=fnt)
    return np.asarray(canvas)[box[1] : box[3], box[0] : box[2]] > 64


def draw(
    gray: np.ndarray, items: list[tuple], frame: int = 0
) -> tuple[np.ndarray, list[Planted]]:
    """Draw ``(text, (x, y), size, value, phi[, angle])`` items into an 8-bit-range image.

    ``angle`` (degrees, counter-clockwise as shown) turns the text about its own box; its
    top-left corner is then placed at ``(x, y)``.
    """
    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(image)
    planted = []
    for text, xy, size, value, phi, *rest in items:
        f = font(size)
        if rest and rest[0]:
            planted.append(_draw_turned(image, text, xy, f, value, phi, rest[0], frame))
            continue
        pen.text(xy, text, fill=value, font=f)
        box = pen.textbbox(xy, text, font=f)
        ink = ink_mask(image.size, xy, text, f, box)
        planted.append(Planted(text, (box[0], box[1], box[2], box[3]), phi, frame, ink))
    return np.asarray(image).astype(np.float64), planted


def _draw_turned(image, text, xy, fnt, value, phi, angle, frame) -> Planted:
    """Text turned by ``angle``, blended in by its own antialiased coverage."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=fnt)
    layer = Image.new("L", (right + 4, bottom + 4), 0)
    ImageDraw.Draw(layer).text((2, 2), text, fill=255, font=fnt)
    layer = layer.rotate(angle, resample=Image.BICUBIC, expand=True)
    bbox = layer.getbbox()
    assert bbox is not None
    layer = layer.crop(bbox)
    x, y = xy
    image.paste(Image.new("L", layer.size, value), (x, y), mask=layer)
    w, h = layer.size
    box = (x, y, min(image.size[0], x + w), min(image.size[1], y + h))
    ink = np.asarray(layer)[: box[3] - y, : box[2] - x] > 64
    return Planted(text, box, phi, frame, ink)


def mono_picture(
    *,
    rows: int = 240,
    columns: int = 320,
    bits: int = 8,
    kind: str = "noise",
    items: list[tuple] | None = None,
    seed: int = 0,
    modality: str = "OT",
    photometric: str = "MONOCHROME2",
    signed: bool = False,
) -> Picture:
    """A monochrome image (8 or 16 bit) with ``items`` drawn in."""
    items = items if items is not None else default_items()
    gray, planted = draw(background(rows, columns, kind=kind, seed=seed), items)
    ds = pydicom.Dataset()
    header(ds, sop_class=SC, modality=modality)
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if bits == 16:
        values = gray * 16.0 - (1024 if signed else 0)
        dtype = np.int16 if signed else np.uint16
    else:
        values, dtype = gray, np.uint8
    ds.PixelData = values.astype(dtype).tobytes()
    return Picture(ds, planted)


def default_items() -> list[tuple[str, tuple[int, int], int, int, bool]]:
    return [
        ("QUIXOTE, MARGARETHA", (10, 8), 14, 235, True),
        (PATIENT_ID, (10, 30), 13, 235, True),
        (BIRTH_FORMS[0], (200, 200), 12, 220, True),
        (CONTROLS[0], (230, 8), 12, 230, False),
        (CONTROLS[2], (250, 30), 14, 230, False),
    ]


def us_rgb_picture(
    *, frames: int = 1, rows: int = 240, columns: int = 320, seed: int = 1
) -> Picture:
    """An RGB ultrasound screen: a sector of speckle, a coloured overlay with text."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    angle = np.arctan2(x - columns / 2, y + 20)
    radius = np.hypot(x - columns / 2, y + 20)
    sector = (np.abs(angle) < 0.6) & (radius > 60) & (radius < rows + 10)
    pixels = []
    planted: list[Planted] = []
    for f in range(frames):
        speckle = np.where(sector, rng.gamma(2.0, 30.0, (rows, columns)), 0.0)
        image = Image.fromarray(np.clip(speckle, 0, 255).astype(np.uint8)).convert("RGB")
        pen = ImageDraw.Draw(image)
        specs = [
            ("QUIXOTE MARGARETHA", (6, 6), 13, (255, 255, 0), True),
            (PATIENT_ID, (6, 24), 12, (0, 255, 0), True),
            (BIRTH_FORMS[(f + 1) % 4], (200, 220), 12, (255, 255, 255), True),
            (CONTROLS[0], (250, 6), 12, (0, 255, 255), False),
            (CONTROLS[1], (250, 24), 12, (0, 255, 255), False),
            (CONTROLS[2], (6, 220), 13, (255, 255, 255), False),
        ]
        for text, xy, size, colour, phi in specs:
            fnt = font(size)
            pen.text(xy, text, fill=colour, font=fnt)
            b = pen.textbbox(xy, text, font=fnt)
            ink = ink_mask(image.size, xy, text, fnt, b)
            planted.append(Planted(text, (b[0], b[1], b[2], b[3]), phi, f, ink))
        pen.line([(300, 60), (300, 180)], fill=(200, 200, 200), width=1)  # a scale bar
        pixels.append(np.asarray(image))
    ds = pydicom.Dataset()
    header(ds, sop_class=US_MULTI if frames > 1 else US, modality="US")
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = np.stack(pixels).tobytes()
    return Picture(ds, planted)


def to_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def reread(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(BytesIO(data))


class FakeReader:
    """An OCR stand-in that "reads" a planted item while its box still holds contrast.

    It lets the cleaning tests cover every pixel format in milliseconds; the real engine is
    tested separately. Only the upper half of the image given (the positive rendering)
    is looked at; ``frame_rows`` tells it where that half ends.
    """

    def __init__(self, picture: Picture, *, frame_rows: int) -> None:
        self.planted = picture.planted
        self.rows = frame_rows
        self.calls = 0

    def __call__(self, gray: np.ndarray) -> list:
        from deidkit.pixels.ocr import Word

        self.calls += 1
        positive = gray[: self.rows]
        words = []
        for number, item in enumerate(self.planted):
            left, top, right, bottom = item.box
            parts = item.text.split()
            width = (right - left) // len(parts)
            for i, part in enumerate(parts):
                x = left + i * width
                patch = positive[top:bottom, x : x + width].astype(float)
                if patch.size and patch.max() - patch.min() > 40:
                    line = (1, number, 1, 1)
                    words.append(Word(part, x, top, width, bottom - top, 95.0, line))
        return words


def tesseract_missing() -> str | None:
    """Why OCR tests cannot run here, or None."""
    import shutil

    if shutil.which("tesseract") is None:
        return "tesseract is not installed (apt-get install tesseract-ocr; see .ci/sysdeps.sh)"
    return None


def legible(ds: pydicom.Dataset, texts: list[str], *, min_length: int = 4) -> list[str]:
    """Which of ``texts`` (PHI planted or header values) the real OCR still reads in any frame.

    Compared on letters and digits only, with one OCR slip allowed (as the cleaner matches).
    """
    from deidkit.pixels.frames import decode_frames, layout_of
    from deidkit.pixels.match import _within_one
    from deidkit.pixels.ocr import read_words
    from deidkit.pixels.render import both_polarities, render_frame

    layout = layout_of(ds)
    frames = decode_frames(ds, layout)
    read: list[str] = []
    for frame in frames:
        gray = render_frame(frame, photometric=layout.photometric)
        words = read_words(both_polarities(gray))
        read += ["".join(c for c in w.text.upper() if c.isalnum()) for w in words]
    found = []
    for text in texts:
        for part in text.upper().replace(",", " ").replace("^", " ").split():
            part = "".join(c for c in part if c.isalnum())
            if len(part) < min_length:
                continue
            slips = len(part) >= 4 and any(part in r or _within_one(part, r) for r in read)
            if part in read or slips:
                found.append(part)
    return found
