"""Shared fixtures: real DuckDB workspaces built in temporary directories."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The public datasets beside the project (skips when absent)."""
    if not SHARED_DATA.exists():
        pytest.skip("the shared public datasets are not beside this checkout")
    return SHARED_DATA
