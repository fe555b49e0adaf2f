"""Which plugin changes reach a cluster's loop at once, and which wait for a burst to settle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from dask_plugin_operator import runtime
from dask_plugin_operator.addresses import ADDRESS_ANNOTATION
from dask_plugin_operator.config import OperatorConfig
from dask_plugin_operator.inventory import Key
from dask_plugin_operator.runtime import Runtime

NAMESPACE = "analytics"
PROD: Key = (NAMESPACE, "prod")


class SilentKube:
    """Takes status patches and Events and keeps them; no API server involved."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, str, Mapping[str, Any]]] = []

    async def patch_status(self, namespace: str, name: str,
                           status: Mapping[str, Any]) -> bool:
        self.patches.append((namespace, name, status))
        return True

    async def post_event(self, *_: Any) -> None:
        pass


def plugin_body(name: str, *, priority: int = 0, tag: str = "one",
                generation: int = 1, kind: str = "worker") -> dict[str, Any]:
    return {
        "metadata": {"namespace": NAMESPACE, "name": name, "uid": f"uid-{name}",
                     "generation": generation},
        "spec": {"type": kind, "priority": priority,
                 "module": {"name": "dpo_test_plugins:WorkerRecorder",
                            "kwargs": {"tag": tag}}},
    }


@pytest.fixture
async def operator_runtime() -> AsyncIterator[tuple[Runtime, list[Key]]]:
    subject = Runtime(OperatorConfig(), SilentKube())  # type: ignore[arg-type]
    subject.cluster_seen({"metadata": {"namespace": NAMESPACE, "name": "prod"}})
    pokes: list[Key] = []
    subject.fleet.poke = lambda key: pokes.append(key) or 0  # type: ignore[method-assign]
    yield subject, pokes
    await subject.close()


async def quiet() -> None:
    """Let any burst settle, so that the next change comes on its own."""
    await asyncio.sleep(runtime.SETTLE_SECONDS * 1.5)


async def test_a_plugin_that_goes_last_on_a_cluster_reaches_it_at_once(
    operator_runtime: tuple[Runtime, list[Key]],
) -> None:
    subject, pokes = operator_runtime

    subject.plugin_seen(plugin_body("a"))
    assert pokes == [PROD]
    await quiet()
    subject.plugin_seen(plugin_body("b"))
    assert pokes == [PROD, PROD]
    await quiet()
    subject.plugin_seen(plugin_body("c", priority=5))
    assert pokes == [PROD, PROD, PROD]


async def test_a_burst_of_changes_reaches_a_cluster_in_one_pass_after_the_first(
    operator_runtime: tuple[Runtime, list[Key]],
) -> None:
    subject, pokes = operator_runtime

    for name in ("a", "b", "c", "d"):
        subject.plugin_seen(plugin_body(name))
    assert pokes == [PROD]

    await quiet()
    assert pokes == [PROD, PROD]


async def test_a_plugin_that_goes_ahead_of_others_waits_for_the_burst_to_settle(
    operator_runtime: tuple[Runtime, list[Key]],
) -> None:
    subject, pokes = operator_runtime
    subject.plugin_seen(plugin_body("c"))
    await quiet()
    pokes.clear()

    subject.plugin_seen(plugin_body("b"))
    subject.plugin_seen(plugin_body("a"))
    subject.plugin_seen(plugin_body("d"))  # goes last, but the cluster is settling
    assert pokes == []

    await quiet()
    assert pokes == [PROD]


async def test_plugins_of_other_kinds_do_not_make_a_plugin_wait(
    operator_runtime: tuple[Runtime, list[Key]],
) -> None:
    subject, pokes = operator_runtime
    subject.plugin_seen(plugin_body("z-nanny", kind="nanny"))
    await quiet()

    subject.plugin_seen(plugin_body("a-worker"))

    assert pokes == [PROD, PROD]


async def test_a_changed_plugin_is_replaced_at_once_unless_it_moves_ahead(
    operator_runtime: tuple[Runtime, list[Key]],
) -> None:
    subject, pokes = operator_runtime
    subject.plugin_seen(plugin_body("a"))
    subject.plugin_seen(plugin_body("b"))
    await quiet()
    pokes.clear()

    subject.plugin_seen(plugin_body("a", tag="two", generation=2))
    assert pokes == [PROD]
    await quiet()

    subject.plugin_seen(plugin_body("b", priority=-1, generation=2))
    assert pokes == [PROD]
    await quiet()
    assert pokes == [PROD, PROD]


def annotated_cluster(name: str, address: str) -> dict[str, Any]:
    return {"metadata": {"namespace": NAMESPACE, "name": name,
                         "annotations": {ADDRESS_ANNOTATION: address}}}


@pytest.fixture
def sharing_runtime(
    operator_runtime: tuple[Runtime, list[Key]],
) -> tuple[Runtime, list[Key]]:
    """Clusters blue and green on one scheduler, with the pokes of their arrival cleared."""
    subject, pokes = operator_runtime
    subject.cluster_seen(annotated_cluster("blue", "tcp://127.0.0.1:8786"))
    subject.cluster_seen(annotated_cluster("green", "tcp://127.0.0.1:8786"))
    pokes.clear()
    return subject, pokes


async def test_a_cluster_that_stops_sharing_a_scheduler_re_checks_the_one_it_left(
    sharing_runtime: tuple[Runtime, list[Key]],
) -> None:
    subject, pokes = sharing_runtime

    subject.cluster_seen(annotated_cluster("green", "tcp://127.0.0.1:8787"))

    assert sorted(pokes) == [(NAMESPACE, "blue"), (NAMESPACE, "green")]


async def test_a_cluster_deleted_from_a_shared_scheduler_re_checks_the_one_left(
    sharing_runtime: tuple[Runtime, list[Key]],
) -> None:
    subject, pokes = sharing_runtime

    await subject.cluster_gone((NAMESPACE, "green"))

    assert pokes == [(NAMESPACE, "blue")]
