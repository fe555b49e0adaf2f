"""The real kubectl against the sandbox: apply, get, describe, wait, delete, discovery."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dask_plugin_operator.sandbox import SandboxThread

from .conftest import HERE, Kubectl

pytestmark = pytest.mark.timeout(120)

PLUGIN = """
apiVersion: plugins.dask.org/v1alpha1
kind: WorkerPlugin
metadata: {name: errorlogger, labels: {team: analytics}}
spec:
  type: worker
  clusterSelector: {matchLabels: {team: analytics}}
  module: {name: "errorlogger.plugins:ErrorLogger", kwargs: {logger: distributed.worker.errors}}
"""

DASKCLUSTER = """
apiVersion: kubernetes.dask.org/v1
kind: DaskCluster
metadata: {name: prod, labels: {team: analytics}}
spec:
  worker: {replicas: 2, spec: {containers: [{name: worker, image: ghcr.io/dask/dask}]}}
  scheduler:
    spec: {containers: [{name: scheduler, image: ghcr.io/dask/dask}]}
    service: {ports: [{name: tcp-comm, port: 8786}]}
"""

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: prod-scheduler, labels: {dask.org/cluster-name: prod}}
spec: {ports: [{name: tcp-comm, port: 8786}]}
"""


def await_watch(sandbox: SandboxThread, resource: str, deadline: float = 30) -> None:
    """Block until some client is watching the resource, so later changes reach it live."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        records = sandbox.sandbox.recent_requests()
        if any(r.verb == "watch" and r.resource == resource for r in records):
            return
        time.sleep(0.05)
    raise AssertionError(f"Nobody started watching {resource}.")


def test_kubectl_applies_gets_and_describes_a_worker_plugin(kubectl: Kubectl) -> None:
    assert "created" in kubectl("apply", "--validate=false", "-f", "-", stdin=PLUGIN)

    listing = kubectl("get", "workerplugins")
    assert listing.split("\n")[0].split() == [
        "NAME", "TYPE", "SOURCE", "MATCHED", "REGISTERED", "READY", "AGE"
    ]
    assert listing.split("\n")[1].split()[0] == "errorlogger"

    stored = yaml.safe_load(kubectl("get", "wp", "errorlogger", "-o", "yaml"))
    assert stored["metadata"]["uid"] and stored["metadata"]["generation"] == 1
    assert int(stored["metadata"]["resourceVersion"]) > 0
    assert stored["spec"]["priority"] == 0  # the CRD's default, applied by the server

    described = kubectl("describe", "workerplugin", "errorlogger")
    assert "Name:         errorlogger" in described
    assert "errorlogger.plugins:ErrorLogger" in described


def test_kubectl_apply_twice_changes_the_generation_only_for_spec_changes(
    kubectl: Kubectl,
) -> None:
    kubectl("apply", "--validate=false", "-f", "-", stdin=PLUGIN)
    kubectl("label", "wp", "errorlogger", "extra=yes")
    kubectl("apply", "--validate=false", "-f", "-", stdin=PLUGIN.replace("worker\n", "nanny\n"))

    stored = json.loads(kubectl("get", "wp", "errorlogger", "-o", "json"))
    assert stored["spec"]["type"] == "nanny"
    assert stored["metadata"]["labels"]["extra"] == "yes"
    assert stored["metadata"]["generation"] == 2


def test_kubectl_waits_for_a_worker_plugin_to_become_ready(
    kubectl: Kubectl, sandbox_thread: SandboxThread, kubeconfig: Path, tmp_path: Path
) -> None:
    kubectl("apply", "--validate=false", "-f", "-", stdin=PLUGIN)
    waiting = subprocess.Popen(
        ["kubectl", "wait", "--for=condition=Ready", "workerplugin/errorlogger", "--timeout=60s"],
        env={"KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "wait-cache"),
             "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        await_watch(sandbox_thread, "workerplugins")
        status = {"status": {"pluginType": "worker", "source": "module", "matched": 1,
                             "registered": 1,
                             "conditions": [{"type": "Ready", "status": "True"}]}}
        kubectl("patch", "wp", "errorlogger", "--subresource=status", "--type=merge",
                "-p", json.dumps(status))
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert "condition met" in out

    row = kubectl("get", "wp", "errorlogger", "--no-headers").split()
    assert row[:6] == ["errorlogger", "worker", "module", "1", "1", "True"]


def test_kubectl_waits_for_a_daskcluster_phase_and_a_service_condition(kubectl: Kubectl) -> None:
    kubectl("apply", "--validate=false", "-f", "-", stdin=DASKCLUSTER)
    kubectl("apply", "--validate=false", "-f", "-", stdin=SERVICE)

    # DaskCluster has no status subresource: its status is written with the main resource.
    kubectl("patch", "daskcluster", "prod", "--type=merge", "-p",
            '{"status": {"phase": "Running", "unknown": "pruned"}}')
    kubectl("wait", "--for=jsonpath={.status.phase}=Running", "daskcluster/prod",
            "--timeout=30s")
    assert json.loads(kubectl("get", "dsk", "prod", "-o", "json"))["status"] == {
        "phase": "Running"
    }
    assert kubectl("get", "daskclusters").split("\n")[0].split() == [
        "NAME", "WORKERS", "STATUS", "AGE"
    ]

    condition = {"type": "Ready", "status": "True", "reason": "Test", "message": "",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}
    kubectl("patch", "service", "prod-scheduler", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"conditions": [condition]}}))
    kubectl("wait", "--for=condition=Ready", "service/prod-scheduler", "--timeout=30s")


def test_kubectl_shows_why_the_server_rejects_a_worker_plugin(kubectl: Kubectl) -> None:
    invalid = PLUGIN.replace("type: worker", "type: everywhere")
    result = kubectl.run("apply", "--validate=false", "-f", "-", stdin=invalid, check=False)
    assert result.returncode != 0
    assert 'spec.type: Unsupported value: "everywhere"' in result.stderr
    assert kubectl("get", "workerplugins", "-o", "name") == ""


def test_kubectl_deletes_a_worker_plugin(kubectl: Kubectl) -> None:
    kubectl("apply", "--validate=false", "-f", "-", stdin=PLUGIN)
    assert "deleted" in kubectl("delete", "workerplugin", "errorlogger", "--timeout=30s")
    result = kubectl.run("get", "workerplugin", "errorlogger", check=False)
    assert "NotFound" in result.stderr


@pytest.fixture
def bare_sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(crds=[], install_daskcluster_crd=False) as running:
        yield running


def test_a_crd_applied_later_is_discovered_by_kubectl(
    bare_sandbox: SandboxThread, tmp_path: Path
) -> None:
    kubectl = Kubectl(bare_sandbox.write_kubeconfig(tmp_path / "config"), tmp_path / "cache")
    assert kubectl.run("get", "widgets", check=False).returncode != 0

    kubectl("apply", "--validate=false", "-f", str(HERE / "widgets-crd.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/widgets.sandbox.test", "--timeout=30s")
    widget = "apiVersion: sandbox.test/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n"
    kubectl("apply", "--validate=false", "-f", "-", stdin=widget)

    assert kubectl("get", "wd", "w", "--no-headers").split()[:2] == ["w", "3"]
    kubectl("delete", "crd", "widgets.sandbox.test", "--timeout=30s")
    assert kubectl.run("get", "widgets", check=False).returncode != 0


def test_kubectl_creates_namespaces_config_maps_and_secrets_in_protobuf(
    kubectl: Kubectl,
) -> None:
    kubectl("create", "namespace", "analytics")
    kubectl("create", "configmap", "settings", "-n", "analytics", "--from-literal=a=b")
    kubectl("create", "secret", "generic", "token", "-n", "analytics", "--from-literal=t=xyz")
    kubectl("label", "namespace", "analytics", "team=analytics")

    header, row = kubectl("get", "namespace", "analytics").splitlines()
    assert header.split() == ["NAME", "STATUS", "AGE"]
    assert row.split()[:2] == ["analytics", "Active"]
    namespace = json.loads(kubectl("get", "namespace", "analytics", "-o", "json"))
    assert namespace["metadata"]["labels"]["team"] == "analytics"
    assert namespace["status"]["phase"] == "Active"
    settings = json.loads(kubectl("get", "cm", "settings", "-n", "analytics", "-o", "json"))
    assert settings["data"] == {"a": "b"}
    token = json.loads(kubectl("get", "secret", "token", "-n", "analytics", "-o", "json"))
    assert token["data"] == {"t": "eHl6"} and token["type"] == "Opaque"

    kubectl("delete", "namespace", "analytics", "--timeout=30s")
    assert kubectl.run("get", "namespace", "analytics", check=False).returncode != 0


def test_kubectl_validates_on_the_server_without_being_told_not_to(kubectl: Kubectl) -> None:
    unknown = PLUGIN + "  colour: blue\n"
    result = kubectl.run("apply", "-f", "-", stdin=unknown, check=False)
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "spec.colour"' in result.stderr

    assert "created" in kubectl("apply", "-f", "-", stdin=PLUGIN)


def test_kubectl_applies_a_service_twice_with_strategic_merge(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", stdin=SERVICE)
    kubectl("apply", "-f", "-", stdin=SERVICE.replace("port: 8786", "port: 8787"))
    service = json.loads(kubectl("get", "service", "prod-scheduler", "-o", "json"))
    assert service["spec"]["ports"] == [
        {"name": "tcp-comm", "port": 8787, "protocol": "TCP", "targetPort": 8787}
    ]
    assert service["spec"]["clusterIP"].startswith("10.96.")
