"""Structure problems the originals already had are pre-existing warnings, not release errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from verify_support import KEY, Pair, build_pair

from deidkit.commands._common import EXIT_OK, EXIT_PHI_FOUND
from deidkit.core.pseudonym import patient_pseudonym
from deidkit.verify.release import verify_release

_OTHER_ID = "MRN5550001"


def _edit(path: Path, change: Callable[[Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _second_patient_in_release(pair: Pair) -> None:
    pseudonym = patient_pseudonym(KEY, _OTHER_ID)

    def change(ds: Dataset) -> None:
        ds.PatientID = pseudonym
        ds.PatientName = pseudonym

    _edit(pair.release_files[2], change)


def _spans(pair: Pair, *, key: bool) -> list[tuple[str, str]]:
    result = verify_release(
        pair.release, original=pair.original, key=KEY if key else None, workers=1
    )
    spans = [
        (f.severity, f.message)
        for f in result.findings
        if f.check == "relationships" and f.keyword == "StudyInstanceUID"
    ]
    assert result.exit_code() == (EXIT_OK if spans[0][0] == "warn" else EXIT_PHI_FOUND)
    return spans


@pytest.mark.parametrize("key", [True, False])
def test_a_study_spanning_two_patients_in_the_originals_is_pre_existing(
    tmp_path: Path, key: bool
) -> None:
    pair = build_pair(tmp_path)
    _edit(
        pair.original / "Doe_Johnathan" / "CT3.dcm", lambda ds: setattr(ds, "PatientID", _OTHER_ID)
    )
    _second_patient_in_release(pair)
    assert _spans(pair, key=key) == [
        ("warn", "pre-existing in the originals: one study spans several patients")
    ]


@pytest.mark.parametrize("key", [True, False])
def test_a_span_the_release_made_is_still_an_error(tmp_path: Path, key: bool) -> None:
    pair = build_pair(tmp_path)  # one patient in the originals
    _second_patient_in_release(pair)
    assert _spans(pair, key=key) == [("error", "one study spans several patients")]
