"""Every SchedulerClient call ends with SchedulerUnreachable instead of hanging."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster, free_port
from dask_plugin_operator.payload import build_payload
from dask_plugin_operator.scheduler import (
    PluginRecord,
    SchedulerClient,
    SchedulerPool,
    SchedulerUnreachable,
)
from dask_plugin_operator.selection import LabelSelector
from dask_plugin_operator.spec import ModuleSource, PluginSpec

pytestmark = pytest.mark.timeout(60)

RECORD = PluginRecord("p", "worker", "hash", 1, 1, "2026-01-01T00:00:00+00:00")

CALLS: dict[str, Callable[[SchedulerClient], Awaitable[Any]]] = {
    "identity": lambda client: client.identity(),
    "register": lambda client: client.register("worker", "p", b"payload"),
    "install": lambda client: client.install(RECORD, b"payload"),
    "unregister": lambda client: client.unregister("nanny", "p"),
    "records": lambda client: client.records(),
    "save_record": lambda client: client.save_record(RECORD),
    "drop_record": lambda client: client.drop_record("p"),
}


@pytest.fixture
def silent_address() -> Iterator[str]:
    """A socket that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("call", list(CALLS))
async def test_every_call_times_out_against_a_scheduler_that_never_answers(
    silent_address: str, call: str
) -> None:
    client = SchedulerClient(silent_address, timeout=0.5, register_timeout=0.5)

    with pytest.raises(SchedulerUnreachable) as raised:
        await CALLS[call](client)

    assert silent_address in str(raised.value)
    await client.close()


@pytest.mark.parametrize("call", list(CALLS))
async def test_every_call_fails_against_an_address_nobody_listens_on(call: str) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    client = SchedulerClient(address, timeout=1)

    with pytest.raises(SchedulerUnreachable) as raised:
        await CALLS[call](client)

    assert address in str(raised.value)
    await client.close()


async def test_an_address_nobody_listens_on_gets_the_same_words_every_time() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    client = SchedulerClient(address, timeout=0.5)

    causes = []
    for _ in range(3):
        with pytest.raises(SchedulerUnreachable) as raised:
            await client.identity()
        causes.append(raised.value.cause)

    assert causes == [causes[0]] * 3
    assert causes[0] == "no connection within 0.5 s"
    await client.close()


@pytest.mark.parametrize(("address", "words"), [
    ("tls://127.0.0.1:8786", "not one Dask can connect to: TLS expects"),
    ("127.0.0.1", "not one Dask can connect to: missing port number"),
])
async def test_an_address_dask_cannot_use_is_explained(address: str, words: str) -> None:
    client = SchedulerClient(address, timeout=0.5)

    with pytest.raises(SchedulerUnreachable, match=words):
        await client.identity()

    await client.close()


async def test_registration_gives_up_on_a_worker_stuck_in_setup(
    own_cluster: LocalDaskCluster,
) -> None:
    client = SchedulerClient(own_cluster.address, timeout=5, register_timeout=1)
    source = ModuleSource("dpo_test_plugins", "SlowSetup", kwargs={"seconds": 60})
    spec = PluginSpec(kind="worker", selector=LabelSelector(), priority=0, source=source)

    with pytest.raises(SchedulerUnreachable, match="no answer to register_worker_plugin"):
        await client.register("worker", "slow", build_payload("slow", spec))

    # The scheduler itself still answers while the worker is busy.
    assert (await client.identity()).workers == 1
    await client.close()


async def test_the_pool_hands_out_one_client_per_address_and_closes_them(
    silent_address: str,
) -> None:
    pool = SchedulerPool(timeout=0.5)
    client = pool.client(silent_address)
    with pytest.raises(SchedulerUnreachable):
        await client.identity()

    assert pool.client(silent_address) is client
    await pool.close()
    assert pool.client(silent_address) is not client
    await pool.close()
