"""Fixtures for the deployment tests: a helm binary, and the chart rendered in each mode."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import helmchart
import helmtool
import pytest


@pytest.fixture(scope="session")
def helm() -> Path:
    """A helm binary; the tests skip without one, except in CI, where that is a failure."""
    try:
        return helmtool.find_helm()
    except helmtool.HelmUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to obtain helm: {error}")
        pytest.skip(f"No helm binary could be obtained: {error}")


@pytest.fixture(scope="session")
def rendered(helm: Path) -> dict[str, list[dict[str, Any]]]:
    """The chart rendered once per mode in helmchart.MODES, by mode name."""
    return {mode: helmchart.render(helm, values) for mode, values in helmchart.MODES.items()}
