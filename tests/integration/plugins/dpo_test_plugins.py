"""Plugins that integration tests register on real Dask processes.

Each one writes a recognisable line to the process log on every hook, so a test can
read from the log what ran where and in which order.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from distributed.diagnostics.plugin import NannyPlugin, SchedulerPlugin, WorkerPlugin

log = logging.getLogger("distributed.dpo_test_plugins")


class RaisingSetup(WorkerPlugin):
    """A worker plugin whose setup always fails."""

    def setup(self, worker: Any) -> None:
        raise RuntimeError("setup refused on purpose")


class SlowSetup(WorkerPlugin):
    """A worker plugin whose setup takes ``seconds``, as a stuck install would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def setup(self, worker: Any) -> None:
        await asyncio.sleep(self.seconds)


class WorkerRecorder(WorkerPlugin):
    """Logs ``WorkerRecorder <tag> setup|teardown``."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def setup(self, worker: Any) -> None:
        log.warning("WorkerRecorder %s setup on %s", self.tag, worker.address)

    def teardown(self, worker: Any) -> None:
        log.warning("WorkerRecorder %s teardown on %s", self.tag, worker.address)


class EnvironReporter(WorkerPlugin):
    """Logs the value of one environment variable as the worker sees it."""

    def __init__(self, variable: str) -> None:
        self.variable = variable

    def setup(self, worker: Any) -> None:
        value = os.environ.get(self.variable, "<unset>")
        log.warning("EnvironReporter %s=%s on %s", self.variable, value, worker.address)


class NannyRecorder(NannyPlugin):
    """Logs ``NannyRecorder <tag> setup|teardown``; never restarts the worker."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def setup(self, nanny: Any) -> None:
        log.warning("NannyRecorder %s setup on %s", self.tag, nanny.address)

    def teardown(self, nanny: Any) -> None:
        log.warning("NannyRecorder %s teardown on %s", self.tag, nanny.address)


class SchedulerRecorder(SchedulerPlugin):
    """Logs ``SchedulerRecorder <tag> start|close`` and every worker that joins."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    async def start(self, scheduler: Any) -> None:
        log.warning("SchedulerRecorder %s start", self.tag)

    async def close(self) -> None:
        log.warning("SchedulerRecorder %s close", self.tag)

    def add_worker(self, scheduler: Any, worker: str) -> None:
        log.warning("SchedulerRecorder %s saw worker %s join", self.tag, worker)
