"""Fixtures for compatibility tests: one Dask environment per (Python, distributed) pair.

A pair whose Python is missing or whose install fails is skipped with the reason, never
failed. The first run builds the venvs (a few minutes); skip the matrix with
``pytest -m "not compat"``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from venvs import MATRIX, PLUGIN_PATH, DaskEnvironment, ensure_venv  # noqa: E402

from dask_plugin_operator.localdask import LocalDaskCluster  # noqa: E402


@pytest.fixture(scope="session", params=MATRIX, ids=[e.id for e in MATRIX])
def dask_environment(request: pytest.FixtureRequest) -> DaskEnvironment:
    environment: DaskEnvironment = request.param
    reason = ensure_venv(environment)
    if reason is not None:
        pytest.skip(reason)
    return environment


@pytest.fixture
def compat_cluster(dask_environment: DaskEnvironment, tmp_path: Path) -> Iterator[LocalDaskCluster]:
    """Two workers with nannies, scheduler and workers all in the environment's venv."""
    with LocalDaskCluster(
        workers=2,
        nanny=True,
        env={"PYTHONPATH": PLUGIN_PATH},
        python=dask_environment.python,
        log_dir=tmp_path,
    ) as cluster:
        yield cluster
