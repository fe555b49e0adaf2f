"""Fixtures of the end-to-end suite: an API (sandbox or real), namespaces, the operator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster

from .harness import Kube, OperatorProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "errorlogger"
PLUGINS_FOR_TESTS = Path(__file__).resolve().parents[1] / "integration" / "plugins"


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    real = os.environ.get("DPO_E2E_KUBECONFIG")
    if real:
        yield Kube(Path(real))
        return

    from dask_plugin_operator.sandbox import SandboxThread

    kubeconfig = tmp_path_factory.mktemp("sandbox") / "kubeconfig"
    with SandboxThread() as sandbox:
        sandbox.write_kubeconfig(kubeconfig)
        yield Kube(kubeconfig)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = kube.create_namespace()
    yield name
    kube.delete_namespace(name)


@pytest.fixture
def operator(kube: Kube, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kube, [namespace], tmp_path / "operator.log")
    yield process
    alive = process.running
    process.stop()
    assert alive, f"the operator died during the test; its log:\n{process.log()[-5000:]}"


@pytest.fixture
def dask(tmp_path: Path) -> Iterator[LocalDaskCluster]:
    env = {"PYTHONPATH": os.pathsep.join([str(EXAMPLE), str(PLUGINS_FOR_TESTS)])}
    with LocalDaskCluster(workers=2, nanny=True, env=env, log_dir=tmp_path / "dask") as c:
        yield c
