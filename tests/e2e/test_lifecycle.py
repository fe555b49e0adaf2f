"""A WorkerPlugin's life, end to end: applied, registered, changed, retargeted, deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster

from .harness import (
    Kube,
    OperatorProcess,
    condition,
    dask_cluster,
    eventually,
    is_ready,
    worker_plugin,
)

pytestmark = pytest.mark.e2e

RECORDER = "dpo_test_plugins:WorkerRecorder"


def recorder(tag: str, selector: dict[str, object] | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"module": {"name": RECORDER, "kwargs": {"tag": tag}}}
    if selector is not None:
        spec["clusterSelector"] = selector
    return spec


def test_errorlogger_reaches_every_worker_including_one_that_joins_later(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {"team": "analytics"}))
    kube.apply(worker_plugin("errorlogger", namespace, {
        "clusterSelector": {"matchLabels": {"team": "analytics"}},
        "module": {"name": "errorlogger.plugins:ErrorLogger",
                   "kwargs": {"logger": "distributed.worker.errors"}},
    }))

    kube.kubectl("wait", "--for=condition=Ready", "workerplugin/errorlogger",
                 "-n", namespace, "--timeout=60s")
    for worker in dask.workers:
        worker.wait_for_log(r"ErrorLogger set up on worker", timeout=10)
    latecomer = dask.add_worker(nanny=False)
    latecomer.wait_for_log(r"ErrorLogger set up on worker", timeout=30)

    plugin = kube.plugin(namespace, "errorlogger")
    assert plugin is not None
    status = plugin["status"]
    assert (status["matched"], status["registered"], status["failed"]) == (1, 1, 0)
    (entry,) = status["clusters"]
    assert entry["name"] == "prod" and entry["state"] == "Registered"
    assert entry["schedulerAddress"] == dask.address and entry["schedulerId"]
    assert entry["workersOk"] == 2

    table = kube.kubectl("get", "workerplugins", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "TYPE", "SOURCE", "MATCHED", "REGISTERED", "READY",
                              "AGE"]
    assert row.split()[:6] == ["errorlogger", "worker", "errorlogger.plugins:ErrorLogger",
                               "1", "1", "True"]


def test_a_spec_change_replaces_the_plugin_on_every_worker(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    kube.apply(worker_plugin("recorder", namespace, recorder("first")))
    eventually("the first version is ready", lambda: is_ready(kube.plugin(namespace,
                                                                           "recorder")))

    kube.apply(worker_plugin("recorder", namespace, recorder("second")))
    eventually("the second version is ready",
               lambda: is_ready(kube.plugin(namespace, "recorder")))
    for worker in dask.workers:
        worker.wait_for_log(r"WorkerRecorder second setup", timeout=10)
        log = worker.log()
        assert log.index("WorkerRecorder first teardown") < log.index(
            "WorkerRecorder second setup")


def test_a_cluster_that_appears_later_gets_the_plugins_already_declared(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(worker_plugin("recorder", namespace, recorder("early",
                                                             {"matchLabels": {"a": "b"}})))
    plugin = eventually("the plugin reports that nothing matches", lambda: condition(
        kube.plugin(namespace, "recorder"), "Ready").get("reason") == "NoMatchingClusters")
    assert plugin

    kube.apply(dask_cluster("late", namespace, dask.address, {"a": "b"}))
    eventually("the plugin is ready on the new cluster",
               lambda: is_ready(kube.plugin(namespace, "recorder"), registered=1))
    for worker in dask.workers:
        worker.wait_for_log(r"WorkerRecorder early setup", timeout=10)


def test_a_selector_change_unregisters_the_plugin_from_clusters_no_longer_selected(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("blue", namespace, dask.address, {"colour": "blue"}))
    kube.apply(worker_plugin("recorder", namespace, recorder("x", {})))
    eventually("the plugin is ready", lambda: is_ready(kube.plugin(namespace, "recorder"),
                                                       registered=1))

    kube.apply(worker_plugin("recorder", namespace,
                             recorder("x", {"matchLabels": {"colour": "green"}})))
    for worker in dask.workers:
        worker.wait_for_log(r"WorkerRecorder x teardown", timeout=30)
    status = eventually("status shows no cluster", lambda: (
        (kube.plugin(namespace, "recorder") or {}).get("status", {}).get("matched") == 0
        and kube.plugin(namespace, "recorder")))
    assert status["status"]["clusters"] == []


def test_deleting_a_plugin_unregisters_it_everywhere_then_lets_it_go(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    kube.apply(worker_plugin("recorder", namespace, recorder("doomed")))
    eventually("the plugin is ready", lambda: is_ready(kube.plugin(namespace, "recorder")))
    finalizers = kube.plugin(namespace, "recorder")["metadata"]["finalizers"]  # type: ignore[index]
    assert finalizers == ["plugins.dask.org/finalizer"]

    kube.kubectl("delete", "workerplugin", "recorder", "-n", namespace, "--timeout=60s")
    assert kube.plugin(namespace, "recorder") is None
    for worker in dask.workers:
        assert worker.count(r"WorkerRecorder doomed teardown") == 1


def test_the_operator_never_writes_to_a_daskcluster(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    before = kube.cluster(namespace, "prod")
    kube.apply(worker_plugin("recorder", namespace, recorder("quiet")))
    eventually("the plugin is ready", lambda: is_ready(kube.plugin(namespace, "recorder")))
    kube.kubectl("delete", "workerplugin", "recorder", "-n", namespace, "--timeout=60s")

    after = kube.cluster(namespace, "prod")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert "finalizers" not in after["metadata"]


def test_a_plugin_deleted_while_its_scheduler_was_out_of_reach_is_removed_when_it_returns(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    kube.apply(worker_plugin("recorder", namespace, recorder("orphan")))
    eventually("the plugin is ready", lambda: is_ready(kube.plugin(namespace, "recorder")))

    # Without its address the cluster cannot be reached: the deletion goes through anyway.
    kube.kubectl("annotate", "daskcluster", "prod", "-n", namespace,
                 "plugins.dask.org/scheduler-address-")
    kube.kubectl("delete", "workerplugin", "recorder", "-n", namespace, "--timeout=60s")
    assert all(w.count(r"WorkerRecorder orphan teardown") == 0 for w in dask.workers)
    eventually("an Event says where the plugin may stay", lambda: any(
        e["reason"] == "SchedulerAddressUnknown" and "prod" in e["message"]
        for e in kube.events(namespace, "recorder")))

    kube.kubectl("annotate", "daskcluster", "prod", "-n", namespace,
                 f"plugins.dask.org/scheduler-address={dask.address}")
    for worker in dask.workers:
        worker.wait_for_log(r"WorkerRecorder orphan teardown", timeout=30)


def test_a_missing_module_registered_before_workers_join_ends_not_ready_once_one_joins(
    kube: Kube, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    with LocalDaskCluster(workers=0, log_dir=tmp_path / "late") as late:
        kube.apply(dask_cluster("late", namespace, late.address, {}))
        kube.apply(worker_plugin("missing", namespace, {
            "module": {"name": "no_such_module_anywhere:Plugin"},
        }))
        eventually("the plugin is ready on a cluster without workers",
                   lambda: is_ready(kube.plugin(namespace, "missing"), registered=1))

        late.add_worker()

        def not_ready() -> dict[str, Any] | None:
            found = condition(kube.plugin(namespace, "missing"), "Ready")
            return found if found.get("status") == "False" else None

        ready = eventually("the periodic check sees the failed setup", not_ready)
        assert ready["reason"] == "SetupFailed"
        assert "no_such_module_anywhere" in ready["message"]
        plugin = kube.plugin(namespace, "missing")
        assert plugin is not None
        (entry,) = plugin["status"]["clusters"]
        assert (entry["state"], entry["workersFailed"]) == ("Failed", 1)
        assert "ModuleNotFoundError" in entry["firstError"]


def test_two_clusters_sharing_one_scheduler_are_reported_and_left_alone(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("blue", namespace, dask.address, {"colour": "blue"}))
    kube.apply(dask_cluster("green", namespace, dask.address, {"colour": "green"}))
    kube.apply(worker_plugin("recorder", namespace,
                             recorder("shared", {"matchLabels": {"colour": "blue"}})))

    plugin = eventually("the plugin reports the shared scheduler", lambda: (
        (p := kube.plugin(namespace, "recorder"))
        and condition(p, "Ready").get("reason") == "RegistrationFailed" and p))
    (entry,) = plugin["status"]["clusters"]
    assert "also that of cluster(s)" in entry["message"] and f"{namespace}/green" in entry[
        "message"]
    assert all(w.count(r"WorkerRecorder shared setup") == 0 for w in dask.workers)


def test_a_mistyped_scheduler_address_can_be_corrected_in_place(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, "notanaddress", {}))
    kube.apply(worker_plugin("recorder", namespace, recorder("typo")))
    ready = eventually("the plugin reports the address unusable", lambda: (
        condition(kube.plugin(namespace, "recorder"), "Ready").get("reason")
        == "RegistrationFailed") and condition(kube.plugin(namespace, "recorder"), "Ready"))
    assert "'notanaddress' is not host:port" in ready["message"], ready

    kube.kubectl("annotate", "daskcluster", "prod", "-n", namespace, "--overwrite",
                 f"plugins.dask.org/scheduler-address={dask.address}")
    eventually("the plugin is ready", lambda: is_ready(kube.plugin(namespace, "recorder")))
    for worker in dask.workers:
        worker.wait_for_log(r"WorkerRecorder typo setup", timeout=10)
    assert "failed unexpectedly" not in operator.log()
