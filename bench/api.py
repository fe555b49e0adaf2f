"""The benchmarks' own requests to the Kubernetes API, as kubectl would make them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes

GROUP, VERSION, PLURAL = "plugins.dask.org", "v1alpha1", "workerplugins"
DASK_GROUP, DASK_VERSION, DASK_PLURAL = "kubernetes.dask.org", "v1", "daskclusters"
ADDRESS_ANNOTATION = "plugins.dask.org/scheduler-address"


class Api:
    """Namespaces, DaskClusters and WorkerPlugins through the kubernetes client."""

    def __init__(self, kubeconfig: Path) -> None:
        self.client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        self.objects = kubernetes.client.CustomObjectsApi(self.client)
        self.core = kubernetes.client.CoreV1Api(self.client)

    def create_namespace(self, name: str) -> None:
        self.core.create_namespace({"metadata": {"name": name}})

    def create_cluster(self, namespace: str, name: str, address: str,
                       labels: Mapping[str, str] | None = None) -> None:
        """A DaskCluster whose scheduler is reached at ``address`` (no Service)."""
        container = {"name": "scheduler", "image": "ghcr.io/dask/dask:latest"}
        body = {
            "apiVersion": f"{DASK_GROUP}/{DASK_VERSION}", "kind": "DaskCluster",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {}),
                         "annotations": {ADDRESS_ANNOTATION: address}},
            "spec": {
                "worker": {"replicas": 1, "spec": {"containers": [container]}},
                "scheduler": {"spec": {"containers": [container]},
                              "service": {"ports": [{"name": "tcp-comm", "port": 8786}]}},
            },
        }
        self.objects.create_namespaced_custom_object(
            DASK_GROUP, DASK_VERSION, namespace, DASK_PLURAL, body)

    def delete_cluster(self, namespace: str, name: str) -> None:
        self.objects.delete_namespaced_custom_object(
            DASK_GROUP, DASK_VERSION, namespace, DASK_PLURAL, name)

    def create_plugin(self, namespace: str, name: str, spec: Mapping[str, Any]) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "WorkerPlugin",
                "metadata": {"name": name, "namespace": namespace}, "spec": dict(spec)}
        self.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def delete_plugin(self, namespace: str, name: str) -> None:
        self.objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def plugin_exists(self, namespace: str, name: str) -> bool:
        try:
            self.objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def plugins(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            listed = self.objects.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        else:
            listed = self.objects.list_namespaced_custom_object(GROUP, VERSION, namespace,
                                                                PLURAL)
        return list(listed.get("items") or [])

    def close(self) -> None:
        self.client.close()


def mark_spec(marks: Path, tag: str, selector: Mapping[str, Any] | None = None,
              priority: int = 0) -> dict[str, Any]:
    """A WorkerPlugin spec of the benchmarks' Mark plugin."""
    spec: dict[str, Any] = {
        "module": {"name": "dpo_bench_plugins:Mark",
                   "kwargs": {"marks": str(marks), "tag": tag}},
    }
    if selector is not None:
        spec["clusterSelector"] = dict(selector)
    if priority:
        spec["priority"] = priority
    return spec
