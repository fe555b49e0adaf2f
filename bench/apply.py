"""Apply to registered: a WorkerPlugin created through the API, until every worker has it.

For 1, 10 and 50 DaskClusters, each a real local scheduler with one worker, three ways of
getting one plugin onto every cluster are timed in the same run, alternating:

- hand loop: ``distributed.Client(address).register_plugin(...)`` per cluster, one after
  another, each Client connected and closed, as a person would write it;
- floor: one raw registration RPC per scheduler, all at once, with the operator's payload;
- operator: a WorkerPlugin created through the API, as kubectl would.

The clusters of each size live in a namespace of their own and exist only while that size
is timed: two DaskClusters on one scheduler are refused by the operator. Rounds are apart
by twice the operator's burst window, so that each plugin is applied on its own.

Each is timed from its start to the last worker's setup (the Mark plugin notes when it
ran). For the operator the time until every scheduler holds its record is noted too, the
CPU time the operator process used until then, and the watch latency: from the create
call to Kopf invoking our handler, read from the operator's debug log.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from dask_plugin_operator.payload import build_payload
from dask_plugin_operator.runtime import SETTLE_SECONDS
from dask_plugin_operator.scheduler import SchedulerClient
from dask_plugin_operator.spec import parse_spec, plugin_name

from .api import Api, mark_spec
from .daskfleet import PLUGINS, local_clusters, wait_for_marks, wait_for_records
from .figures import Report
from .processes import OperatorProcess, SandboxProcess, wait_until

SIZES = (1, 10, 50)
QUICK_SIZES = (1, 10)


def run(runs: int, quick: bool, against: Path | None = None,
        operator_args: Sequence[str] = ()) -> Report:
    """Time the three ways; ``against`` adds an operator running the code of that tree.

    ``operator_args`` go to the first operator only, so that ``against`` the same tree
    compares two settings in one run.
    """
    sizes = QUICK_SIZES if quick else SIZES
    report = Report("apply", {"sizes": list(sizes), "runs": runs, "workers_per_cluster": 1,
                              "against": str(against) if against else None,
                              "operator_args": list(operator_args)})
    workdir = Path(tempfile.mkdtemp(prefix="dpo-bench-apply-"))
    marks = workdir / "marks"
    sys.path.insert(0, str(PLUGINS))  # the hand loop pickles Mark by reference
    variants = {"operator": None, **({"against": against} if against else {})}

    sandbox = SandboxProcess(workdir)
    operators: dict[str, OperatorProcess] = {}
    try:
        with local_clusters(max(sizes), workdir) as clusters:
            addresses = [cluster.address for cluster in clusters]
            api = Api(sandbox.kubeconfig)
            for label, code in variants.items():
                namespaces = [_namespace(label, size) for size in sizes]
                for namespace in namespaces:
                    api.create_namespace(namespace)
                extra = operator_args if label == "operator" else ()
                operators[label] = OperatorProcess(sandbox, namespaces,
                                                   workdir / f"{label}.log", *extra,
                                                   verbose=True, code=code)
            for size in sizes:
                _create_clusters(api, variants, addresses[:size])
                time.sleep(2)  # let the first passes over the empty clusters finish
                for index in range(runs):
                    _one_round(report, api, operators, addresses[:size], marks, index)
                _delete_clusters(api, variants, size)
                report.ratio(f"operator/floor at {size}", f"operator {size}", f"floor {size}")
                report.ratio(f"hand/operator at {size}", f"hand loop {size}",
                             f"operator {size}")
                if against:
                    report.ratio(f"against/operator at {size}", f"against {size}",
                                 f"operator {size}")
            api.close()
    finally:
        for operator in operators.values():
            operator.stop()
        sandbox.stop()
    report.notes.append(f"logs in {workdir}")
    return report


def _namespace(label: str, size: int) -> str:
    """Where the clusters of one size live for one variant (operator, against)."""
    return f"{label}-{size}"


def _create_clusters(api: Api, labels: Iterable[str], addresses: Sequence[str]) -> None:
    for label in labels:
        for index, address in enumerate(addresses):
            api.create_cluster(_namespace(label, len(addresses)), f"dask-{index:03d}", address)


def _delete_clusters(api: Api, labels: Iterable[str], size: int) -> None:
    for label in labels:
        for index in range(size):
            api.delete_cluster(_namespace(label, size), f"dask-{index:03d}")


def _one_round(report: Report, api: Api, operators: dict[str, OperatorProcess],
               addresses: Sequence[str], marks: Path, index: int) -> None:
    size = len(addresses)
    tag = f"{size}-{index}"
    report.series_of(f"hand loop {size}").add(_hand_loop(addresses, marks, f"hand-{tag}"))
    report.series_of(f"floor {size}").add(_floor(addresses, marks, f"floor-{tag}"))
    for label, operator in operators.items():
        _through_the_api(report, api, operator, label, addresses, marks, index)


def _through_the_api(report: Report, api: Api, operator: OperatorProcess, label: str,
                     addresses: Sequence[str], marks: Path, index: int) -> None:
    size = len(addresses)
    namespace, name = _namespace(label, size), f"mark-{index}"
    tag = f"{namespace}-{index}"
    cpu, started = operator.cpu_seconds(), time.time()
    api.create_plugin(namespace, name, mark_spec(marks, tag))
    setups = wait_for_marks(marks, tag, size)
    report.series_of(f"{label} {size}").add(max(setups.values()) - started)
    asyncio.run(wait_for_records(addresses, plugin_name(namespace, name)))
    report.series_of(f"{label} {size}, records").add(time.time() - started)
    report.series_of(f"{label} {size}, operator cpu").add(operator.cpu_seconds() - cpu)
    seen = _handler_invoked_at(operator, namespace, name)
    report.series_of(f"{label} {size}, watch latency").add(seen - started)

    api.delete_plugin(namespace, name)
    wait_until(f"{namespace}/{name} is deleted",
               lambda: not api.plugin_exists(namespace, name), timeout=60, interval=0.1)
    # The next plugin is an apply of its own, not part of a burst with this deletion.
    time.sleep(2 * SETTLE_SECONDS)


def _hand_loop(addresses: Sequence[str], marks: Path, tag: str) -> float:
    from distributed import Client
    from dpo_bench_plugins import Mark  # type: ignore[import-not-found]

    started = time.time()
    for address in addresses:
        with Client(address, timeout=30) as client:
            client.register_plugin(Mark(str(marks), tag), name=tag)
    setups = wait_for_marks(marks, tag, len(addresses))
    elapsed = max(setups.values()) - started
    asyncio.run(_unregister(addresses, tag))
    return elapsed


def _floor(addresses: Sequence[str], marks: Path, tag: str) -> float:
    spec = parse_spec(mark_spec(marks, tag))
    payload = build_payload(tag, spec)

    async def register_everywhere() -> None:
        clients = [SchedulerClient(address) for address in addresses]
        try:
            await asyncio.gather(*(c.register("worker", tag, payload) for c in clients))
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    started = time.time()
    asyncio.run(register_everywhere())
    setups = wait_for_marks(marks, tag, len(addresses))
    elapsed = max(setups.values()) - started
    asyncio.run(_unregister(addresses, tag))
    return elapsed


async def _unregister(addresses: Sequence[str], name: str) -> None:
    clients = [SchedulerClient(address) for address in addresses]
    try:
        await asyncio.gather(*(c.unregister("worker", name) for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients))


def _handler_invoked_at(operator: OperatorProcess, namespace: str, name: str) -> float:
    """When Kopf first invoked our handler for a plugin, from its JSON debug log."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in operator.log().splitlines():
            if "is invoked" not in line or f'"{name}"' not in line:
                continue
            entry = json.loads(line)
            reference = entry.get("object") or {}
            if (reference.get("namespace"), reference.get("name")) == (namespace, name):
                return datetime.datetime.fromisoformat(entry["timestamp"]).timestamp()
        time.sleep(0.1)
    return float("nan")
