"""Tenancy: a namespaced WorkerPlugin never reaches a DaskCluster in another namespace.

Both namespaces hold a DaskCluster of the same name and labels, each with a scheduler of
its own, and the plugins' selectors would match either. The operator watches the two
namespaces by name, then every namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from e2e.harness import Kube, dask_cluster, eventually, is_ready, worker_plugin

from .conftest import StartDask, StartOperator
from .observe import wait_for_periodic_checks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


@pytest.fixture
def other_namespace(kube: Kube) -> Iterator[str]:
    name = kube.create_namespace()
    yield name
    kube.delete_namespace(name)


def recorder(tag: str, selector: dict[str, object]) -> dict[str, object]:
    return {"clusterSelector": selector,
            "module": {"name": "dpo_test_plugins:WorkerRecorder", "kwargs": {"tag": tag}}}


def test_a_plugin_never_reaches_a_cluster_in_another_namespace(
    kube: Kube, namespace: str, other_namespace: str, start_operator: StartOperator,
    start_dask: StartDask
) -> None:
    ours, theirs = namespace, other_namespace
    dask = {ours: start_dask(workers=1), theirs: start_dask(workers=1)}
    for where in (ours, theirs):
        kube.apply(dask_cluster("shared-name", where, dask[where].address, {"team": "a"}))
    kube.apply(worker_plugin("by-label", ours, recorder("by-label", {
                   "matchLabels": {"team": "a"},
                   "matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]})),
               worker_plugin("everything", ours, recorder("everything", {})),
               worker_plugin("their-own", theirs, recorder("their-own", {})))

    # First an operator of the two namespaces, then one of every namespace in its place.
    for scope in ([ours, theirs], []):
        operator = start_operator(scope)
        for where, name in ((ours, "by-label"), (ours, "everything"), (theirs, "their-own")):
            plugin = eventually(f"{where}/{name} is ready", lambda w=where, n=name: is_ready(
                p := kube.plugin(w, n), registered=1) and p)
            (entry,) = plugin["status"]["clusters"]
            assert entry["schedulerAddress"] == dask[where].address
        wait_for_periodic_checks(operator, 2)
        operator.stop()

    (our_worker,), (their_worker,) = dask[ours].workers, dask[theirs].workers
    assert "WorkerRecorder their-own" not in our_worker.log()
    assert "WorkerRecorder everything" not in their_worker.log()
    assert "WorkerRecorder by-label" not in their_worker.log()
    for tag in ("everything", "by-label"):
        assert our_worker.count(rf"WorkerRecorder {tag} setup on") == 1
    assert their_worker.count(r"WorkerRecorder their-own setup on") == 1
