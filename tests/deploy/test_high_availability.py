"""The chart's HA layout works: distinct priorities, one active process, a standby that
takes over.

Both processes run with the command lines the chart renders for HA, against the sandbox
API emulator and a real Dask scheduler, meeting in the peering object the chart creates.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any

import helmchart
import pytest
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


def peers(api: Api, values: dict[str, Any]) -> dict[str, Any]:
    """The keep-alive records in the peering object, by process identity."""
    name = "dask-plugin-operator"
    if values.get("watchNamespaces"):
        found = api.objects.get_namespaced_custom_object(
            "kopf.dev", "v1", NAMESPACE, "kopfpeerings", name)
    else:
        found = api.objects.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings",
                                                      name)
    records: dict[str, Any] = found.get("status") or {}
    return records


def handled(api: Api, generation: int) -> bool:
    plugin = api.plugin()
    observed = ((plugin or {}).get("status") or {}).get("observedGeneration")
    return is_ready(plugin) and observed == generation


@pytest.mark.e2e
@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "values",
    [{"ha": {"enabled": True}},
     {"ha": {"enabled": True}, "watchNamespaces": [NAMESPACE]}],
    ids=["cluster-wide", "namespaced"],
)
def test_a_standby_process_takes_over_when_the_active_one_stops(
    helm: Path, api: Api, scheduler: str, tmp_path: Path, values: dict[str, Any],
) -> None:
    manifests = helmchart.render(helm, values)
    api.core.create_namespace({"metadata": {"name": NAMESPACE}})
    api.install_peering(manifests)
    api.objects.create_namespaced_custom_object(
        DASK_GROUP, DASK_VERSION, NAMESPACE, DASK_PLURAL, dask_cluster(scheduler))
    api.objects.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, worker_plugin())
    env = {**os.environ, "KUBECONFIG": str(api.kubeconfig)}

    logs = [tmp_path / "active.log", tmp_path / "standby.log"]
    leader, follower = (operator_command(d) for d in helmchart.of_kind(manifests, "Deployment"))

    with contextlib.ExitStack() as stack:
        def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
            output = stack.enter_context(log.open("wb"))
            process = subprocess.Popen(command, env=env, stdout=output,
                                       stderr=subprocess.STDOUT)
            stack.callback(stop, process)
            return process

        # The chart renders the processes highest priority first. The leader starts first,
        # as pods rarely start at the same instant: a standby that starts alone would act
        # until it sees the leader's first keep-alive.
        active = start(leader, logs[0])
        eventually("the leader keeps the peering alive", lambda: len(peers(api, values)) == 1)
        standby = start(follower, logs[1])
        eventually("the plugin is registered", lambda: handled(api, 1))

        # Both processes are in the peering object, each with its own priority, and only
        # the leader has resumed from the pause every process starts in.
        eventually("both processes keep the peering alive", lambda: len(peers(api, values)) == 2)
        priorities = sorted(record["priority"] for record in peers(api, values).values())
        assert priorities == [99, 100]
        assert "Resuming operations" in logs[0].read_text()
        assert "Resuming operations" not in logs[1].read_text()

        # Stopped the way Kubernetes stops a pod, the leader leaves the peering object; the
        # standby resumes and handles the next change of the plugin.
        stop(active)
        api.objects.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, "errorlogger",
            {"spec": {"module": {"kwargs": {"logger": "distributed.worker.audit"}}}})
        eventually("the standby handles generation 2", lambda: handled(api, 2))
        assert standby.poll() is None
