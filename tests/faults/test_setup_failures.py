"""Plugins that workers cannot run: reported per cluster, never retried in a loop.

The workers fail for real: a setup that raises on some of them, a module that is not
installed there, a setup that never finishes in time, a nanny plugin without nannies.
"""

from __future__ import annotations

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster
from e2e.harness import Kube, OperatorProcess, dask_cluster, eventually, is_ready, worker_plugin

from .conftest import StartDask, StartOperator
from .observe import events_about, wait_for_periodic_checks, wait_for_reason, wait_for_state

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


def module(reference: str, type_: str = "worker", **kwargs: object) -> dict[str, object]:
    return {"type": type_, "module": {"name": reference, "kwargs": kwargs}}


def test_setup_failures_are_reported_per_cluster_and_not_retried(
    kube: Kube, namespace: str, operator: OperatorProcess, dask: LocalDaskCluster
) -> None:
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    failing_on = dask.workers[0].name  # the --name it was started with
    kube.apply(
        worker_plugin("a-fine", namespace, module("dpo_test_plugins:WorkerRecorder",
                                                  tag="fine")),
        worker_plugin("b-partial", namespace, module("dpo_fault_plugins:FailingOnSome",
                                                     tag="partial", failing=[failing_on])),
        worker_plugin("c-missing", namespace, module("no_such_package.plugins:Missing")),
    )

    partial = wait_for_state(kube, namespace, "b-partial", "prod", "Failed")
    assert (partial["workersOk"], partial["workersFailed"]) == (1, 1)
    assert f"worker {failing_on} cannot run partial on purpose" in partial["firstError"]
    missing = wait_for_state(kube, namespace, "c-missing", "prod", "Failed")
    assert (missing["workersOk"], missing["workersFailed"]) == (0, 2)
    assert "No module named 'no_such_package'" in missing["firstError"]
    for name, text in (("b-partial", "cannot run partial"), ("c-missing", "no_such_package")):
        plugin = wait_for_reason(kube, namespace, name, "SetupFailed")
        assert plugin["status"]["failed"] == 1
        messages = events_about(kube, namespace, name, "SetupFailed")
        assert len(messages) == 1 and text in messages[0]
    assert is_ready(kube.plugin(namespace, "a-fine"))

    # Nothing is sent again while nothing changes, and every worker still runs.
    wait_for_periodic_checks(operator, 3)
    for worker in dask.workers:
        assert worker.running
        assert worker.count(r"FailingOnSome partial setup on") == 1
        assert worker.count(r"WorkerRecorder fine setup on") == 1
    assert operator.log().count("b-partial on cluster") == 1
    assert operator.log().count("c-missing on cluster") == 1

    # The plugin stays registered for the workers that can run it, new ones included.
    latecomer = dask.add_worker(nanny=False)
    latecomer.wait_for_log(r"FailingOnSome partial setup on", timeout=30)
    latecomer.wait_for_log(r"WorkerRecorder fine setup on", timeout=30)
    assert "cannot run partial" not in latecomer.log()


def test_a_nanny_plugin_is_not_applied_where_workers_run_without_a_nanny(
    kube: Kube, namespace: str, operator: OperatorProcess, start_dask: StartDask
) -> None:
    bare = start_dask(workers=1, nanny=False)
    kube.apply(dask_cluster("bare", namespace, bare.address, {}))
    kube.apply(worker_plugin("nanny", namespace,
                             module("dpo_test_plugins:NannyRecorder", "nanny", tag="n")))

    entry = wait_for_state(kube, namespace, "nanny", "bare", "NotApplied")
    assert "no worker of this cluster runs under a nanny" in entry["message"]
    plugin = wait_for_reason(kube, namespace, "nanny", "NotApplied")
    assert plugin["status"]["registered"] == 0
    assert len(events_about(kube, namespace, "nanny", "NotApplied")) == 1


def test_a_worker_stuck_in_setup_cannot_hang_the_operator(
    kube: Kube, namespace: str, start_operator: StartOperator, dask: LocalDaskCluster
) -> None:
    # Registration waits 6 times the RPC timeout for the workers: 3 s here, less than
    # the setup takes.
    operator = start_operator([namespace], "--rpc-timeout", "0.5")
    kube.apply(dask_cluster("prod", namespace, dask.address, {}))
    kube.apply(worker_plugin("stuck", namespace, module(
        "dpo_fault_plugins:SlowSetupRecorder", tag="stuck", seconds=20)))

    entry = wait_for_state(kube, namespace, "stuck", "prod", "Failed")
    assert "setup did not finish within 3 s" in entry["message"]
    wait_for_reason(kube, namespace, "stuck", "SetupFailed")
    assert len(events_about(kube, namespace, "stuck", "SetupFailed")) == 1

    # The operator goes on serving, and sends the stuck plugin no second time.
    kube.apply(worker_plugin("then", namespace,
                           module("dpo_test_plugins:WorkerRecorder", tag="then")))
    eventually("the next plugin is ready", lambda: is_ready(kube.plugin(namespace, "then")))
    wait_for_periodic_checks(operator, 3)
    for worker in dask.workers:
        assert worker.count(r"SlowSetupRecorder stuck setup began on") == 1
    assert wait_for_state(kube, namespace, "stuck", "prod", "Failed") == entry
