"""Fixtures for the sandbox tests: a running sandbox, kubectl and the kubernetes client."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest

from dask_plugin_operator.sandbox import Sandbox, SandboxThread

HERE = Path(__file__).parent


@dataclass
class Kubectl:
    """The real kubectl, pointed at one sandbox with a cache of its own."""

    kubeconfig: Path
    cache: Path

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache)}
        result = subprocess.run(
            ["kubectl", *args], env=env, input=stdin, capture_output=True, text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        return self.run(*args, stdin=stdin).stdout


@pytest.fixture
def sandbox_thread() -> Iterator[SandboxThread]:
    with SandboxThread() as running:
        yield running


@pytest.fixture
def kubeconfig(sandbox_thread: SandboxThread, tmp_path: Path) -> Path:
    return sandbox_thread.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig, tmp_path / "kube-cache")


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    # The kubernetes client reads KUBECONFIG only at import: load this file explicitly.
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as running:
        yield running


@pytest.fixture
def widgets_sandbox() -> Iterator[SandboxThread]:
    """A sandbox serving the test resource ``widgets.sandbox.test`` (and DaskClusters)."""
    with SandboxThread(crds=[HERE / "widgets-crd.yaml"]) as running:
        yield running


@pytest.fixture
def widgets_client(
    widgets_sandbox: SandboxThread, tmp_path: Path
) -> Iterator[kubernetes.client.ApiClient]:
    config = widgets_sandbox.write_kubeconfig(tmp_path / "widgets-kubeconfig")
    client = kubernetes.config.new_client_from_config(config_file=str(config))
    yield client
    client.close()
