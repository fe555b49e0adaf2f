"""Memory and CPU at scale: the operator's bookkeeping for 1,000 plugins and 200 clusters.

200 DaskClusters in ten namespaces point at ports of 127.0.0.1 where nothing listens,
so no scheduler answers and what is measured is the operator's own work: the inventory,
the status reports, retries with backoff, the sentinels. WorkerPlugins are added in
steps up to 1,000 (each selecting the 20 clusters of its namespace); after each step the
benchmark waits until every plugin's status reports all its clusters, then reads the
operator's resident memory and CPU time from /proc, and its CPU use while idle.

Baselines, in the same run: the same operator process before any object exists (memory)
and with the 200 clusters but no plugin (idle CPU).
The sandbox runs in a process of its own; its CPU time is reported, not counted.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from dask_plugin_operator.localdask import free_port

from .api import Api, mark_spec
from .figures import Report
from .processes import Child, OperatorProcess, SandboxProcess, wait_until

NAMESPACES = 10
CLUSTERS = 200
STEPS = (100, 250, 500, 1000)
QUICK_STEPS = (100, 1000)
MIB = 1024 * 1024


def run(runs: int, quick: bool) -> Report:
    steps = QUICK_STEPS if quick else STEPS
    idle = 10.0 if quick else 20.0
    report = Report("scale", {"namespaces": NAMESPACES, "clusters": CLUSTERS,
                              "plugin_steps": list(steps), "idle_window_s": idle})
    workdir = Path(tempfile.mkdtemp(prefix="dpo-bench-scale-"))
    namespaces = [f"scale-{index}" for index in range(NAMESPACES)]

    sandbox = SandboxProcess(workdir)
    try:
        api = Api(sandbox.kubeconfig)
        for namespace in namespaces:
            api.create_namespace(namespace)
        operator = OperatorProcess(sandbox, [], workdir / "operator.log")
        try:
            time.sleep(2)
            _measure(report, "empty", operator, idle)

            cpu = operator.cpu_seconds()
            for index, address in enumerate(_absent_addresses(CLUSTERS)):
                api.create_cluster(namespaces[index % NAMESPACES], f"dask-{index:03d}",
                                   address)
            time.sleep(5)
            report.series_of("cpu to take in 200 clusters").add(operator.cpu_seconds() - cpu)
            _measure(report, "200 clusters", operator, idle)

            created = 0
            for total in steps:
                _add_plugins(report, api, operator, sandbox, namespaces, created, total)
                created = total
                _measure(report, f"{total} plugins", operator, idle)
        finally:
            operator.stop()
            api.close()
    finally:
        sandbox.stop()

    last, first = steps[-1], steps[0]
    report.ratio("memory at 1000x200 / empty", f"rss, {last} plugins", "rss, empty")
    # The empty operator idles at next to nothing: compare with the clusters alone.
    report.ratio("idle cpu at 1000x200 / 200 clusters alone", f"idle cpu, {last} plugins",
                 "idle cpu, 200 clusters")
    growth = report.series_of("rss growth per plugin", unit="KiB")
    rss = report.series
    growth.add((rss[f"rss, {last} plugins"].median - rss[f"rss, {first} plugins"].median)
               * 1024 / (last - first))
    report.notes.append(f"logs in {workdir}")
    return report


def _absent_addresses(count: int) -> list[str]:
    """Distinct closed ports: a free port is only free now, so the same one can come twice."""
    ports: dict[int, None] = {}
    while len(ports) < count:
        ports[free_port()] = None
    return [f"tcp://127.0.0.1:{port}" for port in ports]


def _measure(report: Report, label: str, operator: Child, idle: float) -> None:
    """Resident memory now, and the share of a CPU used over an idle window."""
    cpu, started = operator.cpu_seconds(), time.monotonic()
    time.sleep(idle)
    used = operator.cpu_seconds() - cpu
    report.series_of(f"idle cpu, {label}", unit="%").add(
        100 * used / (time.monotonic() - started))
    report.series_of(f"rss, {label}", unit="MiB").add(operator.rss_bytes() / MIB)


def _add_plugins(report: Report, api: Api, operator: Child, sandbox: Child,
                 namespaces: list[str], first: int, last: int) -> None:
    cpu, sandbox_cpu, started = operator.cpu_seconds(), sandbox.cpu_seconds(), time.time()
    for index in range(first, last):
        namespace = namespaces[index % NAMESPACES]
        api.create_plugin(namespace, f"plugin-{index:04d}",
                          mark_spec(Path("/nonexistent"), f"plugin-{index}"))
    wait_until(f"all {last} plugins report their clusters",
               lambda: _settled(api, last), timeout=600, interval=1.0)
    report.series_of(f"settle {first}->{last} plugins").add(time.time() - started)
    report.series_of(f"cpu to settle {first}->{last} plugins").add(
        operator.cpu_seconds() - cpu)
    report.series_of(f"sandbox cpu to settle {first}->{last} plugins").add(
        sandbox.cpu_seconds() - sandbox_cpu)


def _settled(api: Api, expected: int) -> bool:
    plugins = api.plugins()
    clusters_each = CLUSTERS // NAMESPACES
    return len(plugins) == expected and all(_reports_all(p, clusters_each) for p in plugins)


def _reports_all(plugin: dict[str, Any], clusters: int) -> bool:
    status = plugin.get("status") or {}
    entries = status.get("clusters") or []
    return (status.get("observedGeneration") == plugin["metadata"].get("generation")
            and len(entries) == clusters
            and all(entry.get("state") == "Unreachable" for entry in entries))
