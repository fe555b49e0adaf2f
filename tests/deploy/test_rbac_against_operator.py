"""Every request the real operator makes is allowed by the chart's RBAC, in each mode.

The operator runs as a subprocess, with the very arguments the chart renders for that
mode, against the sandbox API emulator, next to a real Dask scheduler. The test applies a
DaskCluster and a WorkerPlugin, waits until the plugin is registered, deletes both, stops
the operator, and then hands everything the sandbox recorded to ``check_rbac_allows``
together with the rendered Roles, ClusterRoles and bindings.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any

import helmchart
import pytest
from rbac import Mode, attributes_of, check_rbac_allows
from sandboxed import (
    DASK_GROUP,
    DASK_PLURAL,
    DASK_VERSION,
    GROUP,
    NAMESPACE,
    PLURAL,
    VERSION,
    Api,
    api,
    dask_cluster,
    is_ready,
    operator_command,
    scheduler,
    stop,
    worker_plugin,
)

from e2e.harness import eventually

__all__ = ["api", "scheduler"]  # fixtures, used by name


def _peering_plural(mode: Mode) -> str:
    return "clusterkopfpeerings" if mode == "cluster-wide" else "kopfpeerings"


def not_by_this_test(request: dict[str, Any]) -> bool:
    """Whether the operator, not this test, made a recorded request.

    The sandbox does not record who asked, so the test's own calls are recognised by what
    they are: the deletions it makes and its polling of the plugin by name. The operator
    never deletes, and any GET of that plugin it made would be allowed in every mode.
    """
    attributes = attributes_of(request)
    own_paths = {
        f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}/errorlogger",
        f"/apis/{DASK_GROUP}/{DASK_VERSION}/namespaces/{NAMESPACE}/{DASK_PLURAL}/prod",
    }
    return not (attributes.path in own_paths and attributes.verb in ("get", "delete"))


@pytest.mark.e2e
@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("mode", "values"),
    [
        ("cluster-wide", {}),
        ("cluster-wide", {"ha": {"enabled": True}}),
        ("namespaced", {"watchNamespaces": [NAMESPACE]}),
        ("namespaced", {"watchNamespaces": [NAMESPACE], "ha": {"enabled": True}}),
    ],
    ids=["cluster-wide", "cluster-wide-ha", "namespaced", "namespaced-ha"],
)
def test_every_request_of_the_operator_is_allowed_by_the_chart(
    helm: Path, api: Api, scheduler: str, tmp_path: Path, mode: Mode,
    values: dict[str, Any],
) -> None:
    manifests = helmchart.render(helm, values)
    api.core.create_namespace({"metadata": {"name": NAMESPACE}})
    api.install_peering(manifests)
    api.objects.create_namespaced_custom_object(
        DASK_GROUP, DASK_VERSION, NAMESPACE, DASK_PLURAL, dask_cluster(scheduler))
    api.objects.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, worker_plugin())
    before = max((request["id"] for request in api.requests()), default=0)

    # The operator's whole life: start, register, unregister on deletion, stop. With HA,
    # every process the chart deploys runs, the standbys included.
    log_path = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(api.kubeconfig)}
    with log_path.open("wb") as log, contextlib.ExitStack() as processes:
        for deployment in helmchart.of_kind(manifests, "Deployment"):
            process = subprocess.Popen(operator_command(deployment), env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
            processes.callback(stop, process)
        eventually("the plugin is Ready", lambda: is_ready(api.plugin()))
        api.objects.delete_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, "errorlogger")
        eventually("the operator releases the plugin", lambda: api.plugin() is None)
        api.objects.delete_namespaced_custom_object(
            DASK_GROUP, DASK_VERSION, NAMESPACE, DASK_PLURAL, "prod")
    recorded = [r for r in api.requests() if r["id"] > before and not_by_this_test(r)]

    # The check must have had something to judge: the operator's watches and its writes.
    seen = {(a.verb, a.resource, a.subresource) for a in map(attributes_of, recorded)}
    expected = {("watch", "workerplugins", ""), ("patch", "workerplugins", "status")}
    if values.get("ha"):
        expected.add(("patch", _peering_plural(mode), ""))
    assert expected <= seen, (
        f"The operator made too few requests to judge; its log:\n{log_path.read_text()}")

    denials = check_rbac_allows(recorded, manifests, mode)
    assert not denials, "The chart's RBAC would refuse:\n" + "\n".join(
        sorted({str(denial) for denial in denials}))
