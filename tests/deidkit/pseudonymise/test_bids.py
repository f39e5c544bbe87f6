"""Tests of BIDS renaming on a tiny generated tree (nibabel NIfTI + JSON sidecars)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from deidkit.core.errors import OutputPathError, TableInputError, UsageError
from deidkit.core.keys import ProjectKey
from deidkit.core.pseudonym import date_offset_days, patient_pseudonym
from deidkit.pseudonymise.bids import pseudonymise_bids, subject_labels
from deidkit.pseudonymise.linkage import LinkageStore
from deidkit.pseudonymise.tables import TableSpec, parse_id_column, pseudonymise_table

KEY = ProjectKey(secret=bytes(range(32)), source="test")
LABELS = ("01", "CANARY7")


def _nifti(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    nib.save(image, path)


def _bids(root: Path) -> Path:
    (root).mkdir()
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "tiny", "BIDSVersion": "1.9.0"}), encoding="utf-8"
    )
    (root / "participants.tsv").write_text(
        "participant_id\tage\tsex\nsub-01\t34\tF\nsub-CANARY7\t61\tM\n", encoding="utf-8"
    )
    for label in LABELS:
        anat = root / f"sub-{label}" / "ses-1" / "anat"
        _nifti(anat / f"sub-{label}_ses-1_T1w.nii.gz")
        (anat / f"sub-{label}_ses-1_T1w.json").write_text(
            json.dumps({"RepetitionTime": 2.3, "Note": f"sub-{label} ok"}), encoding="utf-8"
        )
        fmap = root / f"sub-{label}" / "ses-1" / "fmap"
        _nifti(fmap / f"sub-{label}_ses-1_epi.nii.gz")
        (fmap / f"sub-{label}_ses-1_epi.json").write_text(
            json.dumps(
                {"IntendedFor": f"bids::sub-{label}/ses-1/anat/sub-{label}_ses-1_T1w.nii.gz"}
            ),
            encoding="utf-8",
        )
        (root / f"sub-{label}" / "ses-1" / f"sub-{label}_ses-1_scans.tsv").write_text(
            "filename\tacq_time\n"
            f"anat/sub-{label}_ses-1_T1w.nii.gz\t2019-05-04T10:11:12\n"
            f"fmap/sub-{label}_ses-1_epi.nii.gz\tn/a\n",
            encoding="utf-8",
        )
    return root


def _all_text(root: Path) -> str:
    parts = []
    for path in sorted(root.rglob("*")):
        parts.append(str(path.relative_to(root)))
        if path.is_file():
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_tree_is_renamed_consistently(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    before = _all_text(source)
    out = tmp_path / "release"
    store = LinkageStore(tmp_path / "l.dkl", key=KEY)
    result = pseudonymise_bids(source, out, key=KEY, linkage=store)
    assert _all_text(source) == before  # input untouched
    assert result.subjects == 2 and result.files == 12
    assert result.to_json() == {
        "subjects": 2,
        "files": 12,
        "renamed": result.renamed,
        "rewritten": result.rewritten,
        "linkage_entries": result.linkage_entries,
    }
    text = _all_text(out)
    for label in LABELS:
        assert f"sub-{label}" not in text
        new = patient_pseudonym(KEY, label)
        assert new.isalnum()
        anat = out / f"sub-{new}" / "ses-1" / "anat"
        # Image bytes are copied unchanged; only names and text change.
        assert (anat / f"sub-{new}_ses-1_T1w.nii.gz").read_bytes() == (
            source / f"sub-{label}" / "ses-1" / "anat" / f"sub-{label}_ses-1_T1w.nii.gz"
        ).read_bytes()
        sidecar = json.loads((out / f"sub-{new}/ses-1/fmap/sub-{new}_ses-1_epi.json").read_text())
        assert sidecar["IntendedFor"] == f"bids::sub-{new}/ses-1/anat/sub-{new}_ses-1_T1w.nii.gz"
        scans = (out / f"sub-{new}/ses-1/sub-{new}_ses-1_scans.tsv").read_text().splitlines()
        shifted = dt.date(2019, 5, 4) + dt.timedelta(days=date_offset_days(KEY, label))
        assert scans[1] == f"anat/sub-{new}_ses-1_T1w.nii.gz\t{shifted.isoformat()}T10:11:12"
        assert scans[2].endswith("\tn/a")
    participants = (out / "participants.tsv").read_text().splitlines()
    assert participants[1:] == [
        f"sub-{patient_pseudonym(KEY, '01')}\t34\tF",
        f"sub-{patient_pseudonym(KEY, 'CANARY7')}\t61\tM",
    ]
    assert sorted(e.original for e in store.entries() if e.kind == "PatientID") == sorted(LABELS)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_output_rules(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    with pytest.raises(OutputPathError):
        pseudonymise_bids(source, source / "derivatives" / "x", key=KEY)
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputPathError, match="already exists"):
        pseudonymise_bids(source, tmp_path / "taken", key=KEY)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no sub-<label>"):
        pseudonymise_bids(empty, tmp_path / "o", key=KEY)


def test_bad_participants_and_unreadable_file_leave_nothing(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    (source / "participants.tsv").write_text("participant_id\nsubject one\n", encoding="utf-8")
    with pytest.raises(TableInputError, match="row 2"):
        pseudonymise_bids(source, tmp_path / "o", key=KEY)
    (source / "participants.tsv").write_text("participant_id\nsub-01\n", encoding="utf-8")
    os.symlink(tmp_path / "nowhere.nii.gz", source / "sub-01" / "broken.nii.gz")
    with pytest.raises(TableInputError, match="could not be copied"):
        pseudonymise_bids(source, tmp_path / "o", key=KEY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bids"]


def test_participants_table_matches_the_renamed_tree(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    pseudonymise_bids(source, tmp_path / "out", key=KEY)
    column, kind = parse_id_column("participant_id")
    spec = TableSpec(id_columns={column: kind}, keep_columns=("age", "sex"))
    pseudonymise_table(source / "participants.tsv", tmp_path / "p.tsv", key=KEY, spec=spec)
    assert (tmp_path / "p.tsv").read_text() == (tmp_path / "out" / "participants.tsv").read_text()
    (tmp_path / "bad.tsv").write_text("participant_id\n01\n")
    with pytest.raises(TableInputError, match="not sub-<label> in rows 2"):
        pseudonymise_table(
            tmp_path / "bad.tsv",
            tmp_path / "q.tsv",
            key=KEY,
            spec=TableSpec(id_columns={column: kind}),
        )


def test_labels_from_folders_and_participants(tmp_path: Path) -> None:
    source = _bids(tmp_path / "bids")
    (source / "sub-extra").mkdir()
    assert subject_labels(source) == ["01", "CANARY7", "extra"]
