"""Real local Dask clusters for the benchmarks, started many at a time, and their marks.

The Mark plugin of ``bench/plugins`` writes one file per worker setup; ``wait_for_marks``
is how a benchmark learns that every worker has run a plugin, and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.scheduler import SchedulerClient, SchedulerUnreachable

from .processes import wait_until

PLUGINS = Path(__file__).resolve().parent / "plugins"

# Starting Python processes costs CPU seconds each; more at once only queues them.
STARTS_AT_ONCE = 6


def dask_env() -> dict[str, str]:
    """What the Dask processes need beyond the environment: the benchmarks' plugins."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS),
                                                        os.environ.get("PYTHONPATH")]))}


@contextlib.contextmanager
def local_clusters(count: int, workdir: Path, workers: int = 1) -> Iterator[
        list[LocalDaskCluster]]:
    """``count`` clusters, each a scheduler and ``workers`` workers without nannies."""
    def start(index: int) -> LocalDaskCluster:
        return LocalDaskCluster(workers=workers, nanny=False, env=dask_env(),
                                log_dir=workdir / f"dask-{index:03d}")

    clusters: list[LocalDaskCluster] = []
    pool = ThreadPoolExecutor(STARTS_AT_ONCE)
    starting = [pool.submit(start, index) for index in range(count)]
    try:
        for future in starting:
            clusters.append(future.result())
        yield clusters
    finally:
        # Interrupted or not, stop every cluster that started, and only those.
        for future in starting:
            future.cancel()
        pool.shutdown(wait=True)
        clusters = [f.result() for f in starting if f.done() and not f.cancelled()
                    and f.exception() is None]
        with ThreadPoolExecutor(STARTS_AT_ONCE) as stopping:
            list(stopping.map(LocalDaskCluster.stop, clusters))


def marks_of(marks: Path, tag: str) -> dict[str, float]:
    """When each process ran the setup of the Mark plugin tagged ``tag``, by pid."""
    folder = marks / tag
    found: dict[str, float] = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if not entry.name.endswith(".tmp"):
                found[entry.name] = float(Path(entry.path).read_text())
    return found


def wait_for_marks(marks: Path, tag: str, count: int, timeout: float = 120.0,
                   interval: float = 0.01) -> dict[str, float]:
    """Wait until ``count`` processes ran the setup tagged ``tag``; their times by pid."""
    folder = marks / tag

    def enough() -> bool:
        with contextlib.suppress(FileNotFoundError):
            return sum(1 for name in os.listdir(folder) if not name.endswith(".tmp")) >= count
        return False

    wait_until(f"{count} workers ran the plugin tagged {tag}", enough, timeout, interval)
    return marks_of(marks, tag)


async def wait_for_records(addresses: Sequence[str], name: str, timeout: float = 60.0,
                           interval: float = 0.01) -> None:
    """Wait until every scheduler holds the operator's record of plugin ``name``."""
    async def one(address: str) -> None:
        client = SchedulerClient(address, timeout=timeout)
        try:
            while name not in await _records_or_none(client):
                await asyncio.sleep(interval)
        finally:
            await client.close()

    await asyncio.wait_for(asyncio.gather(*(one(a) for a in addresses)), timeout)


async def _records_or_none(client: SchedulerClient) -> dict[str, object]:
    """The scheduler's records, or none while it does not answer (a loaded machine)."""
    try:
        return dict(await client.records())
    except SchedulerUnreachable:
        return {}
