"""Kopf itself against the sandbox: discovery, watching, finalizers, status, events, peering."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kopf
import kubernetes
import pytest
import yaml
from kopf.testing import KopfRunner

from dask_plugin_operator.sandbox import SandboxThread
from dask_plugin_operator.sandbox.kubeconfig import TOKEN

from .conftest import HERE, Kubectl

pytestmark = pytest.mark.timeout(90)

GROUP, VERSION, PLURAL = "sandbox.test", "v1", "widgets"
FINALIZER = "sandbox.test/operator"


def eventually(check: Callable[[], Any], what: str, deadline: float = 30) -> Any:
    """Poll until check() returns something truthy; fail naming what never happened."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"This never happened: {what}.")


def make_operator(
    url: str, deleted: list[str]
) -> tuple[kopf.OperatorRegistry, kopf.OperatorSettings]:
    registry = kopf.OperatorRegistry()
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="sandbox.test")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="sandbox.test")
    settings.watching.server_timeout = 5  # reconnect often: resumption is part of the test

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, token=TOKEN, default_namespace="default")

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def created(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        kopf.info(body, reason="Seen", message="The widget was seen by the test operator.")
        patch.status["seen"] = True

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def removed(name: str, **_: Any) -> None:
        deleted.append(name)

    return registry, settings




def test_kopf_handles_creation_and_deletion_with_a_finalizer(
    widgets_sandbox: SandboxThread, widgets_client: kubernetes.client.ApiClient,
    tmp_path: Path,
) -> None:
    objects = kubernetes.client.CustomObjectsApi(widgets_client)
    core = kubernetes.client.CoreV1Api(widgets_client)
    objects.create_namespaced_custom_object(
        "kopf.dev", "v1", "default", "kopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "default"}})
    deleted: list[str] = []
    registry, settings = make_operator(widgets_sandbox.url, deleted)

    def widget() -> Any:
        try:
            return objects.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
        except kubernetes.client.ApiException as error:
            assert error.status == 404
            return None

    args = ["run", "--namespace=default", "--verbose"]
    with KopfRunner(args, registry=registry, settings=settings, timeout=60) as runner:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
                "metadata": {"name": "w"}, "spec": {"size": 2}}
        objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)

        handled = eventually(lambda: (widget() or {}).get("status", {}).get("seen"),
                             "the operator marked the widget as seen")
        assert handled is True
        assert FINALIZER in widget()["metadata"]["finalizers"]
        events = eventually(
            lambda: core.list_namespaced_event("default", field_selector="reason=Seen").items,
            "the operator posted an event")
        assert events[0].involved_object.name == "w"
        kubectl = Kubectl(widgets_sandbox.write_kubeconfig(tmp_path / "config"), tmp_path / "c")
        described = kubectl("describe", "widget", "w")
        assert "Seen" in described and "The widget was seen by the test operator." in described

        objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
        eventually(lambda: widget() is None, "the widget was released and deleted")

    assert runner.exception is None
    assert runner.exit_code == 0
    assert deleted == ["w"]
    assert "Traceback" not in runner.output

    # What Kopf asked for, in RBAC words, is visible in the request log.
    calls = {(r.verb, r.resource, r.subresource) for r in widgets_sandbox.sandbox.recent_requests()
             if r.user_agent.startswith("kopf")}
    assert {("watch", "widgets", None), ("patch", "widgets", None),
            ("patch", "widgets", "status"), ("create", "events", None),
            ("patch", "kopfpeerings", None)} <= calls


def test_kopf_picks_up_a_crd_created_after_it_started(tmp_path: Any) -> None:
    with SandboxThread(crds=[], install_daskcluster_crd=False) as sandbox:
        config = sandbox.write_kubeconfig(tmp_path / "kubeconfig")
        client = kubernetes.config.new_client_from_config(config_file=str(config))
        objects = kubernetes.client.CustomObjectsApi(client)
        extensions = kubernetes.client.ApiextensionsV1Api(client)
        registry, settings = make_operator(sandbox.url, [])

        args = ["run", "--namespace=default", "--standalone"]
        with KopfRunner(args, registry=registry, settings=settings, timeout=60) as runner:
            eventually(lambda: any(r.verb == "watch" and r.resource == "customresourcedefinitions"
                                   for r in sandbox.sandbox.recent_requests()),
                       "the operator watched for CRDs")
            crd = yaml.safe_load((HERE / "widgets-crd.yaml").read_text())
            extensions.create_custom_resource_definition(crd)
            body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
                    "metadata": {"name": "late"}, "spec": {"size": 1}}
            objects.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)

            def seen() -> Any:
                late = objects.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                            "late")
                return late.get("status", {}).get("seen")

            assert eventually(seen, "the operator handled a widget of the late CRD") is True
            objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "late")
        client.close()

    assert runner.exception is None
    assert "Traceback" not in runner.output
