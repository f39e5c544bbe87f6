"""``deidkit deface`` as a BIDS app: ``bids_dir output_dir participant --participant-label``,
a derivative's ``dataset_description.json``, and sidecars scrubbed by ``--profile``."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import pytest
from deface_heads import head_grid, make_head, nifti
from sidecar_samples import EXPECTED_BASIC, EXPECTED_RESEARCH_NO_KEY, PLANTED_SIDECAR
from typer.testing import CliRunner

from deidkit import __version__
from deidkit.cli import app
from deidkit.commands._common import EXIT_OK, EXIT_USAGE
from deidkit.deface import DefaceOptions, run_batch
from deidkit.deface.bids import derivative_description, in_selection, participant_labels
from deidkit.deface.output import REPORT_NAME
from deidkit.deface.templates import HeadTemplate
from deidkit.rules.profile import load_profile

SUBJECTS = ("01", "02", "03")
DESCRIPTION = {
    "Name": "Canary study",
    "BIDSVersion": "1.8.0",
    "Authors": ["A. Researcher"],
    "InstitutionName": "St Canary Hospital",
    "Contact": "jane.doe@example.org",
    "GeneratedBy": [{"Name": "dcm2bids", "Version": "3.1"}],
}


@pytest.fixture(scope="module")
def bids_dir(template: HeadTemplate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three subjects with one T1w each (one planted sidecar), a description and a table."""
    grid = head_grid(template, zooms=(4.0, 4.0, 4.0))
    head, _ = make_head(template, grid)
    root = tmp_path_factory.mktemp("bidsapp") / "ds"
    for label in SUBJECTS:
        anat = root / f"sub-{label}" / "anat"
        anat.mkdir(parents=True)
        nib.save(nifti(head, grid), anat / f"sub-{label}_T1w.nii.gz")
        (anat / f"sub-{label}_T1w.json").write_text(json.dumps(PLANTED_SIDECAR))
    (root / "dataset_description.json").write_text(json.dumps(DESCRIPTION))
    (root / "participants.tsv").write_text(
        "participant_id\n" + "".join(f"sub-{s}\n" for s in SUBJECTS)
    )
    return root


def _deface(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["deface", *args, "--method", "quickshear"])
    return result.exit_code, result.output


def _subjects(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("sub-*"))


def test_participant_labels_select_subjects_and_later_runs_keep_them(
    bids_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "derivatives" / "deface"
    code, output = _deface(
        str(bids_dir), str(out), "participant", "--participant-label", "01", "sub-03"
    )
    assert code == EXIT_OK, output
    assert _subjects(out) == ["sub-01", "sub-03"]
    sidecar = json.loads((out / "sub-01" / "anat" / "sub-01_T1w.json").read_text())
    assert sidecar == EXPECTED_BASIC  # the default profile is basic
    # A later run for another participant into the same OUTPUT leaves the first ones alone.
    code, output = _deface(
        str(bids_dir), str(out), "participant", "--participant_label", "02", "--profile", "research"
    )
    assert code == EXIT_OK, output
    assert _subjects(out) == ["sub-01", "sub-02", "sub-03"]
    assert (out / "sub-01" / "anat" / "sub-01_T1w.nii.gz").is_file()
    sidecar = json.loads((out / "sub-02" / "anat" / "sub-02_T1w.json").read_text())
    assert sidecar == EXPECTED_RESEARCH_NO_KEY  # research, but deface has no key: no dates
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["options"]["participant_labels"] == ["02"]
    assert report["options"]["profile"] == "research"
    assert sum(name.endswith("_T1w.nii.gz") for name in report["outputs"]) == 3


def test_dataset_description_is_a_derivative_with_generated_by(
    bids_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, output = _deface(str(bids_dir), str(out), "participant", "--participant-label", "02")
    assert code == EXIT_OK, output
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["BIDSVersion"] == "1.8.0"  # the input's
    assert description["Name"] == "Canary study" and description["Authors"] == ["A. Researcher"]
    ours, theirs = description["GeneratedBy"]
    assert ours["Name"] == "deidkit deface" and ours["Version"] == __version__
    assert ours["Description"].startswith("deidkit deface BIDS_DIR OUTPUT_DIR participant")
    assert (
        "--participant-label 02" in ours["Description"] and str(bids_dir) not in ours["Description"]
    )
    assert theirs == {"Name": "dcm2bids", "Version": "3.1"}
    # Scrubbed: the institution (E.1-1 X/Z/D) and free text BIDS does not define are gone.
    assert "InstitutionName" not in description and "Contact" not in description


def test_the_plain_form_writes_a_derivative_description_too(bids_dir: Path, tmp_path: Path) -> None:
    report = run_batch(bids_dir, tmp_path / "out", DefaceOptions(method="quickshear"))
    assert report.counts() == {"defaced": 3, "scrubbed": 4}
    description = json.loads((tmp_path / "out" / "dataset_description.json").read_text())
    assert description["GeneratedBy"][0]["Description"].startswith("deidkit deface INPUT OUTPUT")
    assert description["DatasetType"] == "derivative"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["group"], "no group-level analysis"),
        (["session"], "participant"),
        (["participant", "--participant-label", "04"], "1 --participant-label value(s) name no"),
        (["participant", "--participant-label", "0_1"], "not BIDS labels"),
        (["participant", "01"], "unexpected extra argument"),
        (["participant", "--profile", "no-such-profile"], "unknown profile"),
    ],
)
def test_bids_app_usage_errors_exit_2(
    bids_dir: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    code, output = _deface(str(bids_dir), str(tmp_path / "out"), *extra)
    assert code == EXIT_USAGE
    assert message in " ".join(output.split())
    assert not (tmp_path / "out").exists()


def test_participant_level_needs_a_bids_dataset(bids_dir: Path, tmp_path: Path) -> None:
    image = bids_dir / "sub-01" / "anat" / "sub-01_T1w.nii.gz"
    code, output = _deface(str(image), str(tmp_path / "out"), "participant")
    assert code == EXIT_USAGE and "needs a BIDS dataset" in " ".join(output.split())
    folder = bids_dir / "sub-01"
    code, output = _deface(str(folder), str(tmp_path / "o2"), "--participant-label", "01")
    assert code == EXIT_USAGE and "needs a BIDS dataset" in " ".join(output.split())


def test_selection_helpers() -> None:
    assert participant_labels(["sub-01", "01", "02"]) == frozenset({"01", "02"})
    chosen = frozenset({"01"})
    assert in_selection(Path("sub-01/anat/sub-01_T1w.nii.gz"), chosen)
    assert not in_selection(Path("sub-02/anat/sub-02_T1w.nii.gz"), chosen)
    assert in_selection(Path("dataset_description.json"), chosen)
    assert not in_selection(Path("derivatives/x/sub-02/anat/a.nii.gz"), chosen)
    assert in_selection(Path("sub-02/anat/a.nii.gz"), frozenset())  # no selection: all


def test_derivative_description_defaults() -> None:
    made = derivative_description(
        {"Funding": ["grant 1"], "StudyDate": "20190504"},
        profile=load_profile("research"),
        generated_by={"Name": "deidkit deface", "Version": "0", "Description": "x"},
    )
    assert made == {
        "Name": "defaced dataset",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "deidkit deface", "Version": "0", "Description": "x"}],
        "Funding": ["grant 1"],
    }
