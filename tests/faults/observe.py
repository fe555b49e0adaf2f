"""What the fault tests read from logs and the API: counts, moments and per-cluster status.

Counts come from log lines that the operator and the test plugins write on every action,
so that "exactly once" is checked against what really ran, not against what was meant.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from e2e.harness import Kube, OperatorProcess, condition, eventually

PERIODIC_CHECK = "Checking every known scheduler against what it should hold."
# Both Kopf's full log format and distributed's start lines with this timestamp.
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


def stamp(line: str) -> datetime.datetime:
    """The moment a log line was written."""
    found = _STAMP.search(line)
    assert found, f"no timestamp in {line!r}"
    return datetime.datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f")


def lines(text: str, pattern: str) -> list[str]:
    """The lines of a log that match ``pattern`` (a regular expression)."""
    return [line for line in text.splitlines() if re.search(pattern, line)]


def wait_for_periodic_checks(operator: OperatorProcess, count: int = 3) -> None:
    """Let ``count`` more periodic checks run, so that anything looping shows in the logs."""
    seen = operator.log().count(PERIODIC_CHECK)
    eventually(f"{count} more periodic checks ran",
               lambda: operator.log().count(PERIODIC_CHECK) >= seen + count, timeout=60)


def cluster_entry(plugin: Mapping[str, Any] | None, cluster: str) -> dict[str, Any]:
    """The status entry of one DaskCluster in a plugin's status, or {}."""
    for entry in ((plugin or {}).get("status") or {}).get("clusters") or []:
        if entry.get("name") == cluster:
            return dict(entry)
    return {}


def wait_for_state(kube: Kube, namespace: str, plugin: str, cluster: str,
                   state: str, timeout: float = 60) -> dict[str, Any]:
    """Wait until the plugin's status says ``state`` for ``cluster``; return the entry."""
    def probe() -> dict[str, Any] | None:
        entry = cluster_entry(kube.plugin(namespace, plugin), cluster)
        return entry if entry.get("state") == state else None
    return eventually(f"{plugin} is {state} on {cluster}", probe, timeout=timeout)


def wait_for_reason(kube: Kube, namespace: str, plugin: str, reason: str,
                    type_: str = "Ready") -> dict[str, Any]:
    """Wait until the plugin's condition ``type_`` has ``reason``; return the plugin."""
    return eventually(
        f"{plugin} has {type_} reason {reason}",
        lambda: (condition(kube.plugin(namespace, plugin), type_).get("reason") == reason
                 and kube.plugin(namespace, plugin)))


def events_about(kube: Kube, namespace: str, plugin: str, reason: str) -> list[str]:
    """Messages of the Events with ``reason`` posted about a plugin."""
    return [e["message"] for e in kube.events(namespace, plugin) if e["reason"] == reason]
