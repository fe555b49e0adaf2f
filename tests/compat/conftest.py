"""Fixtures for compatibility tests: one Dask environment per (Python, distributed) pair.

A pair whose Python is missing or whose install fails is skipped with the reason, never
failed. The tests start many clusters and may build venvs, so they run only when asked
for: ``pytest -m compat``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from venvs import MATRIX, PLUGIN_PATH, DaskEnvironment, ensure_venv  # noqa: E402

from daskprocs import LocalDaskCluster  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expression = str(config.getoption("markexpr") or "")
    if "compat" in expression and "not compat" not in expression:
        return
    skip = pytest.mark.skip(reason="compatibility tests run with: pytest -m compat")
    for item in items:
        if "compat" in item.keywords:
            item.add_marker(skip)


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
