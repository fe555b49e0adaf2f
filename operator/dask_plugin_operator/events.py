"""Events about plugins: what happened on many clusters at once becomes one Event.

A plugin that fans out over fifty clusters would otherwise post fifty Events with the same
reason moments apart: fifty API writes, and a ``kubectl describe`` that scrolls. Reports
gathered over a short window are grouped by plugin, type and reason, and each group is
worded as one message that names its clusters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .inventory import Key, PluginEntry

# Kubernetes keeps Event messages short; kube.post_event cuts anything longer.
MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class Report:
    """A change worth an Event on a plugin, on one cluster or on the plugin as a whole."""

    plugin: PluginEntry
    type: str  # Normal or Warning
    reason: str
    message: str
    cluster: str | None = None


GroupKey = tuple[Key, str, str]  # plugin, type, reason


class PendingEvents:
    """Reports about clusters waiting to be posted, grouped by plugin, type and reason.

    A report joins the group already waiting for its plugin and reason, so reports that
    come faster than Events can be posted make fewer, fuller Events instead of a backlog.
    Within a group a cluster counts once, with its latest report.
    """

    def __init__(self) -> None:
        self._groups: dict[GroupKey, dict[str, Report]] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def add(self, report: Report) -> None:
        by_cluster = self._groups.setdefault((report.plugin.key, report.type, report.reason), {})
        by_cluster.pop(report.cluster or "", None)
        by_cluster[report.cluster or ""] = report

    def pop(self) -> list[Report]:
        """The group that has waited longest."""
        key = next(iter(self._groups))
        return list(self._groups.pop(key).values())


def group_message(reports: Sequence[Report]) -> str:
    """One message for a group: the clusters, then what happened there.

    Clusters with the same message share it; otherwise each cluster gets its own, as many
    as fit, and the rest are counted (the plugin's status has every one of them).
    """
    messages = {report.message for report in reports}
    if len(messages) == 1:
        return f"{_clusters([r.cluster or '' for r in reports])}: {messages.pop()}"

    parts: list[str] = []
    for index, report in enumerate(reports):
        part = f"{_clusters([report.cluster or ''])}: {report.message}"
        rest = len(reports) - index
        tail = f" ... and {rest} more clusters; see the plugin's status."
        if len("; ".join([*parts, part])) + len(tail) > MESSAGE_LIMIT:
            return "; ".join(parts) + tail
        parts.append(part)
    return "; ".join(parts)


def _clusters(names: Sequence[str], room: int = MESSAGE_LIMIT // 2) -> str:
    """``Cluster a`` or ``Clusters a, b and c``, counting those that do not fit in ``room``."""
    if len(names) == 1:
        return f"Cluster {names[0]}"
    shown = list(names)
    while len(shown) > 1 and len(", ".join(shown)) > room:
        shown.pop()
    if len(shown) < len(names):
        return f"Clusters {', '.join(shown)} and {len(names) - len(shown)} more"
    return f"Clusters {', '.join(names[:-1])} and {names[-1]}"
