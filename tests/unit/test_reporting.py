"""The reporter's Events: reports that come faster than Events can be posted are merged."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from dask_plugin_operator.events import Report
from dask_plugin_operator.inventory import Inventory, PluginEntry
from dask_plugin_operator.reporting import EVENT_POSTERS, Reporter

CLUSTERS = [f"dask-{number:02d}" for number in range(30)]


class SlowKube:
    """An API server that takes its time over every Event and keeps what it was sent."""

    def __init__(self, seconds_per_event: float) -> None:
        self.seconds_per_event = seconds_per_event
        self.events: list[tuple[str, str, str]] = []
        self.posting = 0
        self.most_at_once = 0

    async def patch_status(self, namespace: str, name: str,
                           status: Mapping[str, Any]) -> bool:
        return True

    async def post_event(self, reference: Mapping[str, str], type_: str, reason: str,
                         message: str) -> None:
        self.posting += 1
        self.most_at_once = max(self.most_at_once, self.posting)
        await asyncio.sleep(self.seconds_per_event)
        self.posting -= 1
        self.events.append((reference["name"], reason, message))


def plugin(name: str) -> PluginEntry:
    return PluginEntry("analytics", name, f"uid-{name}", 1, None, None)


async def test_reports_that_arrive_while_events_are_posted_join_the_next_event() -> None:
    kube = SlowKube(seconds_per_event=0.3)
    reporter = Reporter(Inventory(), {}, kube)  # type: ignore[arg-type]
    tracer = plugin("tracer")
    try:
        for cluster in CLUSTERS:
            reporter.announce(Report(tracer, "Warning", "SchedulerUnreachable",
                                     "The scheduler does not answer.", cluster=cluster))
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)
    finally:
        await reporter.close()

    assert 1 < len(kube.events) < len(CLUSTERS) // 3
    named = " ".join(message for _, _, message in kube.events)
    assert all(cluster in named for cluster in CLUSTERS)


async def test_events_are_posted_a_few_at_a_time() -> None:
    kube = SlowKube(seconds_per_event=0.1)
    reporter = Reporter(Inventory(), {}, kube)  # type: ignore[arg-type]
    plugins = [plugin(f"plugin-{number}") for number in range(12)]
    try:
        for each in plugins:
            reporter.announce(Report(each, "Normal", "Registered", "Registered.",
                                     cluster="prod"))
        await asyncio.sleep(1.5)
        most_at_once = kube.most_at_once
    finally:
        await reporter.close()

    assert most_at_once == EVENT_POSTERS
    assert sorted(name for name, _, _ in kube.events) == sorted(p.name for p in plugins)


async def test_reports_still_waiting_are_posted_when_the_reporter_closes() -> None:
    kube = SlowKube(seconds_per_event=0.1)
    reporter = Reporter(Inventory(), {}, kube)  # type: ignore[arg-type]
    plugins = [plugin(f"plugin-{number}") for number in range(5)]
    for each in plugins:
        reporter.announce(Report(each, "Warning", "SetupFailed", "Setup failed.",
                                 cluster="prod"))

    await reporter.close()

    assert sorted(name for name, _, _ in kube.events) == sorted(p.name for p in plugins)
