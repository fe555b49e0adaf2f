"""The Kubernetes API answering with errors: 409, 410 and 5xx on watches and patches.

The sandbox injects the errors for real, on the requests the operator makes: its watch
streams, its status patches, and Kopf's finalizer patches. After each, nothing is lost:
every plugin ends registered once, with a true status, and the operator still runs.
"""

from __future__ import annotations

from typing import Any

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.sandbox import FaultRule, SandboxThread
from e2e.harness import (
    DASK_GROUP,
    DASK_PLURAL,
    DASK_VERSION,
    GROUP,
    PLURAL,
    VERSION,
    Kube,
    OperatorProcess,
    dask_cluster,
    eventually,
    is_ready,
    worker_plugin,
)

from .observe import lines, wait_for_periodic_checks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

STATUSES = (409, 500, 503)


def recorder(tag: str) -> dict[str, Any]:
    return {"module": {"name": "dpo_test_plugins:WorkerRecorder", "kwargs": {"tag": tag}}}


def end_watches(sandbox: SandboxThread, group: str, version: str, plural: str) -> None:
    """End every watch stream of a resource, as an API server does when it times out."""
    api = sandbox.sandbox
    info = api.state.registry.find(group, version, plural)
    assert info is not None and sandbox._loop is not None
    sandbox._loop.call_soon_threadsafe(api.state.store.close_subscriptions, info.storage_key)


def fault(sandbox: SandboxThread, path: str, status: int, method: str,
          count: int = 2) -> FaultRule:
    return sandbox.sandbox.add_fault(path, status, method=method, count=count)


def test_watches_that_fail_with_410_and_5xx_are_resumed_without_losing_a_change(
    kube: Kube, sandbox: SandboxThread, namespace: str, operator: OperatorProcess,
    dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {"stage": "test"}))
    kube.apply(worker_plugin("before", namespace, recorder("before")))
    eventually("the first plugin is ready", lambda: is_ready(kube.plugin(namespace, "before")))

    # The streams end; resuming them meets a 410 Gone and server errors.
    where = f"/namespaces/{namespace}/"
    rules = [fault(sandbox, f"{where}{PLURAL}$", 410, "GET", count=1),
             fault(sandbox, f"{where}{DASK_PLURAL}$", 500, "GET"),
             fault(sandbox, f"{where}{DASK_PLURAL}$", 503, "GET")]
    end_watches(sandbox, GROUP, VERSION, PLURAL)
    end_watches(sandbox, DASK_GROUP, DASK_VERSION, DASK_PLURAL)
    eventually("every injected error was answered",
               lambda: all(rule.hits == rule.count for rule in rules))

    # Changes made now must still reach the operator.
    kube.apply(worker_plugin("then", namespace, recorder("then") | {
        "clusterSelector": {"matchLabels": {"stage": "prod"}}}))
    kube.apply(dask_cluster("prod", namespace, dask.address, {"stage": "prod"}))
    eventually("the new plugin is ready on the relabelled cluster",
               lambda: is_ready(kube.plugin(namespace, "then"), registered=1))
    wait_for_periodic_checks(operator, 2)
    for worker in dask.workers:
        assert worker.count(r"WorkerRecorder before setup on") == 1
        assert worker.count(r"WorkerRecorder then setup on") == 1
    assert is_ready(kube.plugin(namespace, "before"), registered=1)


def test_status_patches_refused_with_409_and_5xx_are_written_again(
    kube: Kube, sandbox: SandboxThread, namespace: str, operator: OperatorProcess,
    dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    names = [f"status-{code}" for code in STATUSES]
    rules = [fault(sandbox, f"/{PLURAL}/{name}/status$", code, "PATCH")
             for name, code in zip(names, STATUSES, strict=True)]

    kube.apply(*(worker_plugin(name, namespace, recorder(name)) for name in names))

    for name in names:
        eventually(f"{name} is ready", lambda n=name: is_ready(kube.plugin(namespace, n),
                                                               registered=1))
    assert [rule.hits for rule in rules] == [2, 2, 2]
    for name in names:
        assert len(lines(operator.log(), rf"Status of plugin {namespace}/{name} was not "
                                          r"written")) == 2
    # A status that could not be written is no reason to register anything again.
    wait_for_periodic_checks(operator, 2)
    for worker in dask.workers:
        for name in names:
            assert worker.count(rf"WorkerRecorder {name} setup on") == 1


def test_finalizer_patches_refused_with_409_and_5xx_are_made_again(
    kube: Kube, sandbox: SandboxThread, namespace: str, operator: OperatorProcess,
    dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    names = [f"finalizer-{code}" for code in STATUSES]
    # Kopf retries a 5xx itself; after a 409 it tries again on the object's next event,
    # which the operator's own status write provides once. A second 409 in a row would
    # leave the finalizer as it is until something else changes the object.
    counts = {409: 1, 500: 2, 503: 2}

    # Adding the finalizer fails first.
    rules = [fault(sandbox, f"/{PLURAL}/{name}$", code, "PATCH", counts[code])
             for name, code in zip(names, STATUSES, strict=True)]
    kube.apply(*(worker_plugin(name, namespace, recorder(name)) for name in names))
    for name in names:
        eventually(f"{name} is ready and guarded by the finalizer", lambda n=name: is_ready(
            plugin := kube.plugin(namespace, n), registered=1)
            and plugin["metadata"].get("finalizers") == ["plugins.dask.org/finalizer"])
    assert [rule.hits for rule in rules] == [1, 2, 2]

    # Then removing it fails first.
    rules = [fault(sandbox, f"/{PLURAL}/{name}$", code, "PATCH", counts[code])
             for name, code in zip(names, STATUSES, strict=True)]
    kube.kubectl("delete", "workerplugin", *names, "-n", namespace, "--wait=false")
    for name in names:
        eventually(f"{name} is gone", lambda n=name: kube.plugin(namespace, n) is None)
    assert [rule.hits for rule in rules] == [1, 2, 2]
    for worker in dask.workers:
        for name in names:
            assert worker.count(rf"WorkerRecorder {name} setup on") == 1
            assert worker.count(rf"WorkerRecorder {name} teardown on") == 1


def test_a_plugin_deleted_before_kopf_could_add_the_finalizer_is_unregistered_anyway(
    kube: Kube, sandbox: SandboxThread, namespace: str, operator: OperatorProcess,
    dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    refusal = fault(sandbox, f"/{PLURAL}/unguarded$", 409, "PATCH", count=None)
    kube.apply(worker_plugin("unguarded", namespace, recorder("unguarded")))
    plugin = eventually("the plugin is ready", lambda: is_ready(
        kube.plugin(namespace, "unguarded")) and kube.plugin(namespace, "unguarded"))
    assert "finalizers" not in plugin["metadata"] and refusal.hits >= 1

    kube.kubectl("delete", "workerplugin", "unguarded", "-n", namespace)

    for worker in dask.workers:
        worker.wait_for_log(r"WorkerRecorder unguarded teardown on", timeout=30)
    assert lines(operator.log(), r"unguarded was deleted without its finalizer")
