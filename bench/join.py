"""New worker: how long a joining worker takes to run five plugins' setups.

Two clusters hold the same five Mark plugins: on one the operator registered them (each
a portable payload that builds a loader), on the other they were registered by hand with
``Client.register_plugin``. A worker without a nanny joins each in turn; it is timed from
its process start to its last setup. The loader's own cost, unpickling a payload and
setting the plugin up through it, is also timed in this process against unpickling and
setting up the plain plugin.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.payload import build_payload
from dask_plugin_operator.spec import parse_spec, plugin_name

from .api import Api, mark_spec
from .daskfleet import PLUGINS, local_clusters, wait_for_records
from .figures import Report
from .processes import OperatorProcess, SandboxProcess, wait_until

PLUGIN_COUNT = 5
IN_PROCESS_ROUNDS = 200


def run(runs: int, quick: bool) -> Report:
    report = Report("join", {"runs": runs, "plugins": PLUGIN_COUNT,
                             "in_process_rounds": IN_PROCESS_ROUNDS})
    workdir = Path(tempfile.mkdtemp(prefix="dpo-bench-join-"))
    marks = workdir / "marks"
    namespace = "join"
    sys.path.insert(0, str(PLUGINS))  # registering by hand pickles Mark by reference

    sandbox = SandboxProcess(workdir)
    try:
        with local_clusters(2, workdir, workers=0) as (managed, by_hand):
            api = Api(sandbox.kubeconfig)
            api.create_namespace(namespace)
            api.create_cluster(namespace, "managed", managed.address)
            operator_tags = [f"operator-{index}" for index in range(PLUGIN_COUNT)]
            for tag in operator_tags:
                api.create_plugin(namespace, tag, mark_spec(marks, tag))
            hand_tags = _register_by_hand(by_hand.address, marks)
            operator = OperatorProcess(sandbox, [namespace], workdir / "operator.log")
            try:
                for tag in operator_tags:
                    asyncio.run(wait_for_records([managed.address], plugin_name(namespace, tag)))
                for _ in range(runs):
                    report.series_of("join, operator's plugins").add(
                        _join(managed, marks, operator_tags))
                    report.series_of("join, plugins by hand").add(
                        _join(by_hand, marks, hand_tags))
            finally:
                operator.stop()
                api.close()
    finally:
        sandbox.stop()

    report.ratio("operator/hand", "join, operator's plugins", "join, plugins by hand")
    _in_process(report, workdir / "in-process")
    report.ratio("loader/plain, per plugin", "setup through the loader",
                 "setup of the plain plugin")
    report.notes.append(f"logs in {workdir}")
    return report


def _register_by_hand(address: str, marks: Path) -> list[str]:
    from distributed import Client
    from dpo_bench_plugins import Mark  # type: ignore[import-not-found]

    tags = [f"hand-{index}" for index in range(PLUGIN_COUNT)]
    with Client(address, timeout=30) as client:
        for tag in tags:
            client.register_plugin(Mark(str(marks), tag), name=tag)
    return tags


def _join(cluster: LocalDaskCluster, marks: Path, tags: Sequence[str]) -> float:
    started = time.time()
    worker = cluster.add_worker(nanny=False, wait=False)
    paths = [marks / tag / str(worker.process.pid) for tag in tags]
    try:
        wait_until(f"worker {worker.name} ran every plugin",
                   lambda: all(path.exists() for path in paths), timeout=60, interval=0.01)
        return max(float(path.read_text()) for path in paths) - started
    finally:
        cluster.stop_worker(worker)


class _SilentScheduler:
    """Takes the loader's setup reports and answers at once, as a nearby scheduler would."""

    async def set_metadata(self, **_: Any) -> None:
        return None


def _in_process(report: Report, marks: Path) -> None:
    """Unpickle and set up one plugin, many times: through the loader, and plain."""
    from dpo_bench_plugins import Mark

    worker = SimpleNamespace(address="tcp://127.0.0.1:1", name="bench",
                             scheduler=_SilentScheduler())
    payload = build_payload("bench", parse_spec(mark_spec(marks, "loader")))
    plain = pickle.dumps(Mark(str(marks), "plain"))

    for label, data in (("setup through the loader", payload),
                        ("setup of the plain plugin", plain)):
        series = report.series_of(label, unit="ms")
        for _ in range(5):
            seconds = asyncio.run(_set_up_repeatedly(data, worker))
            series.add(seconds / IN_PROCESS_ROUNDS * 1000)


async def _set_up_repeatedly(data: bytes, worker: Any) -> float:
    started = time.perf_counter()
    for _ in range(IN_PROCESS_ROUNDS):
        plugin = pickle.loads(data)
        result = plugin.setup(worker=worker)
        if inspect.isawaitable(result):
            await result
    return time.perf_counter() - started
