"""The ErrorLogger example, registered as the operator does, logs a failing task."""

from __future__ import annotations

import pytest
from distributed import Client

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.payload import build_payload
from dask_plugin_operator.scheduler import SchedulerClient
from dask_plugin_operator.selection import LabelSelector
from dask_plugin_operator.spec import ModuleSource, PluginSpec

pytestmark = pytest.mark.timeout(120)


async def test_errorlogger_logs_the_key_and_exception_of_a_failed_task(
    own_cluster: LocalDaskCluster,
) -> None:
    source = ModuleSource("errorlogger.plugins", "ErrorLogger", kwargs={"logger": "demo.errors"})
    spec = PluginSpec(kind="worker", selector=LabelSelector(), priority=0, source=source)
    scheduler = SchedulerClient(own_cluster.address)
    await scheduler.register("worker", "errorlogger", build_payload("errorlogger", spec))

    async with Client(own_cluster.address, asynchronous=True) as client:
        # A builtin as the task, so the scheduler need not import this test module.
        future = client.submit(int, "the answer was not 42", key="doomed-task")
        with pytest.raises(ValueError):
            await future

    worker = own_cluster.workers[0]
    line = worker.wait_for_log(r"Task doomed-task failed on worker .*")
    assert "the answer was not 42" in line
    await scheduler.close()
