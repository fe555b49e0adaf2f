"""Schedulers that restart or stop answering: plugins come back, nothing else waits.

The scheduler restarts for real (a new process on the same port, new workers), and the
operator is left alone: whatever comes back comes back without anyone acting.
"""

from __future__ import annotations

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster
from e2e.harness import Kube, dask_cluster, eventually, is_ready, worker_plugin

from .conftest import StartDask, StartOperator
from .observe import (
    PERIODIC_CHECK,
    cluster_entry,
    lines,
    stamp,
    wait_for_periodic_checks,
    wait_for_state,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def recorder(tag: str, kind: str = "WorkerRecorder") -> dict[str, object]:
    return {"module": {"name": f"dpo_test_plugins:{kind}", "kwargs": {"tag": tag}},
            **({"type": "scheduler"} if kind == "SchedulerRecorder" else {})}


def test_a_restarted_scheduler_gets_every_plugin_back_before_any_periodic_check(
    kube: Kube, namespace: str, start_operator: StartOperator, dask: LocalDaskCluster
) -> None:
    # No periodic check within the test: only the sentinel can notice the restart.
    operator = start_operator([namespace], "--check-interval", "600")
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    kube.apply(worker_plugin("on-workers", namespace, recorder("w")),
               worker_plugin("on-scheduler", namespace, recorder("s", "SchedulerRecorder")))
    for name in ("on-workers", "on-scheduler"):
        eventually(f"{name} is ready", lambda n=name: is_ready(kube.plugin(namespace, n)))
    first_id = kube.plugin(namespace, "on-workers")["status"]["clusters"][0]["schedulerId"]

    dask.restart_scheduler()
    for worker in dask.workers:
        worker.wait_for_log(r"WorkerRecorder w setup on", timeout=30)
    dask.scheduler.wait_for_log(r"SchedulerRecorder s start", timeout=30)
    entry = eventually("status names the new scheduler", lambda: (
        e := cluster_entry(kube.plugin(namespace, "on-workers"), "prod")
    ).get("state") == "Registered" and e["schedulerId"] != first_id and e)
    assert entry["schedulerAddress"] == dask.address
    eventually("the scheduler plugin is ready again",
               lambda: is_ready(kube.plugin(namespace, "on-scheduler")))
    assert not lines(operator.log(), PERIODIC_CHECK)

    # A figure, not a check: how long the new scheduler ran without the plugins.
    started = stamp(lines(dask.scheduler.log(), r"Scheduler at:")[-1])
    registered = stamp(lines(operator.log(), r"on cluster .*/prod: Registered \(new\)")[-1])
    print(f"Plugins back {(registered - started).total_seconds():.2f} s after the new "
          "scheduler started.")


def test_an_unreachable_scheduler_is_retried_with_backoff_and_holds_up_no_other_cluster(
    kube: Kube, namespace: str, start_operator: StartOperator, start_dask: StartDask
) -> None:
    operator = start_operator([namespace], "--rpc-timeout", "1")
    up, down = start_dask(workers=1), start_dask(workers=1)
    down.stop()
    kube.apply(dask_cluster("up", namespace, up.address, {}),
               dask_cluster("down", namespace, down.address, {}))
    kube.apply(worker_plugin("recorder", namespace, recorder("a")))

    entry = wait_for_state(kube, namespace, "recorder", "down", "Unreachable")
    assert down.address in entry["message"]
    wait_for_state(kube, namespace, "recorder", "up", "Registered")
    plugin = kube.plugin(namespace, "recorder")
    assert plugin["status"]["conditions"][0]["reason"] == "SchedulerUnreachable"

    # While the one scheduler stays away, the other cluster is served at once.
    kube.apply(worker_plugin("second", namespace, recorder("b")))
    wait_for_state(kube, namespace, "second", "up", "Registered")
    up.workers[0].wait_for_log(r"WorkerRecorder b setup on", timeout=10)

    # Backoff: a few attempts per periodic check, not a hot loop.
    before = len(lines(operator.log(), r"Cluster .*/down is unreachable"))
    wait_for_periodic_checks(operator, 3)
    attempts = len(lines(operator.log(), r"Cluster .*/down is unreachable")) - before
    assert 1 <= attempts <= 9, f"{attempts} attempts over 3 periodic checks"
    assert len([e for e in kube.events(namespace, "recorder")
                if e["reason"] == "SchedulerUnreachable"]) == 1

    # The scheduler comes back: the plugins follow with nobody acting.
    down.restart_scheduler()
    down.add_worker()
    for name in ("recorder", "second"):
        eventually(f"{name} is ready everywhere",
                   lambda n=name: is_ready(kube.plugin(namespace, n), registered=2))
    down.workers[0].wait_for_log(r"WorkerRecorder a setup on", timeout=10)
    down.workers[0].wait_for_log(r"WorkerRecorder b setup on", timeout=10)
    assert up.workers[0].count(r"WorkerRecorder a setup on") == 1
