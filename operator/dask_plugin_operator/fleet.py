"""Scheduling of passes: one serial loop per cluster, a bound on passes at once.

Any trigger (a plugin or cluster change, a Service or Pod event, the periodic check)
just pokes a cluster's loop. Pokes that arrive while a pass runs fold into one more pass.
A scheduler that does not answer is retried with exponential backoff, so it never makes
the operator loop hot and never holds up other clusters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .inventory import Key

logger = logging.getLogger(__name__)

RunPass = Callable[[Key], Awaitable[bool]]


class Backoff:
    """Delays after consecutive failures: 0.5 s doubling up to a cap."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.first * 2.0**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class ClusterLoop:
    """The serial worker of one cluster."""

    def __init__(self, key: Key, run_pass: RunPass, limit: asyncio.Semaphore,
                 backoff_cap: float) -> None:
        self.key = key
        self._run_pass = run_pass
        self._limit = limit
        self._backoff = Backoff(cap=backoff_cap)
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._requested = 0
        self._finished = 0
        self._last_ok = True
        self._task = asyncio.create_task(self._run(), name=f"cluster {key[0]}/{key[1]}")

    def poke(self) -> int:
        """Ask for a pass; returns a ticket that ``wait`` can wait for."""
        self._requested += 1
        self._wake.set()
        return self._requested

    async def wait(self, ticket: int) -> bool:
        """Wait for a pass that began after ``ticket`` was given; True if it succeeded."""
        async with self._progress:
            await self._progress.wait_for(lambda: self._finished >= ticket)
            return self._last_ok

    async def stop(self) -> None:
        """Stop the loop and release whoever waits for a pass: nothing is left to do."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        async with self._progress:
            self._finished, self._last_ok = self._requested, True
            self._progress.notify_all()

    async def _run(self) -> None:
        delay: float | None = None
        while True:
            await self._sleep_until_poked(delay)
            self._wake.clear()
            ticket = self._requested

            async with self._limit:
                ok = await self._guarded_pass()

            delay = None if ok else self._backoff.next_delay()
            if ok:
                self._backoff.reset()
            else:
                logger.debug("Cluster %s/%s will be retried in %.1f s.", *self.key, delay)
            async with self._progress:
                self._finished, self._last_ok = ticket, ok
                self._progress.notify_all()

    async def _sleep_until_poked(self, delay: float | None) -> None:
        if delay is None:
            await self._wake.wait()
            return
        with contextlib.suppress(asyncio.TimeoutError):  # not yet TimeoutError on 3.10
            await asyncio.wait_for(self._wake.wait(), timeout=delay)
        self._requested += 0 if self._wake.is_set() else 1  # a retry counts as a request

    async def _guarded_pass(self) -> bool:
        try:
            return await self._run_pass(self.key)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Cluster %s/%s: the pass failed unexpectedly; it will be "
                             "retried.", *self.key)
            return False


class Fleet:
    """All cluster loops, created on first use and dropped with their cluster."""

    def __init__(self, run_pass: RunPass, concurrency: int, backoff_cap: float = 30.0) -> None:
        self._run_pass = run_pass
        self._limit = asyncio.Semaphore(concurrency)
        self._backoff_cap = backoff_cap
        self._loops: dict[Key, ClusterLoop] = {}

    def poke(self, key: Key) -> int:
        return self._loop(key).poke()

    async def sync(self, key: Key) -> bool:
        """Run a fresh pass on ``key`` and say whether it succeeded."""
        loop = self._loop(key)
        return await loop.wait(loop.poke())

    def poke_all(self) -> None:
        for loop in self._loops.values():
            loop.poke()

    async def forget(self, key: Key) -> None:
        """Stop the loop of a cluster that is gone; a sync waiting on it returns True."""
        loop = self._loops.pop(key, None)
        if loop is not None:
            await loop.stop()

    async def close(self) -> None:
        for key in list(self._loops):
            await self.forget(key)

    def _loop(self, key: Key) -> ClusterLoop:
        if key not in self._loops:
            self._loops[key] = ClusterLoop(key, self._run_pass, self._limit, self._backoff_cap)
        return self._loops[key]
