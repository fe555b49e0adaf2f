"""Deletions that meet trouble: a plugin whose scheduler is gone, a DaskCluster deleted."""

from __future__ import annotations

import threading
from typing import Any

import kubernetes
import pytest

from dask_plugin_operator.localdask import LocalDaskCluster
from e2e.harness import (
    GROUP,
    PLURAL,
    VERSION,
    Kube,
    dask_cluster,
    eventually,
    is_ready,
    worker_plugin,
)

from .conftest import StartDask, StartOperator
from .observe import cluster_entry, events_about, lines, wait_for_reason, wait_for_state

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def recorder(tag: str, **more: Any) -> dict[str, Any]:
    return {"module": {"name": "dpo_test_plugins:WorkerRecorder", "kwargs": {"tag": tag}},
            **more}


class LastWords:
    """Every version of one WorkerPlugin until it is deleted, seen through a watch."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self.seen: list[dict[str, Any]] = []
        self._watch = kubernetes.watch.Watch()
        self._thread = threading.Thread(target=self._follow, args=(kube, namespace, name),
                                        daemon=True)
        self._thread.start()

    def _follow(self, kube: Kube, namespace: str, name: str) -> None:
        for event in self._watch.stream(
            kube.objects.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL,
            field_selector=f"metadata.name={name}", timeout_seconds=60,
        ):
            self.seen.append(event["object"])
            if event["type"] == "DELETED":
                self._watch.stop()

    def final(self) -> dict[str, Any]:
        self._thread.join(timeout=60)
        return self.seen[-1]


def register_recorder(kube: Kube, namespace: str, start_operator: StartOperator,
                      dask: LocalDaskCluster) -> None:
    """An operator quick to give up on schedulers, and a plugin registered on prod."""
    start_operator([namespace], "--rpc-timeout", "1", "--deletion-timeout", "3")
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    kube.apply(worker_plugin("recorder", namespace, recorder("stranded")))
    eventually("the plugin is ready", lambda: is_ready(kube.plugin(namespace, "recorder")))


def test_deleting_a_plugin_whose_scheduler_is_gone_ends_after_the_deletion_timeout(
    kube: Kube, namespace: str, start_operator: StartOperator, dask: LocalDaskCluster
) -> None:
    register_recorder(kube, namespace, start_operator, dask)
    dask.stop()
    wait_for_state(kube, namespace, "recorder", "prod", "Unreachable")

    last = LastWords(kube, namespace, "recorder")
    kube.kubectl("delete", "workerplugin", "recorder", "-n", namespace, "--timeout=30s")

    assert kube.plugin(namespace, "recorder") is None
    entry = cluster_entry(last.final(), "prod")
    assert entry["state"] == "Unreachable"
    assert "did not answer within 3 s" in entry["message"], entry
    (event,) = eventually("an Event says where the plugin stays",
                          lambda: events_about(kube, namespace, "recorder", "DeletionTimedOut"))
    assert "cluster prod did not answer within 3 s" in event, event


def test_a_deleted_daskcluster_is_dropped_from_every_plugin_status(
    kube: Kube, namespace: str, start_operator: StartOperator, start_dask: StartDask
) -> None:
    start_operator([namespace], "--rpc-timeout", "1")
    dask, gone = start_dask(workers=1), start_dask(workers=0)
    gone.stop()
    kube.apply(dask_cluster("prod", namespace, dask.address, {}),
               dask_cluster("gone", namespace, gone.address, {}))
    kube.apply(worker_plugin("first", namespace, recorder("1")),
               worker_plugin("second", namespace, recorder("2")))
    for name in ("first", "second"):
        wait_for_state(kube, namespace, name, "gone", "Unreachable")

    kube.kubectl("delete", "daskcluster", "gone", "-n", namespace)

    for name in ("first", "second"):
        plugin = eventually(f"{name} is ready without the deleted cluster",
                            lambda n=name: is_ready(kube.plugin(namespace, n), registered=1)
                            and kube.plugin(namespace, n))
        assert [entry["name"] for entry in plugin["status"]["clusters"]] == ["prod"]
        assert plugin["status"]["matched"] == 1


def test_deleting_a_plugin_that_was_never_valid_waits_for_no_scheduler(
    kube: Kube, namespace: str, start_operator: StartOperator, start_dask: StartDask
) -> None:
    operator = start_operator([namespace], "--rpc-timeout", "1", "--deletion-timeout", "60")
    gone = start_dask(workers=0)
    gone.stop()
    kube.apply(dask_cluster("gone", namespace, gone.address, {}))
    kube.apply(worker_plugin("broken", namespace, {"environ": {"1ST": "a"}}))
    wait_for_reason(kube, namespace, "broken", "Invalid")

    # Well within the deletion timeout: nothing was ever registered to wait for.
    kube.kubectl("delete", "workerplugin", "broken", "-n", namespace, "--timeout=20s")

    assert kube.plugin(namespace, "broken") is None
    assert events_about(kube, namespace, "broken", "DeletionTimedOut") == []
    # The deletion bumped the generation (as a real API server does): no news to report.
    invalid = lines(operator.log(), rf"WARNING.*Plugin {namespace}/broken \(generation")
    assert len(invalid) == 1, invalid


def test_deleting_a_plugin_made_invalid_still_waits_for_where_it_was_registered(
    kube: Kube, namespace: str, start_operator: StartOperator, dask: LocalDaskCluster
) -> None:
    register_recorder(kube, namespace, start_operator, dask)
    kube.apply(worker_plugin("recorder", namespace, {"environ": {"1ST": "a"}}))
    wait_for_reason(kube, namespace, "recorder", "Invalid")
    dask.stop()

    kube.kubectl("delete", "workerplugin", "recorder", "-n", namespace, "--timeout=30s")

    (event,) = eventually("an Event says where the plugin stays",
                          lambda: events_about(kube, namespace, "recorder", "DeletionTimedOut"))
    assert "cluster prod did not answer within 3 s" in event, event
