"""What the end-to-end tests drive: a Kubernetes API, kubectl, and the operator process.

The API is the sandbox unless ``DPO_E2E_KUBECONFIG`` names the kubeconfig of a real
cluster (with the CRDs installed); the tests are written against the API only, so they
run unchanged on either. The operator always runs here as a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import yaml

GROUP, VERSION, PLURAL = "plugins.dask.org", "v1alpha1", "workerplugins"
DASK_GROUP, DASK_VERSION, DASK_PLURAL = "kubernetes.dask.org", "v1", "daskclusters"
DEFAULT_TIMEOUT = 60.0

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], timeout: float = DEFAULT_TIMEOUT,
               interval: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting until {what}; "
                         f"last seen: {last!r}")


class Kube:
    """One API server seen through kubectl and the kubernetes client."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "KUBECACHEDIR": tempfile.mkdtemp(prefix="kubecache-"),
        }
        # The client reads KUBECONFIG only at import: log in explicitly instead.
        self.client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
        self.objects = kubernetes.client.CustomObjectsApi(self.client)
        self.core = kubernetes.client.CoreV1Api(self.client)

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        kubectl = shutil.which("kubectl")
        assert kubectl, "kubectl must be on PATH"
        done = subprocess.run([kubectl, *args], env=self.env, capture_output=True,
                              text=True, input=stdin, timeout=DEFAULT_TIMEOUT + 30)
        if check:
            assert done.returncode == 0, f"kubectl {args} failed: {done.stderr}"
        return done.stdout if check else done.stdout + done.stderr

    def apply(self, *documents: Mapping[str, Any]) -> str:
        return self.kubectl("apply", "-f", "-",
                            stdin=yaml.safe_dump_all([dict(d) for d in documents]))

    def create_namespace(self) -> str:
        name = f"e2e-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace({"metadata": {"name": name}})
        return name

    def delete_namespace(self, name: str) -> None:
        self.kubectl("delete", "namespace", name, "--wait=false", check=False)

    def plugin(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name))
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def cluster(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.objects.get_namespaced_custom_object(
            DASK_GROUP, DASK_VERSION, namespace, DASK_PLURAL, name))

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        listed = self.core.list_namespaced_event(namespace)
        return [
            {"type": e.type, "reason": e.reason, "message": e.message}
            for e in listed.items if e.involved_object.name == name
        ]


def condition(plugin: Mapping[str, Any] | None, type_: str) -> dict[str, Any]:
    for entry in ((plugin or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == type_:
            return dict(entry)
    return {}


def is_ready(plugin: Mapping[str, Any] | None, registered: int | None = None) -> bool:
    if plugin is None:
        return False
    status = plugin.get("status") or {}
    ready = condition(plugin, "Ready").get("status") == "True"
    current = status.get("observedGeneration") == plugin["metadata"].get("generation")
    counted = registered is None or status.get("registered") == registered
    return ready and current and counted


class OperatorProcess:
    """``dask-plugin-operator run`` in a subprocess, with its log in a file."""

    def __init__(self, kube: Kube, namespaces: list[str], log: Path,
                 *extra: str) -> None:
        self.kube = kube
        self.log_path = log
        self.command = [
            sys.executable, "-m", "dask_plugin_operator", "run", "--standalone",
            "--verbose", "--check-interval", "2", "--deletion-timeout", "10",
            *(arg for ns in namespaces for arg in ("--namespace", ns)), *extra,
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.command, env=self.kube.env,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """Kill it at once, as a node failure or OOM would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def worker_plugin(name: str, namespace: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "WorkerPlugin",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def dask_cluster(name: str, namespace: str, address: str,
                 labels: Mapping[str, str]) -> dict[str, Any]:
    """A DaskCluster whose scheduler is the local process at ``address``."""
    container = {"name": "c", "image": "ghcr.io/dask/dask:latest"}
    return {
        "apiVersion": f"{DASK_GROUP}/{DASK_VERSION}", "kind": "DaskCluster",
        "metadata": {
            "name": name, "namespace": namespace, "labels": dict(labels),
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
