"""Reference counts of a scrub run: kept, remapped, dangling (run report ``references``)."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from dicom_builders import CT, ROOT, _item, canary_dataset, to_bytes
from pydicom.sequence import Sequence

from deidkit.core.keys import ProjectKey
from deidkit.core.runreport import FileReferences, ReferenceTally, run_report_path
from deidkit.rules.profile import load_profile
from deidkit.scrub.pipeline import RunOptions, ScrubSettings, scrub_tree
from deidkit.scrub.references import file_references, uid_digest


def _with_source(ds: pydicom.Dataset, *targets: str) -> pydicom.Dataset:
    ds.SourceImageSequence = Sequence(
        [_item(ReferencedSOPClassUID=CT, ReferencedSOPInstanceUID=t) for t in targets]
    )
    return ds


def _export(root: Path) -> Path:
    """Two instances of one series: A's Source Image Sequence points at B and at 404
    (not exported).

    Each also holds the canary dataset's own references: Referenced Series Sequence >
    Series Instance UID (its series) and, deeper, Referenced SOP Instance UID ROOT.9 (B).
    """
    root.mkdir(parents=True)
    (root / "a.dcm").write_bytes(
        to_bytes(_with_source(canary_dataset(sop="1"), ROOT + "9", ROOT + "404"))
    )
    (root / "b.dcm").write_bytes(to_bytes(canary_dataset(sop="9")))
    return root


def _scrub(tmp_path: Path, profile: str | Path) -> dict[str, int]:
    export = _export(tmp_path / "export")
    settings = ScrubSettings(
        profile=load_profile(profile), key=ProjectKey(secret=bytes(32), source="test")
    )
    output = tmp_path / "release"
    summary = scrub_tree(export, output, settings=settings, options=RunOptions(workers=1))
    report = json.loads(run_report_path(output).read_text(encoding="utf-8"))
    assert summary.to_json()["references"] == report["references"]
    counts: dict[str, int] = report["references"]
    return counts


def test_remapped_references_and_the_dangling_one(tmp_path: Path) -> None:
    # A: Source Image -> B, Source Image -> 404, Referenced Series, deep Referenced SOP (B);
    # B: Referenced Series, deep Referenced SOP (itself)
    assert _scrub(tmp_path, "basic") == {"kept": 0, "remapped": 6, "dangling": 1}


def test_retained_uids_are_kept_references(tmp_path: Path) -> None:
    profile = tmp_path / "uids.yaml"
    profile.write_text("name: uids\nextends: basic\noptions: [retain_uids]\n", encoding="utf-8")
    assert _scrub(tmp_path, profile) == {"kept": 6, "remapped": 0, "dangling": 1}


def test_file_references_sorts_kept_from_remapped() -> None:
    ds = _with_source(pydicom.Dataset(), "2.25.1", "1.2.3.4", "1.2.840.10008.1.2.3")
    ds.SOPInstanceUID = "2.25.9"
    ds.SeriesInstanceUID = "2.25.8"
    ds.StudyInstanceUID = "2.25.7"
    ds.FrameOfReferenceUID = "2.25.6"
    ds.ReferencedFrameOfReferenceUID = "2.25.6"  # at the top level too
    found = file_references(ds, remapped={"2.25.1", "2.25.6"})
    assert set(found.identities) == {
        uid_digest(u) for u in ("2.25.9", "2.25.8", "2.25.7", "2.25.6")
    }
    assert found.remapped == (uid_digest("2.25.1"), uid_digest("2.25.6"))
    assert found.kept == (uid_digest("1.2.3.4"),)  # the DICOM root names no instance


def test_a_top_level_identity_is_no_reference() -> None:
    ds = pydicom.Dataset()
    ds.SOPInstanceUID = "2.25.9"
    ds.SeriesInstanceUID = "2.25.8"
    assert file_references(ds, remapped={"2.25.9"}) == FileReferences(
        identities=(uid_digest("2.25.9"), uid_digest("2.25.8"))
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ([], {"kept": 0, "remapped": 0, "dangling": 0}),
        # B points at A, which arrives later: resolved once the release is whole
        (
            [
                FileReferences(identities=(b"B",), remapped=(b"A", b"C")),
                FileReferences(identities=(b"A",), kept=(b"B",)),
            ],
            {"kept": 1, "remapped": 2, "dangling": 1},
        ),
    ],
)
def test_tally_resolves_against_the_whole_release(
    files: list[FileReferences], expected: dict[str, int]
) -> None:
    tally = ReferenceTally()
    for references in files:
        tally.add(references)
    assert tally.counts() == expected
