"""Fixtures for integration tests: real local Dask clusters and plugin specs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster

TESTS = Path(__file__).resolve().parent.parent

ROOT = TESTS.parent
PLUGIN_PATH = ":".join(
    [str(ROOT / "examples" / "errorlogger"), str(TESTS / "integration" / "plugins")]
)


@pytest.fixture
def plugin_env() -> dict[str, str]:
    """The environment for Dask processes that must import the example and test plugins."""
    return {"PYTHONPATH": PLUGIN_PATH}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDaskCluster]:
    """Two workers with nannies, shared by a module's tests (plugin names differ)."""
    logs = tmp_path_factory.mktemp("cluster")
    with LocalDaskCluster(
        workers=2, nanny=True, env={"PYTHONPATH": PLUGIN_PATH}, log_dir=logs
    ) as c:
        yield c


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalDaskCluster]:
    """A cluster for one test, for tests that restart or reshape it."""
    with LocalDaskCluster(
        workers=1, nanny=True, env={"PYTHONPATH": PLUGIN_PATH}, log_dir=tmp_path
    ) as c:
        yield c
