"""Scheduling passes: one serial loop per cluster, folded pokes, backoff and a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from dask_plugin_operator import fleet
from dask_plugin_operator.fleet import Backoff, Fleet
from dask_plugin_operator.inventory import Key

T = TypeVar("T")
PROD: Key = ("analytics", "prod")
DEADLINE = 10.0  # seconds; only so that a broken loop fails a test instead of hanging it


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, DEADLINE)


async def until(predicate: Callable[[], bool]) -> None:
    """Let other tasks run until ``predicate`` holds (bounded by the deadline)."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await within(poll())


async def let_others_run(turns: int = 50) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


class Passes:
    """A pass function that records its calls; results are queued, True by default."""

    def __init__(self) -> None:
        self.calls: list[Key] = []
        self.results: list[bool | Exception] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.running = 0
        self.most_at_once = 0
        self.cancelled = 0

    async def __call__(self, key: Key) -> bool:
        self.calls.append(key)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        result = self.results.pop(0) if self.results else True
        if isinstance(result, Exception):
            raise result
        return result


class RecordingBackoff(Backoff):
    """A Backoff without delays that notes when the loop asks for a delay or resets."""

    log: list[str] = []

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        super().__init__(first=0.0, cap=0.0)

    def next_delay(self) -> float:
        self.log.append(f"delay after {self.failures + 1} failure(s)")
        return super().next_delay()

    def reset(self) -> None:
        self.log.append("reset")
        super().reset()


@pytest.fixture
def backoff_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    log: list[str] = []
    monkeypatch.setattr(RecordingBackoff, "log", log)
    monkeypatch.setattr(fleet, "Backoff", RecordingBackoff)
    yield log


def test_backoff_doubles_from_half_a_second_up_to_its_cap() -> None:
    backoff = Backoff(cap=3.0)

    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_starts_over_after_a_reset() -> None:
    backoff = Backoff()
    backoff.next_delay()
    backoff.next_delay()

    backoff.reset()

    assert backoff.next_delay() == 0.5


async def test_sync_runs_a_pass_and_reports_its_success() -> None:
    passes = Passes()
    loops = Fleet(passes, concurrency=4)

    assert await within(loops.sync(PROD)) is True
    assert passes.calls == [PROD]
    await loops.close()


async def test_sync_returns_false_when_the_pass_fails() -> None:
    passes = Passes()
    passes.results = [False]
    loops = Fleet(passes, concurrency=4)

    assert await within(loops.sync(PROD)) is False
    await loops.close()


async def test_a_pass_that_raises_counts_as_failed() -> None:
    passes = Passes()
    passes.results = [RuntimeError("the pass broke")]
    loops = Fleet(passes, concurrency=4)

    assert await within(loops.sync(PROD)) is False
    await loops.close()


async def test_sync_waits_for_a_pass_that_starts_after_it_was_called() -> None:
    passes = Passes()
    passes.gate.clear()
    passes.results = [False, True]
    loops = Fleet(passes, concurrency=4)
    loops.poke(PROD)
    await until(lambda: passes.running == 1)

    # The pass already running will fail; sync must not report that one.
    synced = asyncio.ensure_future(loops.sync(PROD))
    passes.gate.set()

    assert await within(synced) is True
    assert len(passes.calls) == 2
    await loops.close()


async def test_pokes_during_a_pass_fold_into_one_more_pass() -> None:
    passes = Passes()
    passes.gate.clear()
    loops = Fleet(passes, concurrency=4)
    loops.poke(PROD)
    await until(lambda: passes.running == 1)

    for _ in range(5):
        loops.poke(PROD)
    synced = asyncio.ensure_future(loops.sync(PROD))
    passes.gate.set()

    assert await within(synced) is True
    assert passes.calls == [PROD, PROD]
    await loops.close()


async def test_passes_of_one_cluster_never_overlap() -> None:
    passes = Passes()
    loops = Fleet(passes, concurrency=8)

    await within(asyncio.gather(*(loops.sync(PROD) for _ in range(10))))

    assert passes.most_at_once == 1
    await loops.close()


async def test_no_more_clusters_than_the_bound_are_worked_on_at_once() -> None:
    passes = Passes()
    passes.gate.clear()
    loops = Fleet(passes, concurrency=2)
    clusters = [("analytics", f"cluster-{i}") for i in range(5)]

    synced = asyncio.ensure_future(asyncio.gather(*(loops.sync(key) for key in clusters)))
    await until(lambda: passes.running == 2)
    await let_others_run()
    assert passes.running == 2

    passes.gate.set()
    assert await within(synced) == [True] * 5
    assert sorted(passes.calls) == sorted(clusters)
    assert passes.most_at_once == 2
    await loops.close()


async def test_a_failed_pass_is_retried_without_a_poke_until_it_succeeds(
    backoff_log: list[str],
) -> None:
    passes = Passes()
    passes.results = [False, RuntimeError("still broken"), False, True]
    loops = Fleet(passes, concurrency=4)

    loops.poke(PROD)
    await until(lambda: len(passes.calls) == 4 and passes.running == 0)
    await let_others_run()

    assert len(passes.calls) == 4  # no retry after the success
    assert backoff_log == [
        "delay after 1 failure(s)", "delay after 2 failure(s)", "delay after 3 failure(s)",
        "reset",
    ]
    await loops.close()


async def test_backoff_starts_over_once_a_pass_succeeds(backoff_log: list[str]) -> None:
    passes = Passes()
    passes.results = [False, True]
    loops = Fleet(passes, concurrency=4)
    loops.poke(PROD)
    await until(lambda: backoff_log == ["delay after 1 failure(s)", "reset"])

    passes.results = [False]
    loops.poke(PROD)
    await until(lambda: len(backoff_log) >= 4)

    assert backoff_log[2:4] == ["delay after 1 failure(s)", "reset"]
    await loops.close()


async def test_poke_all_reaches_every_known_cluster() -> None:
    passes = Passes()
    loops = Fleet(passes, concurrency=4)
    other: Key = ("finance", "prod")
    await within(asyncio.gather(loops.sync(PROD), loops.sync(other)))

    loops.poke_all()
    await until(lambda: len(passes.calls) == 4)

    assert sorted(passes.calls) == sorted([PROD, other, PROD, other])
    await loops.close()


async def test_forget_cancels_a_running_pass_and_stops_retries(
    backoff_log: list[str],
) -> None:
    passes = Passes()
    passes.results = [False] * 1000
    loops = Fleet(passes, concurrency=4)
    loops.poke(PROD)
    await until(lambda: len(passes.calls) >= 3)  # retrying on its own
    passes.gate.clear()
    await until(lambda: passes.running == 1)

    await within(loops.forget(PROD))
    calls = len(passes.calls)
    passes.gate.set()
    await let_others_run()

    assert passes.cancelled == 1
    assert len(passes.calls) == calls
    await loops.close()


async def test_a_forgotten_cluster_gets_a_fresh_loop_when_poked_again() -> None:
    passes = Passes()
    loops = Fleet(passes, concurrency=4)
    await within(loops.sync(PROD))
    await within(loops.forget(PROD))

    assert await within(loops.sync(PROD)) is True
    assert passes.calls == [PROD, PROD]
    await loops.close()


async def test_forgetting_an_unknown_cluster_does_nothing() -> None:
    loops = Fleet(Passes(), concurrency=1)

    await within(loops.forget(PROD))
    await loops.close()


async def test_a_sync_waiting_on_a_forgotten_cluster_is_released() -> None:
    # A cluster deleted while a plugin's deletion waits for it has nothing left to hold.
    passes = Passes()
    passes.gate.clear()
    loops = Fleet(passes, concurrency=4)
    synced = asyncio.ensure_future(loops.sync(PROD))
    await until(lambda: passes.running == 1)

    await within(loops.forget(PROD))

    assert await within(synced) is True
    await loops.close()
