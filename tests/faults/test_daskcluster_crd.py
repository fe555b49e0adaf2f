"""An operator started before dask-kubernetes: no DaskCluster CRD yet.

The operator starts anyway, says once that DaskClusters cannot be watched yet, reports
its plugins as waiting, and picks DaskClusters up once their CRD is created through the
API, with no restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.sandbox import SandboxThread
from dask_plugin_operator.sandbox.crds import daskcluster_crd_file, load_crds
from e2e.harness import (
    Kube,
    OperatorProcess,
    condition,
    dask_cluster,
    eventually,
    is_ready,
    worker_plugin,
)

from .observe import lines, wait_for_periodic_checks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


@pytest.fixture
def bare_kube(tmp_path: Path) -> Iterator[Kube]:
    """A sandbox of its own, serving our CRD but not dask-kubernetes' DaskCluster."""
    with SandboxThread(install_daskcluster_crd=False) as sandbox:
        yield Kube(sandbox.write_kubeconfig(tmp_path / "kubeconfig"))


def test_the_operator_picks_daskclusters_up_once_their_crd_is_created(
    bare_kube: Kube, tmp_path: Path, dask: LocalDaskCluster
) -> None:
    kube = bare_kube
    namespace = kube.create_namespace()
    operator = OperatorProcess(kube, [], tmp_path / "operator.log", "--log-format", "full")
    try:
        kube.apply(worker_plugin("recorder", namespace, {
            "module": {"name": "dpo_test_plugins:WorkerRecorder", "kwargs": {"tag": "early"}}}))
        plugin = eventually("the plugin reports that it waits for clusters", lambda: (
            condition(kube.plugin(namespace, "recorder"), "Ready").get("reason")
            == "NoMatchingClusters" and kube.plugin(namespace, "recorder")))
        assert condition(plugin, "Ready")["status"] == "False"
        wait_for_periodic_checks(operator, 2)

        (crd,) = load_crds([daskcluster_crd_file()])
        kube.kubectl("create", "-f", "-", stdin=yaml.safe_dump(crd))
        kube.apply(dask_cluster("late", namespace, dask.address, {}))

        eventually("the plugin is ready on the new cluster",
                   lambda: is_ready(kube.plugin(namespace, "recorder"), registered=1))
        for worker in dask.workers:
            worker.wait_for_log(r"WorkerRecorder early setup on", timeout=10)
        (warning,) = lines(operator.log(), "Unresolved resources cannot be served")
        assert "daskclusters" in warning
        assert operator.running
    finally:
        operator.stop()
