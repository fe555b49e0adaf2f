"""Fixtures of the fault suite: the sandbox, operators and real local Dask clusters.

The suite always runs against the sandbox, never a real cluster: it makes the API answer
with errors on purpose, which only the sandbox can do. Operators run as processes that a
test may kill and start again; Dask clusters import the test plugins.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.sandbox import SandboxThread
from e2e.harness import Kube, OperatorProcess

TESTS = Path(__file__).resolve().parents[1]
PLUGIN_PATH = os.pathsep.join(
    [str(TESTS.parent / "examples" / "errorlogger"), str(TESTS / "integration" / "plugins")]
)

StartOperator = Callable[..., OperatorProcess]
StartDask = Callable[..., LocalDaskCluster]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread() as running:
        yield running


@pytest.fixture(scope="session")
def kube(sandbox: SandboxThread, tmp_path_factory: pytest.TempPathFactory) -> Kube:
    return Kube(sandbox.write_kubeconfig(tmp_path_factory.mktemp("sandbox") / "kubeconfig"))


@pytest.fixture(autouse=True)
def no_faults_left(sandbox: SandboxThread) -> Iterator[None]:
    """Every test starts and ends with an API that answers normally."""
    sandbox.sandbox.faults.clear()
    yield
    sandbox.sandbox.faults.clear()


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = kube.create_namespace()
    yield name
    kube.delete_namespace(name)


@pytest.fixture
def start_operator(kube: Kube, tmp_path: Path) -> Iterator[StartOperator]:
    """Start operator processes; each must still run when the test ends."""
    started: list[OperatorProcess] = []

    def start(namespaces: list[str], *extra: str) -> OperatorProcess:
        log = tmp_path / f"operator-{len(started) + 1}.log"
        # Full log lines carry timestamps, from which the tests read how long things took.
        process = OperatorProcess(kube, namespaces, log, "--log-format", "full", *extra)
        started.append(process)
        return process

    yield start
    dead = [process for process in started if _died(process)]
    for process in started:
        process.stop()
    assert not dead, f"an operator died during the test; its log:\n{dead[0].log()[-5000:]}"


def _died(operator: OperatorProcess) -> bool:
    """Whether the operator exited on its own, not killed or stopped by the test."""
    code = operator.process.poll() if operator.process else None
    if code is None or code == -signal.SIGKILL:
        return False
    last_run = operator.log().rsplit("Starting Kopf", 1)[-1]
    return "Signal SIGTERM is received" not in last_run


@pytest.fixture
def operator(start_operator: StartOperator, namespace: str) -> OperatorProcess:
    return start_operator([namespace])


@pytest.fixture
def start_dask(tmp_path: Path) -> Iterator[StartDask]:
    """Start local Dask clusters that import the test plugins; all stop with the test."""
    clusters: list[LocalDaskCluster] = []

    def start(workers: int = 2, nanny: bool = True) -> LocalDaskCluster:
        logs = tmp_path / f"dask-{len(clusters) + 1}"
        cluster = LocalDaskCluster(workers=workers, nanny=nanny,
                                   env={"PYTHONPATH": PLUGIN_PATH}, log_dir=logs)
        clusters.append(cluster)
        return cluster

    yield start
    for cluster in clusters:
        cluster.stop()


@pytest.fixture
def dask(start_dask: StartDask) -> LocalDaskCluster:
    return start_dask()
