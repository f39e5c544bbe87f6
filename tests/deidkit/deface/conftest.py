"""Fixtures for deface tests (helpers live in ``deface_heads.py``)."""

from __future__ import annotations

import pytest

from deidkit.deface.templates import HeadTemplate, load_template


@pytest.fixture(scope="session")
def template() -> HeadTemplate:
    """The mean head, its face mask and brain mask (loaded once)."""
    return load_template()
