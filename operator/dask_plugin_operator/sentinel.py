"""Notice at once when a scheduler goes away or comes back.

A restarted scheduler has lost every plugin, and the sooner the operator knows, the
sooner new workers get their plugins again. Each sentinel keeps one idle connection open
to its scheduler: a scheduler that exits closes it, and the sentinel then probes the
address every second until a scheduler answers again. Both moments poke the cluster's
loop. The periodic check still covers what a sentinel cannot see, such as a network cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from distributed.comm.core import CommClosedError, connect

logger = logging.getLogger(__name__)

PROBE_INTERVAL = 1.0


class Sentinel:
    """Watches one scheduler address on behalf of one cluster."""

    def __init__(self, name: str, address: str, poke: Callable[[], object],
                 timeout: float) -> None:
        self.address = address
        self._name = name
        self._poke = poke
        self._timeout = timeout
        self._task = asyncio.create_task(self._watch(), name=f"sentinel of {name}")

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _watch(self) -> None:
        was_down = False
        while True:
            try:
                comm = await connect(self.address, timeout=self._timeout)  # type: ignore[no-untyped-call]
            except (OSError, CommClosedError, TimeoutError):
                was_down = True
                await asyncio.sleep(PROBE_INTERVAL)
                continue

            if was_down:
                logger.info("The scheduler of cluster %s answers again at %s.",
                            self._name, self.address)
                self._poke()
            await self._wait_until_closed(comm)
            logger.info("The scheduler of cluster %s closed its connection; it may have "
                        "restarted.", self._name)
            was_down = True
            self._poke()

    async def _wait_until_closed(self, comm: object) -> None:
        try:
            # The scheduler never sends on a connection it did not get a request on,
            # so this read ends only when the connection does.
            await comm.read()  # type: ignore[attr-defined]
        except (OSError, CommClosedError):
            pass
        finally:
            with contextlib.suppress(Exception):
                comm.abort()  # type: ignore[attr-defined]


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

    async def forget(self, key: tuple[str, str]) -> None:
        sentinel = self._by_cluster.pop(key, None)
        if sentinel is not None:
            await sentinel.stop()

    async def close(self) -> None:
        for key in list(self._by_cluster):
            await self.forget(key)
