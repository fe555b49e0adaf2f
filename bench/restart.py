"""Restart to recovered: a scheduler restarts on the same port; when are its plugins back?

A cluster with five registered WorkerPlugins has its scheduler stopped and started again
(no workers, so only the scheduler's own state counts). The operator runs with the
periodic check at its default of 30 s, so a quick recovery is the sentinel's doing. The
clock starts when the new scheduler first answers; it stops when the scheduler holds
the operator's records of all five plugins again.

Baseline, timed in the same run on a second scheduler the operator does not know: the
same five registrations sent by raw RPC, one after another, the moment it answers.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.payload import build_payload
from dask_plugin_operator.scheduler import SchedulerClient, SchedulerUnreachable
from dask_plugin_operator.spec import parse_spec, plugin_name

from .api import Api, mark_spec
from .daskfleet import local_clusters, wait_for_records
from .figures import Report
from .processes import OperatorProcess, SandboxProcess

PLUGINS = 5
CHECK_INTERVAL = 30.0  # the operator's default; not passed, only reported


def run(runs: int, quick: bool) -> Report:
    report = Report("restart", {"runs": runs, "plugins": PLUGINS,
                                "check_interval": CHECK_INTERVAL})
    workdir = Path(tempfile.mkdtemp(prefix="dpo-bench-restart-"))
    marks = workdir / "marks"
    namespace = "restart"
    names = [f"mark-{index}" for index in range(PLUGINS)]

    sandbox = SandboxProcess(workdir)
    try:
        with local_clusters(2, workdir, workers=0) as (managed, spare):
            api = Api(sandbox.kubeconfig)
            api.create_namespace(namespace)
            api.create_cluster(namespace, "managed", managed.address)
            for name in names:
                api.create_plugin(namespace, name, mark_spec(marks, name))
            operator = OperatorProcess(sandbox, [namespace], workdir / "operator.log")
            try:
                records = [plugin_name(namespace, name) for name in names]
                asyncio.run(_wait_for_all_records(managed.address, records))
                for _ in range(runs):
                    report.series_of("operator").add(_recovery(managed, records))
                    report.series_of("floor").add(_floor(spare, marks, names))
            finally:
                operator.stop()
                api.close()
    finally:
        sandbox.stop()

    report.ratio("operator/floor", "operator", "floor")
    expected = report.series_of("periodic check alone (expected)")
    expected.add(CHECK_INTERVAL / 2)
    report.ratio("periodic check alone/operator", "periodic check alone (expected)",
                 "operator")
    report.notes.append("'periodic check alone' is not timed: a restart lands at a random "
                        "point of the 30 s interval, so 15 s on average.")
    report.notes.append(f"logs in {workdir}")
    return report


def _recovery(cluster: LocalDaskCluster, records: Sequence[str]) -> float:
    answered = _restart(cluster)
    asyncio.run(_wait_for_all_records(cluster.address, records))
    return time.time() - answered


def _floor(cluster: LocalDaskCluster, marks: Path, names: Sequence[str]) -> float:
    payloads = [(name, build_payload(name, parse_spec(mark_spec(marks, name))))
                for name in names]
    answered = _restart(cluster)

    async def register_all() -> None:
        client = SchedulerClient(cluster.address)
        try:
            for name, payload in payloads:
                await client.register("worker", name, payload)
        finally:
            await client.close()

    asyncio.run(register_all())
    return time.time() - answered


def _restart(cluster: LocalDaskCluster) -> float:
    """Restart the scheduler; the time its successor first answered."""
    before = asyncio.run(_scheduler_id(cluster.address))
    restarting = threading.Thread(target=cluster.restart_scheduler, kwargs={"workers": False})
    restarting.start()
    try:
        return asyncio.run(_first_answer(cluster.address, before))
    finally:
        restarting.join()


async def _scheduler_id(address: str) -> str | None:
    client = SchedulerClient(address, timeout=1)
    try:
        return (await client.identity()).id
    except SchedulerUnreachable:
        return None
    finally:
        await client.close()


async def _first_answer(address: str, before: str | None, timeout: float = 60) -> float:
    """The moment a new scheduler first takes a connection at ``address``.

    Each look is a single TCP connection attempt, 10 ms apart, so the moment is not
    blurred by the growing pauses between the retries of a Dask connect.
    """
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            await asyncio.sleep(0.01)
            continue
        accepted = time.time()
        writer.close()
        now = await _scheduler_id(address)
        if now is not None and now != before:
            return accepted
        await asyncio.sleep(0.01)
    raise TimeoutError(f"No new scheduler answered at {address} within {timeout} s.")


async def _wait_for_all_records(address: str, names: Sequence[str]) -> None:
    for name in names:
        await wait_for_records([address], name, timeout=120)
