"""SchedulerClient, on the operator's Python, against schedulers and workers of other
Python and distributed versions: registration, replacement, removal, restart recovery."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from venvs import DaskEnvironment

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.payload import build_payload, content_hash, registration_kind
from dask_plugin_operator.scheduler import PluginRecord, RegistrationResult, SchedulerClient
from dask_plugin_operator.selection import LabelSelector
from dask_plugin_operator.spec import EnvironSource, ModuleSource, PluginKind, PluginSpec

pytestmark = [pytest.mark.compat, pytest.mark.timeout(300)]


def module(reference: str, kind: PluginKind = "worker", **kwargs: Any) -> PluginSpec:
    module_name, class_name = reference.split(":")
    source = ModuleSource(module_name, class_name, kwargs=kwargs)
    return PluginSpec(kind=kind, selector=LabelSelector(), priority=0, source=source)


async def register(client: SchedulerClient, name: str, spec: PluginSpec) -> RegistrationResult:
    return await client.register(registration_kind(spec), name, build_payload(name, spec))


def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def client(compat_cluster: LocalDaskCluster) -> AsyncIterator[SchedulerClient]:
    scheduler = SchedulerClient(compat_cluster.address, timeout=30)
    yield scheduler
    await scheduler.close()


def workers_of(cluster: LocalDaskCluster) -> tuple[str, ...]:
    return tuple(sorted(worker.address for worker in cluster.workers))


async def test_identity_reports_the_clusters_versions(
    dask_environment: DaskEnvironment, compat_cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    identity = await client.identity()

    assert identity.distributed == dask_environment.distributed_version
    assert (identity.python or "").startswith(dask_environment.python_version + ".")
    assert (identity.workers, identity.nannies) == (2, 2)


async def test_worker_plugin_is_registered_replaced_and_unregistered(
    compat_cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    old, new = tag(), tag()

    registered = await register(
        client, "recorder", module("dpo_test_plugins:WorkerRecorder", tag=old)
    )
    replaced = await register(
        client, "recorder", module("dpo_test_plugins:WorkerRecorder", tag=new)
    )
    removed = await client.unregister("worker", "recorder")

    assert registered.ok == replaced.ok == removed.ok == workers_of(compat_cluster)
    for worker in compat_cluster.workers:
        log = worker.log()
        assert log.index(f"WorkerRecorder {old} setup") < log.index(
            f"WorkerRecorder {old} teardown"
        )
        assert log.index(f"WorkerRecorder {old} teardown") < log.index(
            f"WorkerRecorder {new} setup"
        )
        assert worker.count(f"WorkerRecorder {new} teardown") == 1


async def test_plugin_errors_are_reported_per_worker(
    compat_cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    missing = await register(client, "missing", module("no_such_module:Plugin"))
    raising = await register(client, "raising", module("dpo_test_plugins:RaisingSetup"))

    assert set(missing.failed) == set(raising.failed) == set(workers_of(compat_cluster))
    assert "no_such_module" in (missing.first_error() or "")
    assert "setup refused on purpose" in (raising.first_error() or "")
    assert (await client.identity()).workers == 2


async def test_nanny_plugin_is_registered_replaced_and_unregistered(
    compat_cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    first, second = tag(), tag()

    registered = await register(
        client, "nanny", module("dpo_test_plugins:NannyRecorder", kind="nanny", tag=first)
    )
    replaced = await register(
        client, "nanny", module("dpo_test_plugins:NannyRecorder", kind="nanny", tag=second)
    )
    removed = await client.unregister("nanny", "nanny")

    assert registered.ok == replaced.ok == removed.ok == workers_of(compat_cluster)
    for worker in compat_cluster.workers:
        assert worker.count(f"NannyRecorder {first} setup") == 1
        assert worker.count(f"NannyRecorder {second} teardown") == 1


async def test_environ_restarts_the_workers(
    compat_cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    value = tag()
    await register(client, "reporter", module("dpo_test_plugins:EnvironReporter", variable="DPO_V"))
    spec = PluginSpec("worker", LabelSelector(), 0, EnvironSource({"DPO_V": value}))

    result = await register(client, "environ", spec)

    assert result.failed == {} and len(result.ok) == 2
    for worker in compat_cluster.workers:
        worker.wait_for_log(f"EnvironReporter DPO_V={value}")


async def test_scheduler_plugin_is_started_replaced_and_unregistered(
    compat_cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    first, second = tag(), tag()
    scheduler = compat_cluster.scheduler

    registered = await register(
        client, "sched", module("dpo_test_plugins:SchedulerRecorder", kind="scheduler", tag=first)
    )
    replaced = await register(
        client, "sched", module("dpo_test_plugins:SchedulerRecorder", kind="scheduler", tag=second)
    )
    removed = await client.unregister("scheduler", "sched")
    absent = await client.unregister("scheduler", "sched")

    assert registered.ok == replaced.ok == removed.ok == (compat_cluster.address,)
    assert absent == RegistrationResult("scheduler", "sched")
    log = scheduler.log()
    # distributed replaces without close(); the loader closes its predecessor, and
    # unregistering closes the current one.
    assert scheduler.count(f"SchedulerRecorder {second} close") == 1
    assert log.index(f"SchedulerRecorder {first} close") < log.index(
        f"SchedulerRecorder {second} start"
    )


async def test_a_scheduler_restart_is_seen_and_recovered_from(
    compat_cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    spec = module("dpo_test_plugins:WorkerRecorder", tag="recovered")
    before = await client.identity()
    await register(client, "recorder", spec)
    await client.save_record(
        PluginRecord("recorder", "worker", content_hash(spec), 1, 1, "2026-01-01T00:00:00+00:00")
    )
    assert set(await client.records()) == {"recorder"}

    compat_cluster.restart_scheduler()
    after = await client.identity()
    records = await client.records()
    result = await register(client, "recorder", spec)

    assert after.id != before.id
    assert records == {}
    assert result.ok == workers_of(compat_cluster)
