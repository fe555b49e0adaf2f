"""Notice at once when a scheduler goes away or comes back.

A restarted scheduler has lost every plugin, and the sooner the operator knows, the
sooner new workers get their plugins again. Each sentinel keeps one idle connection open
to its scheduler: a scheduler that exits closes it, and the sentinel then probes the
address until a scheduler answers again. Both moments poke the cluster's loop. The
periodic check still covers what a sentinel cannot see, such as a network cut.

A probe is one TCP connection attempt, so an address where nothing listens costs next to
nothing. A scheduler that just went away is probably restarting and is probed often for a
while; one that never answered, or stays away, is probed less and less often. Passes ask
the sentinel first, so that they do not spend a connection timeout, and a slot of the
concurrency bound, on a scheduler that refuses connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from distributed.comm.addressing import parse_address, parse_host_port
from distributed.comm.core import connect

logger = logging.getLogger(__name__)

QUICK_PROBES = 0.2
"""Seconds between probes of a scheduler that went away less than QUICK_WINDOW ago."""

QUICK_WINDOW = 30.0

FIRST_SLOW_PROBE = 1.0
"""Probes of a scheduler that never answered, or stays away, start 1 s apart and double."""

SLOW_PROBES_CAP = 30.0

PROBE_TIMEOUT = 2.0
"""How long one connection attempt may take; a refused one fails at once."""

FRESH = 0.5
"""A probe younger than this answers a pass; an older one is repeated."""


class Sentinel:
    """Watches one scheduler address on behalf of one cluster."""

    def __init__(self, name: str, address: str, poke: Callable[[], object],
                 timeout: float) -> None:
        self.address = address
        self._name = name
        self._poke = poke
        self._timeout = timeout
        self._connected = False
        self._answered: bool | None = None  # what the last probe found
        self._probed_at = 0.0
        self._lost_at: float | None = None
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._watch(), name=f"sentinel of {name}")

    async def answers(self) -> bool:
        """Whether the scheduler accepts connections now, probing again if unsure."""
        if self._connected:
            return True
        stale = self._answered is None or time.monotonic() - self._probed_at > FRESH
        if stale and await self._probe():
            self._wake.set()  # hold a connection again without waiting for a pause
        return bool(self._answered)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._task

    async def _watch(self) -> None:
        was_down, slow_pauses = False, 0
        while True:
            comm = await self._connect() if await self._probe() else None
            if comm is None:
                was_down = True
                await self._pause(slow_pauses)
                slow_pauses += 0 if self._recently_lost() else 1
                continue

            slow_pauses = 0
            if was_down:
                logger.info("The scheduler of cluster %s answers again at %s.",
                            self._name, self.address)
                self._poke()
            self._connected = True
            await self._wait_until_closed(comm)
            self._connected, self._answered = False, False
            was_down, self._lost_at = True, time.monotonic()
            logger.info("The scheduler of cluster %s closed its connection; it may have "
                        "restarted.", self._name)
            self._poke()

    async def _probe(self) -> bool:
        """One connection attempt, closed at once; records and returns whether it worked."""
        try:
            scheme, location = parse_address(self.address)
            host, port = parse_host_port(location)
        except ValueError:
            answered = True  # not a TCP address: leave the verdict to the pass itself
        else:
            answered = scheme not in ("tcp", "tls") or await _accepts(host, port)
        self._answered, self._probed_at = answered, time.monotonic()
        return answered

    async def _connect(self) -> Any:
        """A connection to hold idle, or None if the scheduler does not take one."""
        try:
            return await connect(self.address, timeout=self._timeout)  # type: ignore[no-untyped-call]
        except Exception:
            # Whatever the peer is (a typo, a TLS scheduler, an HTTP server), a failed
            # connection only means that nothing usable answers there now.
            self._answered = False
            return None

    async def _pause(self, slow_pauses: int) -> None:
        if self._recently_lost():
            delay = QUICK_PROBES
        else:
            delay = min(SLOW_PROBES_CAP, FIRST_SLOW_PROBE * 2.0**slow_pauses)
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):  # not yet TimeoutError on 3.10
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def _recently_lost(self) -> bool:
        return self._lost_at is not None and time.monotonic() - self._lost_at < QUICK_WINDOW

    async def _wait_until_closed(self, comm: object) -> None:
        try:
            # The scheduler never sends on a connection it did not get a request on,
            # so this read ends only when the connection does.
            await comm.read()  # type: ignore[attr-defined]
        except Exception:
            pass  # closed, or not speaking Dask's protocol: either way, the line is gone
        finally:
            with contextlib.suppress(Exception):
                comm.abort()  # type: ignore[attr-defined]


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                           PROBE_TIMEOUT)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class Sentinels:
    """One sentinel per cluster, following its scheduler address."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._by_cluster: dict[tuple[str, str], Sentinel] = {}

    async def watch(self, key: tuple[str, str], address: str,
                    poke: Callable[[], object]) -> None:
        current = self._by_cluster.get(key)
        if current is not None and current.address == address:
            return
        if current is not None:
            await current.stop()
        self._by_cluster[key] = Sentinel(f"{key[0]}/{key[1]}", address, poke, self._timeout)

    async def answers(self, key: tuple[str, str]) -> bool:
        """Whether the cluster's scheduler accepts connections; True if none is watched."""
        sentinel = self._by_cluster.get(key)
        return sentinel is None or await sentinel.answers()

    async def forget(self, key: tuple[str, str]) -> None:
        sentinel = self._by_cluster.pop(key, None)
        if sentinel is not None:
            await sentinel.stop()

    async def close(self) -> None:
        for key in list(self._by_cluster):
            await self.forget(key)
