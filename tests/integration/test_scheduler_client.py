"""SchedulerClient against real Dask schedulers, workers and nannies.

Plugins are registered through portable payloads, exactly as the operator sends them,
and what ran is read back from the processes' logs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.payload import build_payload, registration_kind
from dask_plugin_operator.scheduler import (
    PluginRecord,
    RegistrationResult,
    SchedulerClient,
)
from dask_plugin_operator.selection import LabelSelector
from dask_plugin_operator.spec import (
    ModuleSource,
    PluginKind,
    PluginSource,
    PluginSpec,
)

pytestmark = pytest.mark.timeout(180)


def spec_of(source: PluginSource, kind: PluginKind = "worker") -> PluginSpec:
    return PluginSpec(kind=kind, selector=LabelSelector(), priority=0, source=source)


def module(reference: str, kind: PluginKind = "worker", **kwargs: Any) -> PluginSpec:
    module_name, class_name = reference.split(":")
    return spec_of(ModuleSource(module_name, class_name, kwargs=kwargs), kind)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def register(client: SchedulerClient, name: str, spec: PluginSpec) -> RegistrationResult:
    return await client.register(registration_kind(spec), name, build_payload(name, spec))


@pytest.fixture
async def client(cluster: LocalDaskCluster) -> AsyncIterator[SchedulerClient]:
    scheduler = SchedulerClient(cluster.address, timeout=10)
    yield scheduler
    await scheduler.close()


def worker_addresses(cluster: LocalDaskCluster) -> tuple[str, ...]:
    return tuple(sorted(worker.address for worker in cluster.workers))


async def test_worker_plugin_runs_setup_on_every_worker(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name = unique("errorlogger")
    spec = module("errorlogger.plugins:ErrorLogger", logger="distributed.worker.errors")

    result = await register(client, name, spec)

    assert result.ok == worker_addresses(cluster)
    assert result.failed == {}
    assert result.first_error() is None
    for worker in cluster.workers:
        assert worker.count(r"ErrorLogger set up on worker") >= 1


async def test_replacing_a_worker_plugin_runs_old_teardown_then_new_setup(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name = unique("recorder")
    old, new = unique("old"), unique("new")
    await register(client, name, module("dpo_test_plugins:WorkerRecorder", tag=old))

    result = await register(client, name, module("dpo_test_plugins:WorkerRecorder", tag=new))

    assert result.ok == worker_addresses(cluster)
    for worker in cluster.workers:
        log = worker.log()
        assert log.index(f"WorkerRecorder {old} teardown") < log.index(
            f"WorkerRecorder {new} setup"
        )


async def test_unregistering_a_worker_plugin_runs_its_teardown(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name, tag = unique("recorder"), unique("tag")
    await register(client, name, module("dpo_test_plugins:WorkerRecorder", tag=tag))

    result = await client.unregister("worker", name)

    assert result.ok == worker_addresses(cluster)
    for worker in cluster.workers:
        assert worker.count(f"WorkerRecorder {tag} teardown") == 1


@pytest.mark.parametrize("kind", ["worker", "nanny", "scheduler"])
async def test_unregistering_an_absent_plugin_is_no_error(
    client: SchedulerClient, kind: PluginKind
) -> None:
    result = await client.unregister(kind, unique("never-registered"))

    assert result == RegistrationResult(kind, result.name)


async def test_plugin_reaches_workers_that_join_later(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name, tag = unique("recorder"), unique("tag")
    await register(client, name, module("dpo_test_plugins:WorkerRecorder", tag=tag))

    late = cluster.add_worker(nanny=False)

    assert late.count(f"WorkerRecorder {tag} setup on {late.address}") == 1
    cluster.stop_worker(late)


async def test_missing_module_is_reported_per_worker_and_workers_keep_running(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name = unique("missing")

    result = await register(client, name, module("no_such_module.anywhere:Plugin"))

    assert result.ok == ()
    assert set(result.failed) == set(worker_addresses(cluster))
    assert "No module named 'no_such_module'" in (result.first_error() or "")
    identity = await client.identity()
    assert identity.workers == len(cluster.workers)
    assert all(worker.running for worker in cluster.workers)
    await client.unregister("worker", name)


async def test_failing_setup_is_reported_per_worker(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name = unique("raising")

    result = await register(client, name, module("dpo_test_plugins:RaisingSetup"))

    assert set(result.failed) == set(worker_addresses(cluster))
    assert all("setup refused on purpose" in text for text in result.failed.values())
    await client.unregister("worker", name)


async def test_nanny_plugin_is_registered_replaced_and_unregistered(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name, first, second = unique("nanny"), unique("first"), unique("second")
    spec = module("dpo_test_plugins:NannyRecorder", kind="nanny", tag=first)

    registered = await register(client, name, spec)
    replaced = await register(
        client, name, module("dpo_test_plugins:NannyRecorder", kind="nanny", tag=second)
    )
    removed = await client.unregister("nanny", name)

    # Nanny answers are keyed by the worker address, like worker answers.
    assert registered.ok == replaced.ok == removed.ok == worker_addresses(cluster)
    for worker in cluster.workers:
        assert worker.count(f"NannyRecorder {first} setup") == 1
        assert worker.count(f"NannyRecorder {second} setup") == 1
        # distributed replaces a nanny plugin without its teardown; removal runs it.
        assert worker.count(f"NannyRecorder {first} teardown") == 0
        assert worker.count(f"NannyRecorder {second} teardown") == 1


async def test_scheduler_plugin_is_started_replaced_and_unregistered(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name, first, second = unique("sched"), unique("first"), unique("second")
    scheduler = cluster.scheduler

    registered = await register(
        client, name, module("dpo_test_plugins:SchedulerRecorder", kind="scheduler", tag=first)
    )
    replaced = await register(
        client, name, module("dpo_test_plugins:SchedulerRecorder", kind="scheduler", tag=second)
    )
    late = cluster.add_worker(nanny=False)
    removed = await client.unregister("scheduler", name)

    assert registered.ok == replaced.ok == removed.ok == (cluster.address,)
    log = scheduler.log()
    # distributed replaces without close(); the loader closes its predecessor, and
    # unregistering closes the current one.
    assert scheduler.count(f"SchedulerRecorder {second} close") == 1
    assert (
        log.index(f"SchedulerRecorder {first} start")
        < log.index(f"SchedulerRecorder {first} close")
        < log.index(f"SchedulerRecorder {second} start")
    )
    assert scheduler.count(f"SchedulerRecorder {first} saw worker") == 0
    assert scheduler.count(f"SchedulerRecorder {second} saw worker {late.address} join") == 1
    cluster.stop_worker(late)


async def test_scheduler_plugin_that_cannot_start_is_reported(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name = unique("sched-missing")

    result = await register(client, name, module("no_such_module:Plugin", kind="scheduler"))

    assert result.ok == ()
    assert list(result.failed) == [cluster.address]
    assert "No module named 'no_such_module'" in (result.first_error() or "")
    assert (await client.unregister("scheduler", name)).failed == {}


async def test_nanny_plugin_on_workers_without_nannies_reaches_nobody(
    tmp_path: Any, plugin_env: dict[str, str]
) -> None:
    with LocalDaskCluster(workers=1, nanny=False, env=plugin_env, log_dir=tmp_path) as bare:
        client = SchedulerClient(bare.address)
        spec = module("dpo_test_plugins:NannyRecorder", kind="nanny", tag="unused")

        identity = await client.identity()
        result = await register(client, unique("nanny"), spec)
        await client.close()

    assert (identity.workers, identity.nannies) == (1, 0)
    assert result.ok == () and result.failed == {}


async def test_records_are_kept_dropped_and_wiped_by_a_scheduler_restart(
    own_cluster: LocalDaskCluster,
) -> None:
    client = SchedulerClient(own_cluster.address)
    record = PluginRecord("errorlogger", "worker", "abc123", 3, 1, "2026-01-01T00:00:00+00:00")
    other = PluginRecord("other", "nanny", "def456", 1, 2, "2026-01-01T00:00:01+00:00")
    before = await client.identity()

    await client.save_record(record)
    await client.save_record(other)
    assert await client.records() == {"errorlogger": record, "other": other}
    await client.drop_record("other")
    assert await client.records() == {"errorlogger": record}

    own_cluster.restart_scheduler()
    after = await client.identity()
    assert await client.records() == {}
    assert after.id != before.id
    assert after.started > before.started
    await client.close()


async def test_installing_registers_keeps_the_record_and_drops_the_old_contents_reports(
    cluster: LocalDaskCluster, client: SchedulerClient
) -> None:
    name = unique("recorder")
    old = PluginRecord(name, "worker", "old", 1, 1, "2026-01-01T00:00:00+00:00")
    new = PluginRecord(name, "worker", "new", 2, 1, "2026-01-01T00:00:01+00:00")
    departed = cluster.add_worker(nanny=False)
    await client.install(old, build_payload(name, module("dpo_test_plugins:RaisingSetup")))
    assert departed.address in (await client.notes()).setups[name]
    cluster.stop_worker(departed)

    result = await client.install(new, build_payload(name, module(
        "dpo_test_plugins:WorkerRecorder", tag=unique("new"))))

    assert result.ok == worker_addresses(cluster)
    notes = await client.notes()
    assert notes.records[name] == new
    assert set(notes.setups[name]) == set(worker_addresses(cluster))
    assert all(report.ok for report in notes.setups[name].values())


async def test_a_restarted_scheduler_forgets_plugins_and_takes_them_again(
    own_cluster: LocalDaskCluster,
) -> None:
    client = SchedulerClient(own_cluster.address)
    spec = module("dpo_test_plugins:WorkerRecorder", tag="again")
    await register(client, "recorder", spec)

    own_cluster.restart_scheduler()
    worker = own_cluster.workers[0]
    assert worker.count("WorkerRecorder again setup") == 0
    result = await register(client, "recorder", spec)

    assert result.ok == (worker.address,)
    assert worker.count("WorkerRecorder again setup") == 1
    await client.close()
