"""One pass against a real Dask scheduler with real workers: what ClusterPass does.

Each test wires the operator's core by hand (an Inventory, PluginEntries parsed from real
specs, a SchedulerClient) and records what the pass reports through its ``changed`` and
``announce`` callbacks. What reached the workers is read from their logs: the test
plugins write one line per hook. Tests sharing the module's cluster use namespaces of
their own, so their plugins carry names no other test touches.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from dask_plugin_operator.addresses import ADDRESS_ANNOTATION
from dask_plugin_operator.errors import SpecError
from dask_plugin_operator.events import Report
from dask_plugin_operator.inventory import ClusterEntry, Inventory, Key, PluginEntry
from dask_plugin_operator.localdask import DaskWorker, LocalDaskCluster, free_port
from dask_plugin_operator.payload import content_hash, registration_kind
from dask_plugin_operator.reconcile import ClusterPass, Outcomes
from dask_plugin_operator.scheduler import (
    PluginRecord,
    SchedulerClient,
    SchedulerUnreachable,
    SetupReport,
)
from dask_plugin_operator.spec import parse_spec
from dask_plugin_operator.status import ClusterOutcome, compose_status

pytestmark = pytest.mark.timeout(120)

RECORDER = "dpo_test_plugins:WorkerRecorder"
TESTS = Path(__file__).resolve().parent.parent
# Workers import the example plugin and the test plugins from here.
PLUGIN_PATH = os.pathsep.join(
    [str(TESTS.parent / "examples" / "errorlogger"), str(TESTS / "integration" / "plugins")]
)


def recorder_spec(tag: str, **more: Any) -> dict[str, Any]:
    """A spec for a worker plugin that logs ``WorkerRecorder <tag> setup|teardown``."""
    return {"module": {"name": RECORDER, "kwargs": {"tag": tag}}, **more}


def plugin_entry(
    namespace: str, name: str, spec: dict[str, Any], generation: int = 1
) -> PluginEntry:
    parsed = parse_spec(spec)
    return PluginEntry(
        namespace,
        name,
        f"uid-{namespace}-{name}",
        generation,
        parsed,
        None,
        kind=registration_kind(parsed),
        content_hash=content_hash(parsed),
    )


def setups(worker: DaskWorker, tag: str) -> int:
    return worker.count(rf"WorkerRecorder {re.escape(tag)} setup on ")


def teardowns(worker: DaskWorker, tag: str) -> int:
    return worker.count(rf"WorkerRecorder {re.escape(tag)} teardown on ")


def setup_order(worker: DaskWorker, tags: set[str]) -> list[str]:
    """The tags of the given plugins in the order the worker set them up."""
    found = re.findall(r"WorkerRecorder (\S+) setup on ", worker.log())
    return [tag for tag in found if tag in tags]


@dataclass
class Operator:
    """The operator's core for one namespace and one cluster, without Kopf or Kubernetes."""

    namespace: str
    cluster: ClusterEntry
    client: SchedulerClient
    inventory: Inventory = field(default_factory=Inventory)
    outcomes: Outcomes = field(default_factory=dict)
    changed: list[Key] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)

    def apply(self, name: str, spec: dict[str, Any], generation: int = 1) -> PluginEntry:
        entry = plugin_entry(self.namespace, name, spec, generation)
        self.inventory.put_plugin(entry)
        return entry

    def relabel(self, **labels: str) -> None:
        self.cluster = replace(self.cluster, labels=labels)
        self.inventory.put_cluster(self.cluster)

    async def run_pass(self) -> None:
        """One pass; the callbacks' records are cleared first, so they show this pass."""
        self.changed.clear()
        self.reports.clear()
        await ClusterPass(
            self.cluster,
            self.inventory,
            self.client,
            self.outcomes,
            self.changed.append,
            self.reports.append,
        ).run()

    def outcome(self, name: str) -> ClusterOutcome:
        return self.outcomes[(self.namespace, name)][self.cluster.name]

    def scheduler_name(self, name: str) -> str:
        return f"dask-plugin-operator/{self.namespace}/{name}"

    async def records(self) -> dict[str, PluginRecord]:
        """The records of this namespace's plugins on the scheduler, by resource name."""
        prefix = self.scheduler_name("")
        return {
            name.removeprefix(prefix): record
            for name, record in (await self.client.records()).items()
            if name.startswith(prefix)
        }

    async def registration_order(self) -> list[str]:
        records = await self.records()
        return sorted(records, key=lambda name: records[name].seq)


async def operator_for(
    namespace: str, address: str, timeout: float = 10.0, **labels: str
) -> Operator:
    cluster = ClusterEntry(
        namespace, "prod", labels=labels, annotations={ADDRESS_ANNOTATION: address}
    )
    inventory = Inventory()
    inventory.put_cluster(cluster)
    # The address comes the way a Runtime finds it: from the inventory.
    resolved = inventory.address_of(cluster)
    assert resolved == address
    return Operator(namespace, cluster, SchedulerClient(resolved, timeout), inventory)


@pytest.fixture
async def core(
    cluster: LocalDaskCluster, request: pytest.FixtureRequest
) -> AsyncIterator[Operator]:
    """The core, in a namespace named after the test, on the module's shared cluster."""
    namespace = request.node.name.removeprefix("test_")[:63].replace("_", "-").strip("-")
    operator = await operator_for(namespace, cluster.address, team="analytics")
    yield operator
    await operator.client.close()


@pytest.fixture
def no_nanny_cluster(tmp_path: Path) -> Iterator[LocalDaskCluster]:
    with LocalDaskCluster(
        workers=1, nanny=False, env={"PYTHONPATH": PLUGIN_PATH}, log_dir=tmp_path
    ) as dask:
        yield dask


async def test_a_pass_registers_plugins_in_priority_then_name_order_and_once(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    tags = {"order-late", "order-a", "order-b"}
    core.apply("late", recorder_spec("order-late", priority=10))
    core.apply("b", recorder_spec("order-b"))
    core.apply("a", recorder_spec("order-a"))

    await core.run_pass()

    assert await core.registration_order() == ["a", "b", "late"]
    for worker in cluster.workers:
        assert setup_order(worker, tags) == ["order-a", "order-b", "order-late"]
    for name in ("a", "b", "late"):
        outcome = core.outcome(name)
        assert (outcome.state, outcome.workers_ok, outcome.workers_failed) == ("Registered", 2, 0)
        assert outcome.address == cluster.address
    assert sorted(report.reason for report in core.reports) == ["Registered"] * 3

    records = await core.records()
    await core.run_pass()

    assert await core.records() == records
    assert (core.changed, core.reports) == ([], [])
    for worker in cluster.workers:
        assert [setups(worker, tag) for tag in sorted(tags)] == [1, 1, 1]


async def test_a_worker_that_joins_later_sets_plugins_up_in_registration_order(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    core.apply("second", recorder_spec("join-second"))
    core.apply("first", recorder_spec("join-first", priority=-1))
    await core.run_pass()

    newcomer = cluster.add_worker()

    assert setup_order(newcomer, {"join-first", "join-second"}) == ["join-first", "join-second"]
    cluster.stop_worker(newcomer)


async def test_a_scheduler_plugin_is_started_on_the_scheduler_once(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    spec = {
        "type": "scheduler",
        "module": {"name": "dpo_test_plugins:SchedulerRecorder", "kwargs": {"tag": "on-scheduler"}},
    }
    core.apply("watcher", spec)

    await core.run_pass()
    await core.run_pass()

    assert cluster.scheduler.count(r"SchedulerRecorder on-scheduler start") == 1
    outcome = core.outcome("watcher")
    assert (outcome.state, outcome.workers_ok) == ("Registered", 1)
    assert outcome.message == "Registered (new); set up on the scheduler."


async def test_a_content_change_replaces_the_plugin_in_place(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    core.apply("a", recorder_spec("change-a-v1"))
    core.apply("b", recorder_spec("change-b"))
    await core.run_pass()
    before = await core.records()

    core.apply("a", recorder_spec("change-a-v2"), generation=2)
    await core.run_pass()

    after = await core.records()
    assert after["a"].seq == before["a"].seq
    assert after["a"].content_hash != before["a"].content_hash
    assert after["a"].generation == 2
    assert after["b"] == before["b"]
    for worker in cluster.workers:
        assert teardowns(worker, "change-a-v1") == 1
        assert setups(worker, "change-a-v2") == 1
        assert (setups(worker, "change-b"), teardowns(worker, "change-b")) == (1, 0)
    assert core.outcome("a").generation == 2
    assert [(r.plugin.name, r.reason) for r in core.reports] == [("a", "Registered")]
    assert "(changed)" in core.reports[0].message


async def test_a_plugin_that_sorts_earlier_moves_the_later_ones_behind_it(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    core.apply("b", recorder_spec("insert-b"))
    core.apply("c", recorder_spec("insert-c"))
    await core.run_pass()

    core.apply("a", recorder_spec("insert-a"))
    await core.run_pass()

    assert await core.registration_order() == ["a", "b", "c"]
    for worker in cluster.workers:
        assert setups(worker, "insert-a") == 1
        assert [teardowns(worker, "insert-b"), setups(worker, "insert-b")] == [1, 2]
        assert [teardowns(worker, "insert-c"), setups(worker, "insert-c")] == [1, 2]
    assert "(reordered)" in core.outcome("c").message

    await core.run_pass()
    assert core.reports == []


async def test_a_plugin_that_no_longer_selects_the_cluster_is_unregistered(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    selector = {"clusterSelector": {"matchLabels": {"team": "analytics"}}}
    plugin = core.apply("picky", recorder_spec("picky", **selector))
    core.apply("any", recorder_spec("picky-any"))
    await core.run_pass()

    core.relabel(team="finance")
    await core.run_pass()

    assert list(await core.records()) == ["any"]
    for worker in cluster.workers:
        assert teardowns(worker, "picky") == 1
        assert teardowns(worker, "picky-any") == 0
    assert core.cluster.name not in core.outcomes.get(plugin.key, {})
    assert plugin.key in core.changed
    (report,) = core.reports
    assert (report.plugin.name, report.type, report.reason) == ("picky", "Normal", "Unregistered")
    assert "no longer selects it" in report.message


async def test_a_deleted_plugin_is_unregistered(core: Operator, cluster: LocalDaskCluster) -> None:
    plugin = core.apply("doomed", recorder_spec("doomed"))
    await core.run_pass()

    plugin.deleting = True
    await core.run_pass()

    assert await core.records() == {}
    for worker in cluster.workers:
        assert teardowns(worker, "doomed") == 1
    (report,) = core.reports
    assert report.reason == "Unregistered" and "was deleted" in report.message


async def test_an_invalid_spec_leaves_the_registration_alone(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    core.apply("kept", recorder_spec("kept"))
    await core.run_pass()
    records = await core.records()

    error = SpecError("type", "'gpu' is not a plugin type; use worker, nanny or scheduler")
    broken = PluginEntry(core.namespace, "kept", "uid-kept", 2, None, error)
    core.inventory.put_plugin(broken)
    await core.run_pass()

    assert await core.records() == records
    for worker in cluster.workers:
        assert (setups(worker, "kept"), teardowns(worker, "kept")) == (1, 0)
    assert (core.changed, core.reports) == ([], [])


async def test_deleting_a_plugin_whose_spec_became_invalid_still_unregisters_it(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    core.apply("broken", recorder_spec("broken-then-deleted"))
    await core.run_pass()

    error = SpecError("", "spec has no source")
    broken = PluginEntry(core.namespace, "broken", "uid-broken", 2, None, error)
    broken.deleting = True
    core.inventory.put_plugin(broken)
    await core.run_pass()

    assert await core.records() == {}
    for worker in cluster.workers:
        assert teardowns(worker, "broken-then-deleted") == 1


async def test_a_setup_failure_is_reported_with_the_first_error(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    plugin = core.apply("raising", {"module": {"name": "dpo_test_plugins:RaisingSetup"}})

    await core.run_pass()

    outcome = core.outcome("raising")
    assert (outcome.state, outcome.workers_ok, outcome.workers_failed) == ("Failed", 0, 2)
    assert "setup refused on purpose" in (outcome.first_error or "")
    assert outcome.message.startswith("Setup failed on 2 of 2 workers: ")
    (report,) = core.reports
    assert (report.plugin, report.type, report.reason) == (plugin, "Warning", "SetupFailed")
    assert all(worker.running for worker in cluster.workers)


async def test_a_setup_failure_is_still_reported_after_an_operator_restart(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    core.apply("raising", {"module": {"name": "dpo_test_plugins:RaisingSetup"}})
    await core.run_pass()
    failed = core.outcome("raising")

    # A new operator knows only the status the old one wrote on the resource.
    core.outcomes.clear()
    restarted = core.apply("raising", {"module": {"name": "dpo_test_plugins:RaisingSetup"}})
    restarted.status = compose_status(
        restarted, [core.cluster.name], {core.cluster.name: failed}, {}, "2026-01-01T00:00:00Z"
    )
    await core.run_pass()

    assert core.outcome("raising") == failed
    assert core.reports == []


async def test_a_missing_plugin_module_fails_setup_and_leaves_workers_running(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    core.apply("missing", {"module": {"name": "no_such_module_here:Plugin"}})

    await core.run_pass()

    outcome = core.outcome("missing")
    assert outcome.state == "Failed"
    assert "no_such_module_here" in (outcome.first_error or "")
    assert all(worker.running for worker in cluster.workers)


async def test_a_plugin_whose_kind_changed_is_set_up_once_and_then_left_alone(
    core: Operator, cluster: LocalDaskCluster
) -> None:
    nanny_spec = {
        "type": "nanny",
        "module": {"name": "dpo_test_plugins:NannyRecorder", "kwargs": {"tag": "kind-nanny"}},
    }
    core.apply("moving", nanny_spec)
    core.apply("anchor", recorder_spec("kind-anchor"))
    await core.run_pass()

    core.apply("moving", recorder_spec("kind-worker"), generation=2)
    await core.run_pass()
    records = await core.records()
    await core.run_pass()

    assert await core.records() == records
    assert await core.registration_order() == ["anchor", "moving"]
    for worker in cluster.workers:
        assert setups(worker, "kind-worker") == 1
    assert core.reports == []


async def test_a_nanny_plugin_on_workers_without_nannies_is_not_applied(
    no_nanny_cluster: LocalDaskCluster,
) -> None:
    core = await operator_for("nannyless", no_nanny_cluster.address)
    spec = {
        "type": "nanny",
        "module": {"name": "dpo_test_plugins:NannyRecorder", "kwargs": {"tag": "nowhere"}},
    }
    plugin = core.apply("nanny", spec)
    try:
        await core.run_pass()
    finally:
        await core.client.close()

    outcome = core.outcome("nanny")
    assert outcome.state == "NotApplied"
    assert "no worker of this cluster runs under a nanny" in outcome.message
    (report,) = core.reports
    assert (report.plugin, report.type, report.reason) == (plugin, "Warning", "NotApplied")


async def test_a_restarted_scheduler_gets_its_plugins_again(
    own_cluster: LocalDaskCluster,
) -> None:
    core = await operator_for("restarts", own_cluster.address)
    core.apply("survivor", recorder_spec("survivor"))
    try:
        await core.run_pass()
        first_id = core.outcome("survivor").scheduler_id

        own_cluster.restart_scheduler()
        assert await core.records() == {}
        await core.run_pass()

        assert list(await core.records()) == ["survivor"]
        outcome = core.outcome("survivor")
    finally:
        await core.client.close()

    assert outcome.state == "Registered" and outcome.scheduler_id != first_id
    (worker,) = own_cluster.workers
    assert setups(worker, "survivor") == 1
    assert [report.reason for report in core.reports] == ["Registered"]


async def test_an_unreachable_scheduler_is_reported_once_however_often_it_is_tried() -> None:
    core = await operator_for("unreachable", f"tcp://127.0.0.1:{free_port()}", timeout=2)
    plugin = core.apply("lonely", recorder_spec("lonely"))
    try:
        with pytest.raises(SchedulerUnreachable):
            await core.run_pass()
        first = core.outcome("lonely")
        assert first.state == "Unreachable"
        assert core.changed == [plugin.key]
        (report,) = core.reports
        assert (report.type, report.reason) == ("Warning", "SchedulerUnreachable")

        with pytest.raises(SchedulerUnreachable):
            await core.run_pass()
    finally:
        await core.client.close()

    assert core.outcome("lonely") == first
    assert (core.changed, core.reports) == ([], [])


async def test_an_unreachable_scheduler_is_reported_again_when_the_cause_changes() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    core = await operator_for("new-cause", address, timeout=2)
    core.apply("lonely", recorder_spec("lonely"))
    run = ClusterPass(core.cluster, core.inventory, core.client, core.outcomes,
                      core.changed.append, core.reports.append)
    try:
        run.mark_unreachable(SchedulerUnreachable(address, "it accepts no connections"))
        run.mark_unreachable(SchedulerUnreachable(address, "it accepts no connections"))
        run.mark_unreachable(SchedulerUnreachable(address, "no answer within 2 s"))
    finally:
        await core.client.close()

    assert "no answer within 2 s" in core.outcome("lonely").message
    assert len(core.reports) == 2


async def test_plugins_waiting_for_one_unreachable_scheduler_share_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = await operator_for("crowded", f"tcp://127.0.0.1:{free_port()}", timeout=2)
    core.apply("first", recorder_spec("first"))
    core.apply("second", recorder_spec("second"))
    try:
        with (caplog.at_level("WARNING", logger="dask_plugin_operator"),
              pytest.raises(SchedulerUnreachable)):
            await core.run_pass()
    finally:
        await core.client.close()

    lines = [r.getMessage() for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(lines) == 1
    assert "; 2 plugins wait for it: first, second." in lines[0]
    assert len(core.reports) == 2  # status and Events still name each plugin


async def test_a_scheduler_that_answers_again_is_reported_registered_again(
    own_cluster: LocalDaskCluster,
) -> None:
    core = await operator_for("comes-back", own_cluster.address, timeout=2)
    core.apply("patient", recorder_spec("patient"))
    scheduler = own_cluster.scheduler.process
    try:
        await core.run_pass()

        # A stopped process keeps its socket open but answers nothing.
        os.kill(scheduler.pid, signal.SIGSTOP)
        try:
            with pytest.raises(SchedulerUnreachable):
                await core.run_pass()
        finally:
            os.kill(scheduler.pid, signal.SIGCONT)
        assert core.outcome("patient").state == "Unreachable"

        await core.run_pass()
    finally:
        await core.client.close()

    outcome = core.outcome("patient")
    assert outcome.state == "Registered"
    assert outcome.message == "Registered; already in place on the scheduler."
    (worker,) = own_cluster.workers
    assert setups(worker, "patient") == 1


# Setup reports: a worker that joins after a registration sets the plugin up without the
# operator being asked; the loader reports the result to the scheduler's metadata and
# the next pass counts the reports of the workers present then.

RAISING = {"module": {"name": "dpo_test_plugins:RaisingSetup"}}
NANNY_RECORDER = {"type": "nanny",
                  "module": {"name": "dpo_test_plugins:NannyRecorder",
                             "kwargs": {"tag": "mixed"}}}
WAIT_SECONDS = 30.0


@pytest.fixture
def empty_cluster(tmp_path: Path) -> Iterator[LocalDaskCluster]:
    """A scheduler whose workers come later, as after a restart."""
    with LocalDaskCluster(workers=0, env={"PYTHONPATH": PLUGIN_PATH},
                          log_dir=tmp_path) as dask:
        yield dask


@pytest.fixture
async def late_core(empty_cluster: LocalDaskCluster) -> AsyncIterator[Operator]:
    """The core on a cluster of its own, whose workers join later."""
    operator = await operator_for("reports", empty_cluster.address)
    yield operator
    await operator.client.close()


async def reports_of(client: SchedulerClient, name: str) -> dict[str, SetupReport]:
    return (await client.notes()).setups.get(name, {})


async def wait_for_report(client: SchedulerClient, name: str, address: str) -> SetupReport:
    """The report ``address`` leaves once its setup ends; bounded, never a timed assertion."""
    async def poll() -> SetupReport:
        while (report := (await reports_of(client, name)).get(address)) is None:
            await asyncio.sleep(0.1)
        return report
    return await asyncio.wait_for(poll(), WAIT_SECONDS)


async def wait_for_workers(client: SchedulerClient, count: int) -> None:
    async def poll() -> None:
        while (await client.identity()).workers != count:
            await asyncio.sleep(0.1)
    await asyncio.wait_for(poll(), WAIT_SECONDS)


async def test_a_plugin_that_fails_on_a_worker_joining_later_turns_failed_then_recovers(
    late_core: Operator, empty_cluster: LocalDaskCluster
) -> None:
    late_core.apply("raising", RAISING)
    name = late_core.scheduler_name("raising")
    await late_core.run_pass()
    outcome = late_core.outcome("raising")
    assert (outcome.state, outcome.workers_ok, outcome.workers_failed) == ("Registered", 0, 0)

    worker = empty_cluster.add_worker()
    report = await wait_for_report(late_core.client, name, worker.address)
    assert not report.ok and "setup refused on purpose" in (report.error or "")
    await late_core.run_pass()

    outcome = late_core.outcome("raising")
    assert (outcome.state, outcome.workers_ok, outcome.workers_failed) == ("Failed", 0, 1)
    assert "setup refused on purpose" in (outcome.first_error or "")
    assert "setup refused on purpose" in outcome.message
    assert [report.reason for report in late_core.reports] == ["SetupFailed"]

    await late_core.run_pass()
    assert (late_core.changed, late_core.reports) == ([], [])

    # The failing worker leaves: its report stays on the scheduler but no longer counts.
    empty_cluster.stop_worker(worker)
    await wait_for_workers(late_core.client, 0)
    await late_core.run_pass()
    outcome = late_core.outcome("raising")
    assert (outcome.state, outcome.workers_ok, outcome.workers_failed) == ("Registered", 0, 0)
    assert [report.reason for report in late_core.reports] == ["Registered"]


async def test_a_registration_clears_the_reports_of_the_content_it_replaces(
    late_core: Operator, empty_cluster: LocalDaskCluster
) -> None:
    late_core.apply("replaced", RAISING)
    name = late_core.scheduler_name("replaced")
    await late_core.run_pass()
    worker = empty_cluster.add_worker()
    await wait_for_report(late_core.client, name, worker.address)
    empty_cluster.stop_worker(worker)
    await wait_for_workers(late_core.client, 0)
    assert list(await reports_of(late_core.client, name)) == [worker.address]

    late_core.apply("replaced", recorder_spec("replaced"), generation=2)
    await late_core.run_pass()

    assert await reports_of(late_core.client, name) == {}
    newcomer = empty_cluster.add_worker()
    assert (await wait_for_report(late_core.client, name, newcomer.address)).ok
    await late_core.run_pass()
    outcome = late_core.outcome("replaced")
    assert (outcome.state, outcome.workers_ok, outcome.workers_failed) == ("Registered", 1, 0)


async def test_a_nanny_plugin_is_not_applied_where_some_workers_run_without_a_nanny(
    late_core: Operator, empty_cluster: LocalDaskCluster
) -> None:
    empty_cluster.add_worker(nanny=True)
    empty_cluster.add_worker(nanny=False)
    late_core.apply("mixed", NANNY_RECORDER)

    await late_core.run_pass()

    outcome = late_core.outcome("mixed")
    assert (outcome.state, outcome.workers_ok, outcome.workers_failed) == ("NotApplied", 1, 0)
    assert "1 of 2 workers run without a nanny" in outcome.message
    await late_core.run_pass()
    assert (late_core.changed, late_core.reports) == ([], [])
