"""The status of a WorkerPlugin: a report composed from what happened on each cluster.

Composition is a pure function of the plugin and its per-cluster outcomes, so that the
same facts always give the same status and an unchanged status is never written again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .inventory import PluginEntry

ClusterState: TypeAlias = Literal[
    "Pending", "Registered", "Failed", "NotApplied", "Unreachable", "Error"
]


@dataclass(frozen=True, slots=True)  # one per plugin and cluster: thousands of them
class ClusterOutcome:
    """What the operator last saw or did for one plugin on one cluster."""

    cluster: str
    state: ClusterState
    generation: int
    message: str
    address: str | None = None
    scheduler_id: str | None = None
    workers_ok: int | None = None
    workers_failed: int | None = None
    first_error: str | None = None
    last_registered: str | None = None

    def as_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.cluster, "state": self.state}
        optional = {
            "message": self.message,
            "schedulerAddress": self.address,
            "schedulerId": self.scheduler_id,
            "workersOk": self.workers_ok,
            "workersFailed": self.workers_failed,
            "firstError": self.first_error,
            "lastRegistered": self.last_registered,
        }
        entry.update({key: value for key, value in optional.items() if value is not None})
        return entry


@dataclass(frozen=True)
class Condition:
    type: str
    status: Literal["True", "False"]
    reason: str
    message: str


def compose_status(
    plugin: PluginEntry,
    matched: Sequence[str],
    outcomes: Mapping[str, ClusterOutcome],
    previous: Mapping[str, Any],
    now: str,
) -> dict[str, Any]:
    """The full ``status`` for ``plugin``; ``previous`` keeps transition times stable."""
    entries = [outcomes.get(name) or _pending(name, plugin) for name in sorted(matched)]
    ready, invalid = _conditions(plugin, entries)
    observed = _observed_generation(plugin, entries)

    status: dict[str, Any] = {
        "observedGeneration": observed,
        "matched": len(entries),
        "registered": sum(1 for entry in entries if entry.state == "Registered"),
        "failed": sum(1 for entry in entries if entry.state in ("Failed", "Error")),
        "clusters": [entry.as_status() for entry in entries],
        "conditions": [
            _condition_status(condition, observed, previous, now)
            for condition in (ready, invalid)
        ],
    }
    if plugin.spec is not None:
        status["pluginType"] = plugin.kind or plugin.spec.kind  # as registered
        status["source"] = plugin.spec.source_summary
    elif plugin.error is not None:
        # An invalid generation changes nothing on the clusters: keep reporting them.
        status.update({key: previous[key] for key in KEPT_WHILE_INVALID if key in previous})
    return status


KEPT_WHILE_INVALID = ("matched", "registered", "failed", "clusters", "pluginType", "source")


def _pending(cluster: str, plugin: PluginEntry) -> ClusterOutcome:
    return ClusterOutcome(
        cluster=cluster,
        state="Pending",
        generation=0,  # nothing was done for any generation yet
        message="Waiting for the operator to reach the scheduler.",
    )


def _observed_generation(plugin: PluginEntry, entries: Sequence[ClusterOutcome]) -> int:
    # A generation counts as observed once every matched cluster was worked on for it.
    if plugin.spec is None or not entries:
        return plugin.generation
    return min(plugin.generation, *(entry.generation for entry in entries))


def _conditions(
    plugin: PluginEntry, entries: Sequence[ClusterOutcome]
) -> tuple[Condition, Condition]:
    if plugin.error is not None:
        text = (f"The spec cannot be used: {plugin.error}. Whatever an earlier generation "
                "registered stays in place until the spec is fixed.")
        return (
            Condition("Ready", "False", "Invalid", text),
            Condition("Invalid", "True", "SpecInvalid", text),
        )

    valid = Condition("Invalid", "False", "SpecValid", "The spec is valid.")
    if plugin.deleting:
        deleting = Condition("Ready", "False", "Deleting",
                             "The plugin is being unregistered from its clusters.")
        return deleting, valid
    return _readiness(plugin, entries), valid


def _readiness(plugin: PluginEntry, entries: Sequence[ClusterOutcome]) -> Condition:
    if not entries:
        return Condition(
            "Ready", "False", "NoMatchingClusters",
            f"No DaskCluster in namespace {plugin.namespace} matches the selector yet; "
            "the plugin is registered on matching clusters as they appear.",
        )

    registered = [entry for entry in entries if entry.state == "Registered"]
    if len(registered) == len(entries):
        return Condition(
            "Ready", "True", "Registered",
            f"Registered on {len(entries)} of {len(entries)} matching clusters.",
        )

    # Report the most serious problem first: a person must act on failures.
    for state, reason, words in (
        ("Failed", "SetupFailed", "failed"),
        ("Error", "RegistrationFailed", "refused"),
        ("NotApplied", "NotApplied", "not applied"),
        ("Unreachable", "SchedulerUnreachable", "unreachable"),
        ("Pending", "Pending", "pending"),
    ):
        troubled = [entry for entry in entries if entry.state == state]
        if troubled:
            first = troubled[0]
            return Condition(
                "Ready", "False", reason,
                f"Registered on {len(registered)} of {len(entries)} matching clusters; "
                f"{len(troubled)} {words}, first {first.cluster}: {first.message}",
            )
    raise AssertionError("every cluster state is covered above")


def _condition_status(
    condition: Condition, observed: int, previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    before: Mapping[str, Any] = next(
        (c for c in previous.get("conditions") or [] if c.get("type") == condition.type), {}
    )
    unchanged = before.get("status") == condition.status
    return {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": condition.message,
        "observedGeneration": observed,
        "lastTransitionTime": before.get("lastTransitionTime", now) if unchanged else now,
    }
