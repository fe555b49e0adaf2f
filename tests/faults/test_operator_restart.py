"""The operator killed with SIGKILL at any moment, then started again, converges.

Whatever was registered and unchanged stays as it is: its setup runs exactly once per
worker across the restart. What changed while the operator was away is caught up on.
"""

from __future__ import annotations

import random
import time

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.sandbox import SandboxThread
from e2e.harness import Kube, OperatorProcess, dask_cluster, eventually, is_ready, worker_plugin

from .observe import wait_for_periodic_checks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


def recorder(tag: str) -> dict[str, object]:
    return {"module": {"name": "dpo_test_plugins:WorkerRecorder", "kwargs": {"tag": tag}}}


def slow(tag: str, seconds: float) -> dict[str, object]:
    return {"module": {"name": "dpo_fault_plugins:SlowSetupRecorder",
                       "kwargs": {"tag": tag, "seconds": seconds}}}


def wait_until_watching(operator: OperatorProcess, starts: int) -> None:
    """Wait until the operator, started ``starts`` times into one log, watches plugins."""
    eventually("the operator watches plugins", lambda: operator.log().count(
        "Starting the watch-stream for workerplugins") >= starts)


def test_an_operator_killed_and_started_again_registers_only_what_is_missing(
    kube: Kube, sandbox: SandboxThread, namespace: str, operator: OperatorProcess,
    dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    kube.apply(worker_plugin("a-kept", namespace, recorder("kept")),
               worker_plugin("b-doomed", namespace, recorder("doomed")))
    for name in ("a-kept", "b-doomed"):
        eventually(f"{name} is ready", lambda n=name: is_ready(kube.plugin(namespace, n)))

    # While the operator is away: one plugin is deleted, one added.
    operator.kill()
    kube.kubectl("delete", "workerplugin", "b-doomed", "-n", namespace, "--wait=false")
    kube.apply(worker_plugin("c-added", namespace, recorder("added")))
    # Back, it first lists DaskClusters late: the deletion must wait until it knows them.
    late = sandbox.sandbox.add_fault(f"/namespaces/{namespace}/daskclusters$", 503,
                                     method="GET", count=2)
    operator.start()

    eventually("the new plugin is ready", lambda: is_ready(kube.plugin(namespace, "c-added")))
    eventually("the deleted plugin is gone", lambda: kube.plugin(namespace, "b-doomed") is None)
    wait_for_periodic_checks(operator, 2)
    assert is_ready(kube.plugin(namespace, "a-kept"), registered=1)
    for worker in dask.workers:
        assert worker.count(r"WorkerRecorder kept setup on") == 1
        assert worker.count(r"WorkerRecorder kept teardown on") == 0
        assert worker.count(r"WorkerRecorder doomed teardown on") == 1
        assert worker.count(r"WorkerRecorder added setup on") == 1
    assert late.hits == 2


def test_an_operator_killed_mid_registration_converges_without_duplicates(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    kube.apply(worker_plugin("a-kept", namespace, recorder("kept")))
    eventually("the first plugin is ready", lambda: is_ready(kube.plugin(namespace, "a-kept")))

    # Kill the operator while the scheduler waits for the workers' setup of a slow plugin.
    kube.apply(worker_plugin("b-slow", namespace, slow("slow", 3)))
    for worker in dask.workers:
        worker.wait_for_log(r"SlowSetupRecorder slow setup began on", timeout=30)
    operator.kill()
    operator.start()

    eventually("the slow plugin is ready", lambda: is_ready(kube.plugin(namespace, "b-slow")),
               timeout=90)
    wait_for_periodic_checks(operator, 2)
    for worker in dask.workers:
        began = worker.count(r"SlowSetupRecorder slow setup began on")
        # Registered again at most once, and never twice side by side: each setup but
        # the last was torn down, so each worker holds exactly one instance.
        assert began in (1, 2)
        assert worker.count(r"SlowSetupRecorder slow teardown on") == began - 1
        assert worker.count(r"WorkerRecorder kept setup on") == 1
    assert is_ready(kube.plugin(namespace, "a-kept"), registered=1)


def test_an_operator_killed_at_random_moments_leaves_one_instance_of_each_plugin(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    names = ["p1", "p2", "p3"]
    moments = random.Random(20261203)  # fixed seed: a failure can be replayed
    versions = 3

    # Each round changes every plugin, then kills the operator somewhere in the work
    # that follows: before the pass, mid-registration, or while status is written.
    for version in range(versions):
        wait_until_watching(operator, starts=version + 1)
        kube.apply(*(worker_plugin(name, namespace, recorder(f"{name}-v{version}"))
                     for name in names))
        time.sleep(moments.uniform(0.0, 0.6))
        operator.kill()
        operator.start()

    for name in names:
        eventually(f"{name} is ready", lambda n=name: is_ready(kube.plugin(namespace, n)))
    wait_for_periodic_checks(operator, 2)
    for worker in dask.workers:
        for name in names:
            live = [worker.count(rf"WorkerRecorder {name}-v{v} setup on")
                    - worker.count(rf"WorkerRecorder {name}-v{v} teardown on")
                    for v in range(versions)]
            assert live == [0] * (versions - 1) + [1], (name, live)
