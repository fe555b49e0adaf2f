"""Status and Events: the operator's report on each WorkerPlugin.

Passes only mark a plugin as changed; one writer composes and patches its status shortly
after, so a burst of changes on many clusters becomes one write, and a status equal to
the one last written is not written again. Reports about clusters are gathered the same
way and posted as one Event per plugin and reason, by a few posters: while they are busy,
new reports join the groups that wait, so a burst never queues thousands of Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from .events import PendingEvents, Report, group_message
from .inventory import Inventory, Key, PluginEntry
from .kube import KubeApi
from .reconcile import Outcomes, now_iso
from .status import compose_status

logger = logging.getLogger(__name__)

# Status is a report, not a signal: half a second gathers the outcomes of a fan-out over
# many clusters into a few writes, each of which every watcher of the plugin must digest.
DEBOUNCE_SECONDS = 0.5
# Events go through the same few client threads as status patches; leave most to status.
EVENT_POSTERS = 2


class Reporter:
    """Writes plugin status and posts Events, off the passes' critical path."""

    def __init__(self, inventory: Inventory, outcomes: Outcomes, kube: KubeApi,
                 concurrency: int = 8) -> None:
        self._inventory = inventory
        self._outcomes = outcomes
        self._kube = kube
        self._dirty: set[Key] = set()
        self._wake = asyncio.Event()
        self._written: set[Key] = set()
        self._limit = asyncio.Semaphore(concurrency)
        self._pending = PendingEvents()
        self._events_due = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._tasks = [asyncio.create_task(self._run(), name="status writer")] + [
            asyncio.create_task(self._post_pending(), name=f"event poster {number}")
            for number in range(EVENT_POSTERS)
        ]

    def changed(self, key: Key) -> None:
        self._dirty.add(key)
        self._wake.set()

    def announce(self, report: Report) -> None:
        """Post an Event: at once about the plugin, with the next batch about a cluster."""
        if report.cluster is None:
            self._spawn(self._post(report, report.message))
        else:
            self._pending.add(report)
            self._wake.set()

    def announce_invalid(self, plugin: PluginEntry, message: str) -> None:
        self.announce(Report(plugin, "Warning", "Invalid", message))
        self.changed(plugin.key)

    def wrote(self, key: Key) -> bool:
        """Whether this process wrote ``key``'s status; the plugin entry then holds it."""
        return key in self._written

    def forget(self, key: Key) -> None:
        self._written.discard(key)
        self._dirty.discard(key)

    async def flush(self, key: Key) -> None:
        """Write ``key``'s status now, e.g. before its finalizer is released."""
        self._events_due.set()
        self._dirty.discard(key)
        await self._write(key)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while self._pending:
            group = self._pending.pop()
            self._spawn(self._post(group[0], group_message(group)))
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=2)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(DEBOUNCE_SECONDS)
            self._wake.clear()
            self._events_due.set()
            batch, self._dirty = self._dirty, set()
            await asyncio.gather(*(self._bounded_write(key) for key in batch))

    async def _post_pending(self) -> None:
        while True:
            await self._events_due.wait()
            if not self._pending:
                self._events_due.clear()
                continue
            group = self._pending.pop()
            await self._post(group[0], group_message(group))

    async def _post(self, report: Report, message: str) -> None:
        await self._kube.post_event(report.plugin.reference, report.type, report.reason,
                                    message)

    async def _bounded_write(self, key: Key) -> None:
        async with self._limit:
            try:
                await self._write(key)
            except Exception as exc:
                logger.warning("Status of plugin %s/%s was not written (%s); retrying soon.",
                               *key, exc)
                await asyncio.sleep(1)
                self.changed(key)

    async def _write(self, key: Key) -> None:
        plugin = self._inventory.plugin(key)
        if plugin is None:
            return
        matched = [c.name for c in self._inventory.clusters_selected_by(plugin)]
        previous = plugin.status
        status = compose_status(plugin, matched, self._outcomes.get(key, {}), previous,
                                now_iso())
        if _same(status, previous):
            return

        patch = {name: None for name in previous if name not in status} | status
        if await self._kube.patch_status(plugin.namespace, plugin.name, patch):
            plugin.status = status
            self._written.add(key)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _same(status: Mapping[str, Any], previous: Mapping[str, Any]) -> bool:
    return dict(status) == dict(previous)

