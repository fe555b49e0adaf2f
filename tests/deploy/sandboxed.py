"""Run the operator the way the chart deploys it, against the sandbox API emulator.

The deploy tests that need a live operator share this: a sandbox API with its request
log, a real Dask scheduler, the DaskCluster and WorkerPlugin they apply, and the command
line of each operator process, taken from the rendered chart and adapted to run here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helmchart
import kubernetes
import pytest
import yaml

from dask_plugin_operator.localdask import LocalDaskCluster, free_port
from dask_plugin_operator.sandbox import SandboxThread

NAMESPACE = "analytics"
GROUP, VERSION, PLURAL = "plugins.dask.org", "v1alpha1", "workerplugins"
DASK_GROUP, DASK_VERSION, DASK_PLURAL = "kubernetes.dask.org", "v1", "daskclusters"


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    """A real Dask scheduler on this machine; workers are not needed to register plugins."""
    with LocalDaskCluster(workers=0, log_dir=tmp_path / "dask") as cluster:
        yield cluster.address


class Api:
    """The sandbox, seen through the kubernetes client and its own request log."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        config = yaml.safe_load(kubeconfig.read_text())
        self.server = config["clusters"][0]["cluster"]["server"].rstrip("/")
        # Typed as Any: the client takes plain dicts for bodies, which its stubs refuse.
        client: Any = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig))
        self.core: Any = kubernetes.client.CoreV1Api(client)
        self.objects: Any = kubernetes.client.CustomObjectsApi(client)
        self.extensions: Any = kubernetes.client.ApiextensionsV1Api(client)

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.server}/_sandbox/requests", timeout=10) as reply:
            data = json.load(reply)
        items: list[dict[str, Any]] = data["items"] if isinstance(data, dict) else data
        return items

    def install_peering(self, manifests: list[dict[str, Any]]) -> None:
        """Create the peering CRDs and objects the chart renders with HA, as Helm would."""
        for crd in helmchart.of_kind(manifests, "CustomResourceDefinition"):
            if crd["spec"]["group"] != "kopf.dev":
                continue
            try:
                self.extensions.create_custom_resource_definition(crd)
            except kubernetes.client.ApiException as error:
                if error.status != 409:  # the sandbox may know Kopf's kinds already
                    raise
        for peering in helmchart.of_kind(manifests, "ClusterKopfPeering"):
            self.objects.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings",
                                                      peering)
        for peering in helmchart.of_kind(manifests, "KopfPeering"):
            self.objects.create_namespaced_custom_object(
                "kopf.dev", "v1", peering["metadata"]["namespace"], "kopfpeerings", peering)

    def plugin(self) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, "errorlogger")
            return found
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            raise


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    kubeconfig = tmp_path / "kubeconfig"
    with SandboxThread() as running:
        running.write_kubeconfig(kubeconfig)
        yield Api(kubeconfig)


def dask_cluster(address: str) -> dict[str, Any]:
    container = {"name": "c", "image": "ghcr.io/dask/dask:latest"}
    return {
        "apiVersion": f"{DASK_GROUP}/{DASK_VERSION}", "kind": "DaskCluster",
        "metadata": {
            "name": "prod", "namespace": NAMESPACE, "labels": {"team": "analytics"},
            "annotations": {"plugins.dask.org/scheduler-address": address},
        },
        "spec": {
            "worker": {"replicas": 0, "spec": {"containers": [container]}},
            "scheduler": {
                "spec": {"containers": [container]},
                "service": {"ports": [{"name": "tcp-comm", "port": 8786}]},
            },
        },
    }


def worker_plugin() -> dict[str, Any]:
    # A module the scheduler never imports: it only stores the payload for workers.
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "WorkerPlugin",
        "metadata": {"name": "errorlogger", "namespace": NAMESPACE},
        "spec": {
            "type": "worker",
            "clusterSelector": {"matchLabels": {"team": "analytics"}},
            "module": {"name": "errorlogger.plugins:ErrorLogger"},
        },
    }


def operator_command(deployment: dict[str, Any]) -> list[str]:
    """The chart's command line for one operator process, adapted to run here quickly."""
    _, _, *args = helmchart.operator_args(deployment)
    local = {
        "--liveness": f"http://127.0.0.1:{free_port()}/healthz",
        "--check-interval": "2",
        "--deletion-timeout": "10",
    }
    adapted = [arg for arg in args if arg.split("=")[0] not in local]
    adapted += [f"{flag}={value}" for flag, value in local.items()]
    return [sys.executable, "-m", "dask_plugin_operator", "run", *adapted]


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop an operator process the way Kubernetes does: SIGTERM, then wait."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def is_ready(plugin: dict[str, Any] | None) -> bool:
    status = (plugin or {}).get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return bool(ready) and ready[0].get("status") == "True"
