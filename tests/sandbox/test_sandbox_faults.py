"""Fault injection and the request log, over HTTP as other processes would use them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

from dask_plugin_operator.sandbox import SandboxThread

pytestmark = pytest.mark.timeout(60)


def admin(sandbox: SandboxThread, method: str, what: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{sandbox.url}/_sandbox/{what}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def test_an_injected_fault_answers_the_given_status_the_given_number_of_times(
    sandbox_thread: SandboxThread, api_client: kubernetes.client.ApiClient
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    admin(sandbox_thread, "POST", "faults",
          {"method": "GET", "path": "/namespaces/default$", "status": 500, "count": 2})

    failures = []
    for _ in range(3):
        try:
            core.read_namespace("default")
        except ApiException as error:
            failures.append(error.status)
    assert failures == [500, 500]
    assert admin(sandbox_thread, "GET", "faults")["items"][0]["hits"] == 2


def test_injected_conflicts_reach_writes_only(
    sandbox_thread: SandboxThread, api_client: kubernetes.client.ApiClient
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    sandbox_thread.sandbox.add_fault(r"/configmaps/c$", 409, method="PATCH", count=None)

    with pytest.raises(ApiException) as patching:
        core.patch_namespaced_config_map("c", "default", {"data": {"a": "b"}})
    assert patching.value.status == 409
    assert json.loads(patching.value.body)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("c", "default").data is None

    admin(sandbox_thread, "DELETE", "faults")
    core.patch_namespaced_config_map("c", "default", {"data": {"a": "b"}})


def test_an_injected_410_on_a_watch_comes_as_an_error_event(
    sandbox_thread: SandboxThread,
) -> None:
    admin(sandbox_thread, "POST", "faults", {"path": "/configmaps$", "status": 410})
    url = f"{sandbox_thread.url}/api/v1/namespaces/default/configmaps?watch=true"
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        event = json.loads(reply.readline())
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


def test_the_request_log_names_verbs_resources_and_subresources(
    sandbox_thread: SandboxThread, api_client: kubernetes.client.ApiClient
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_service("default", {"metadata": {"name": "s"},
                                               "spec": {"ports": [{"port": 1}]}})
    core.patch_namespaced_service_status("s", "default", {"status": {"conditions": []}})
    core.list_service_for_all_namespaces(label_selector="a=b")

    records = admin(sandbox_thread, "GET", "requests")["items"]
    seen = [(r["verb"], r["resource"], r["namespace"], r["subresource"]) for r in records]
    assert seen == [
        ("create", "services", "default", None),
        ("patch", "services", "default", "status"),
        ("list", "services", None, None),
    ]
    assert records[-1]["query"] == {"labelSelector": "a=b"}
    assert records[0]["status"] == 201

    admin(sandbox_thread, "DELETE", "requests")
    assert admin(sandbox_thread, "GET", "requests")["items"] == []


def test_a_fault_needs_a_path_and_a_status(sandbox_thread: SandboxThread) -> None:
    with pytest.raises(urllib.error.HTTPError) as posting:
        admin(sandbox_thread, "POST", "faults", {"status": 500})
    assert posting.value.code == 400
