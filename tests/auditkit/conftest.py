"""Shared fixtures for auditkit tests: synthetic, seeded predictions tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA_DIR = Path(__file__).parent / "data"
EXAMPLE_RESULTS = DATA_DIR / "example_results.json"


def make_binary_predictions(
    n: int = 600,
    *,
    seed: int = 1,
    missing_sex: float = 0.04,
    rounding: int = 3,
    patients: bool = True,
) -> pd.DataFrame:
    """A binary predictions table shaped like ``auditkit predict`` output, all cells as text.

    Scores are worse for "GE" (a planted gap); ``Philips`` is rare so its intersections with
    sex fall under the default minimum group size; a few sex cells are empty (missing group).
    """
    rng = np.random.default_rng(seed)
    sex = rng.choice(
        ["F", "M", ""], n, p=[0.5 - missing_sex / 2, 0.5 - missing_sex / 2, missing_sex]
    )
    manufacturer = rng.choice(["AGFA", "GE", "Siemens", "Philips"], n, p=[0.41, 0.35, 0.2, 0.04])
    label = rng.integers(0, 2, n)
    signal = 0.3 * label - 0.12 * label * (manufacturer == "GE")
    score = np.clip(rng.normal(0.35 + signal, 0.18), 0, 1).round(rounding)
    frame = pd.DataFrame(
        {
            "case_id": [f"case{i:05d}" for i in range(n)],
            "label": label.astype(str),
            "score": [repr(float(s)) for s in score],
            "sex": sex,
            "manufacturer": manufacturer,
            "status": "ok",
        }
    )
    if patients:
        frame.insert(1, "patient_id", [f"P{i // 2:05d}" for i in range(n)])
    return frame


@pytest.fixture
def binary_frame() -> pd.DataFrame:
    """600 rows, two attributes, a missing-sex group and small intersections."""
    return make_binary_predictions()


@pytest.fixture
def frame_factory() -> Callable[..., pd.DataFrame]:
    """The synthetic-table factory, for tests that need another size or seed."""
    return make_binary_predictions


@pytest.fixture
def binary_csv(tmp_path: Path, binary_frame: pd.DataFrame) -> Path:
    """The binary table written as CSV."""
    path = tmp_path / "predictions.csv"
    binary_frame.to_csv(path, index=False)
    return path
