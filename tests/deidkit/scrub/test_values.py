"""Awkward values through the engine: VM > 1, empty and padded values, character sets
(ISO_IR 100/192, ISO 2022 Japanese/Korean with ideographic and phonetic PN groups), empty
and undefined-length sequence items, private sequences inside private sequences.

Checked on the real bytes: the scrubbed file re-reads strictly, every PN is empty or the
pseudonym, and no name, ID or date of the input survives in any of the encodings used.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pydicom
import pytest
from dicom_builders import CT, ROOT
from pydicom.data import get_charset_files
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from deidkit.core.keys import ProjectKey
from deidkit.rules.profile import load_profile
from deidkit.scrub.engine import scrub_dataset

_IDENTITY = ("PatientID", "OtherPatientIDs", "InstitutionName")
_ENCODINGS = ("utf-8", "latin-1", "iso2022_jp", "euc_kr", "shift_jis")


def _base(charset: str | list[str] | None = None) -> Dataset:
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID = CT, ROOT + "51"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = ROOT + "52", ROOT + "53"
    ds.Modality, ds.PatientID = "CT", "MRNQUILL01"
    return ds


def _multi_valued() -> Dataset:
    ds = _base()
    ds.PatientName = "Zebraquill^Anna "
    ds.OtherPatientNames = ["Zebraquill^Anna", "Yakovlev^Boris", "Wexley^Cora"]
    ds.OtherPatientIDs = ["OPIDQUILL1", "OPIDQUILL2"]
    ds.add_new(0x00081060, "PN", ["Docquill^Alpha", "Docquill^Bravo"])
    ds.add_new(0x00081070, "PN", ["Opquill^Delta", ""])
    ds.add_new(0x00080090, "PN", "")
    ds.StudyDate = "20190415"
    ds.add_new(0x00080023, "DA", ["20190415", "20190416"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on the NUL padding, as it should
        ds.add_new(0x00181012, "DA", "20190417\x00")
    ds.PatientBirthDate = ""
    return ds


def _charsets() -> Dataset:
    ds = _base(["", "ISO 2022 IR 87"])
    ds.PatientName = "Yamadaquill^Tarou=山田^太郎=やまだ^たろう"
    return ds


def _utf8() -> Dataset:
    ds = _base("ISO_IR 192")
    ds.PatientName = "Müllerquill^Jürgen=ミュラー^ユルゲン"
    ds.InstitutionName = "Hôpital Quill"
    return ds


def _sequences() -> Dataset:
    ds = _base()
    # Derivation Code Sequence is not in Table E.1-1 (kept): undefined length, an empty
    # item, and PHI planted one level down in a second item.
    deep = Dataset()
    deep.PatientName = "Deepquill^Name"
    deep.add_new(0x00080020, "DA", "20190415")
    ds.DerivationCodeSequence = Sequence([Dataset(), deep])
    ds.DerivationCodeSequence.is_undefined_length = True
    inner = Dataset()
    inner.add_new(0x00110010, "LO", "INNER QUILL")
    inner.add_new(0x00111001, "LO", "PRIVQUILL inner")
    inner.add_new(0x00111002, "PN", "Privquill^Nested")
    middle = Dataset()
    middle.add_new(0x00110010, "LO", "MIDDLE QUILL")
    middle.add_new(0x00111001, "SQ", Sequence([inner, Dataset()]))
    ds.add_new(0x00090010, "LO", "OUTER QUILL")
    ds.add_new(0x00091001, "SQ", Sequence([middle, Dataset()]))
    return ds


_BUILT = {
    "multi_valued": _multi_valued,
    "iso2022_japanese": _charsets,
    "utf8_groups": _utf8,
    "sequences": _sequences,
}


def _encode(ds: Dataset, syntax: UID) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _scrub(data: bytes, key: ProjectKey, profile: str) -> tuple[Dataset, bytes, str]:
    # pydicom's multi-valued charset files are headers without pixel data (the pipeline
    # holds them back as truncated); the engine itself must still scrub them.
    ds = pydicom.dcmread(io.BytesIO(data))
    result = scrub_dataset(ds, profile=load_profile(profile), key=key)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return (
        pydicom.dcmread(io.BytesIO(out.getvalue()), force=False),
        out.getvalue(),
        (result.patient_pseudonym),
    )


def _phi(ds: Dataset) -> set[str]:
    """Name parts, IDs and dates of the input (at every depth), at least 3 characters."""
    found: set[str] = set()
    for elem in ds.iterall():
        if elem.VR in ("PN", "DA") or elem.keyword in _IDENTITY:
            values = elem.value if elem.VM > 1 else [elem.value]
            for value in values:
                for part in str(value).replace("=", "^").replace(" ", "^").split("^"):
                    part = part.strip(" \x00")
                    if len(part) >= 3 and not part.isupper() or len(part) >= 6:
                        found.add(part)
    return found


def _assert_scrubbed(original: Dataset, out: Dataset, data: bytes, pseudonym: str) -> None:
    for elem in out.iterall():
        if elem.VR == "PN" and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            assert all(str(v) in ("", pseudonym) for v in values), elem.keyword
    low = data.lower()
    for text in _phi(original):
        for codec in _ENCODINGS:
            try:
                needle = text.lower().encode(codec)
            except UnicodeEncodeError:
                continue
            assert needle not in low, (codec, len(text))


@pytest.mark.parametrize("profile", ["basic", "research"])
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("case", sorted(_BUILT))
def test_awkward_values_are_scrubbed(
    case: str, syntax: UID, profile: str, project_key: ProjectKey
) -> None:
    original = _BUILT[case]()
    out, data, pseudonym = _scrub(_encode(original, syntax), project_key, profile)
    _assert_scrubbed(original, out, data, pseudonym)
    if case == "sequences":  # empty items keep their place; private blocks are gone
        assert len(out.DerivationCodeSequence) == 2
        assert not any(elem.tag.is_private for elem in out.iterall())


@pytest.mark.parametrize(
    "name", ["chrJapMulti.dcm", "chrKoreanMulti.dcm", "chrH31.dcm", "chrX1.dcm", "chrFren.dcm"]
)
def test_pydicom_charset_files_are_scrubbed(name: str, project_key: ProjectKey) -> None:
    (path,) = get_charset_files(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # these files carry a few nonconformant values
        original = pydicom.dcmread(path)
        out, data, pseudonym = _scrub(Path(path).read_bytes(), project_key, "basic")
    assert out.SpecificCharacterSet == original.SpecificCharacterSet
    _assert_scrubbed(original, out, data, pseudonym)
