"""BIDS: anat T1w/T2w defaced (T2w with the T1w mask), func kept, sidecars scrubbed."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from deface_heads import head_grid, make_head, nifti

from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.bids import group_anat
from deidkit.deface.core import changed_voxels
from deidkit.deface.nifti_io import raw_data
from deidkit.deface.templates import HeadTemplate


def test_group_anat_applies_t1w_mask_to_other_contrasts() -> None:
    anat = Path("ds/sub-01/anat")
    files = [anat / "sub-01_T2w.nii.gz", anat / "sub-01_T1w.nii.gz", anat / "sub-01_FLAIR.nii"]
    assert group_anat(files) == [
        (anat / "sub-01_T1w.nii.gz", [anat / "sub-01_FLAIR.nii", anat / "sub-01_T2w.nii.gz"])
    ]


def test_bids_tree(template: HeadTemplate, tmp_path: Path) -> None:
    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, truth = make_head(template, grid)
    src = tmp_path / "ds"
    anat, func = src / "sub-01" / "anat", src / "sub-01" / "func"
    anat.mkdir(parents=True)
    func.mkdir()
    (src / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.9.0"}')
    (src / "participants.tsv").write_text("participant_id\nsub-01\n")
    nib.save(nifti(head, grid), anat / "sub-01_T1w.nii.gz")
    t2 = np.where(head > 0, np.clip(700.0 - head, 0.0, None), 0.0)  # another contrast
    nib.save(nifti(t2, grid), anat / "sub-01_T2w.nii.gz")
    sidecar = {"EchoTime": 0.003, "AcquisitionDateTime": "2021-03-04T10:00", "StationName": "MR7"}
    (anat / "sub-01_T1w.json").write_text(json.dumps(sidecar))
    bold = np.stack([head[::2, ::2, ::2]] * 2, axis=-1)
    bold_img = nib.Nifti1Image(bold.astype(np.int16), grid.affine)
    bold_img.header["descrip"] = b"Doe^Jane"
    nib.save(bold_img, func / "sub-01_task-rest_bold.nii.gz")

    report = run_batch(src, tmp_path / "out", DefaceOptions(), workers=2)
    status = {r.path: r.status for r in report.results}
    assert status == {
        "dataset_description.json": "scrubbed",
        "sub-01/anat/sub-01_T1w.json": "scrubbed",
        "sub-01/anat/sub-01_T1w.nii.gz": "defaced",
        "sub-01/anat/sub-01_T2w.nii.gz": "defaced",
    }
    # Only what deface produced is written; the bold run and participants.tsv are counted.
    assert report.left_behind == {"nifti": 1, "table": 1}
    out = tmp_path / "out"
    for name in ("sub-01_T1w.nii.gz", "sub-01_T2w.nii.gz"):
        before = raw_data(nib.load(anat / name))
        changed = changed_voxels(before, raw_data(nib.load(out / "sub-01" / "anat" / name)))
        assert not (changed & truth.brain).any()
        assert (changed & truth.face).sum() / truth.face.sum() > 0.9
    t1_changed = changed_voxels(
        raw_data(nib.load(anat / "sub-01_T1w.nii.gz")),
        raw_data(nib.load(out / "sub-01" / "anat" / "sub-01_T1w.nii.gz")),
    )
    t2_zeroed = raw_data(nib.load(out / "sub-01" / "anat" / "sub-01_T2w.nii.gz")) == 0
    assert t2_zeroed[t1_changed].all()  # the T1w mask was applied to the T2w
    assert json.loads((out / "sub-01" / "anat" / "sub-01_T1w.json").read_text()) == {
        "EchoTime": 0.003
    }
    assert not (out / "sub-01" / "func").exists()
    assert not (out / "participants.tsv").exists()
