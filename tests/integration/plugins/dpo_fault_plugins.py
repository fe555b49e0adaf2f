"""Plugins that misbehave on purpose, for the fault tests of the operator.

Like the other test plugins, each writes a recognisable line to the process log on every
hook, so a test can count from the log what ran where.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

log = logging.getLogger("distributed.dpo_fault_plugins")


class FailingOnSome(WorkerPlugin):
    """Fails in setup on the workers named in ``failing``; sets up fine on the others.

    Logs ``FailingOnSome <tag> setup on <address>`` on every attempt, failed or not.
    """

    def __init__(self, tag: str, failing: list[str]) -> None:
        self.tag = tag
        self.failing = set(failing)

    def setup(self, worker: Any) -> None:
        log.warning("FailingOnSome %s setup on %s", self.tag, worker.address)
        if str(worker.name) in self.failing:
            raise RuntimeError(f"worker {worker.name} cannot run {self.tag} on purpose")


class SlowSetupRecorder(WorkerPlugin):
    """Takes ``seconds`` to set up, without blocking the worker's event loop.

    Logs ``SlowSetupRecorder <tag> setup began on`` and ``... setup finished on``.
    """

    def __init__(self, tag: str, seconds: float) -> None:
        self.tag = tag
        self.seconds = seconds

    async def setup(self, worker: Any) -> None:
        log.warning("SlowSetupRecorder %s setup began on %s", self.tag, worker.address)
        await asyncio.sleep(self.seconds)
        log.warning("SlowSetupRecorder %s setup finished on %s", self.tag, worker.address)

    def teardown(self, worker: Any) -> None:
        log.warning("SlowSetupRecorder %s teardown on %s", self.tag, worker.address)
