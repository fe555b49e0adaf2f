"""Sentinels tell at once whether a scheduler answers, and poke when it comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster, free_port
from dask_plugin_operator.sentinel import Sentinels

pytestmark = pytest.mark.timeout(90)

# Far longer than any answer below may take: a sentinel must not wait out a timeout.
PATIENT = 60.0


async def test_an_address_where_nothing_listens_is_known_not_to_answer() -> None:
    sentinels = Sentinels(timeout=PATIENT)
    key = ("default", "absent")
    pokes: list[str] = []
    await sentinels.watch(key, f"tcp://127.0.0.1:{free_port()}", lambda: pokes.append("poke"))
    try:
        answers = await asyncio.wait_for(sentinels.answers(key), timeout=PATIENT / 4)
    finally:
        await sentinels.close()
    assert answers is False
    assert pokes == []


async def test_a_cluster_without_a_sentinel_is_assumed_to_answer() -> None:
    assert await Sentinels(timeout=PATIENT).answers(("default", "unknown")) is True


async def test_a_restarted_scheduler_is_seen_leaving_and_coming_back(tmp_path: Path) -> None:
    sentinels = Sentinels(timeout=PATIENT)
    key = ("default", "restarting")
    pokes = asyncio.Queue[str]()
    with LocalDaskCluster(workers=0, log_dir=tmp_path) as cluster:
        await sentinels.watch(key, cluster.address, lambda: pokes.put_nowait("poke"))
        try:
            assert await sentinels.answers(key) is True
            await asyncio.sleep(0.5)  # let the sentinel hold its idle connection

            await asyncio.to_thread(cluster.restart_scheduler, workers=False)
            await asyncio.wait_for(pokes.get(), timeout=PATIENT / 2)  # it went away
            await asyncio.wait_for(pokes.get(), timeout=PATIENT / 2)  # it is back
            assert await sentinels.answers(key) is True
        finally:
            await sentinels.close()
