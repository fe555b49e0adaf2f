"""What the operator knows about the world: plugins, clusters and scheduler Services.

The Kopf handlers keep this in-memory view up to date from watch events; everything else
reads it. Entries are indexed by namespace, because a namespaced WorkerPlugin only ever
selects DaskClusters of its own namespace, and no lookup should grow with the number of
objects elsewhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .addresses import SchedulerService, scheduler_address
from .spec import PluginKind, PluginSpec, SpecError, plugin_name

Key: TypeAlias = tuple[str, str]  # (namespace, name)


@dataclass
class PluginEntry:
    """One WorkerPlugin resource as last seen, with its spec parsed once per generation."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: PluginSpec | None
    error: SpecError | None
    kind: PluginKind | None = None
    content_hash: str | None = None
    deleting: bool = False
    status: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)

    @property
    def scheduler_name(self) -> str:
        """The name the plugin carries on schedulers; the prefix avoids hand-made ones."""
        return plugin_name(self.namespace, self.name)

    @property
    def reference(self) -> dict[str, str]:
        """An object reference for Events about this plugin."""
        return {
            "apiVersion": "plugins.dask.org/v1alpha1",
            "kind": "WorkerPlugin",
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
        }

    @property
    def order(self) -> tuple[int, str]:
        """Where the plugin goes among those of its kind on a scheduler: priority, then name."""
        return (self.spec.priority if self.spec else 0, self.name)

    def selects(self, cluster: ClusterEntry) -> bool:
        if self.spec is None or cluster.namespace != self.namespace:
            return False
        return self.spec.selector.matches(cluster.labels)


@dataclass
class ClusterEntry:
    """One DaskCluster as last seen: only what selection and addressing need."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    phase: str | None = None

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


def cluster_from_body(body: Mapping[str, Any]) -> ClusterEntry:
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    return ClusterEntry(
        namespace=metadata.get("namespace", "default"),
        name=metadata.get("name", ""),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        phase=status.get("phase"),
    )


class Inventory:
    """Plugins, clusters and scheduler Services, indexed by namespace."""

    def __init__(self) -> None:
        self.complete = False
        """Whether every existing object has been seen once (Kopf's indexes are filled)."""
        self._plugins: dict[str, dict[str, PluginEntry]] = defaultdict(dict)
        self._clusters: dict[str, dict[str, ClusterEntry]] = defaultdict(dict)
        self._services: dict[Key, SchedulerService] = {}
        self._addresses: dict[Key, str] = {}
        self._at_address: dict[str, set[Key]] = defaultdict(set)

    # Plugins.

    def plugin(self, key: Key) -> PluginEntry | None:
        return self._plugins[key[0]].get(key[1])

    def put_plugin(self, entry: PluginEntry) -> None:
        self._plugins[entry.namespace][entry.name] = entry

    def drop_plugin(self, key: Key) -> PluginEntry | None:
        return self._plugins[key[0]].pop(key[1], None)

    def plugins_in(self, namespace: str) -> list[PluginEntry]:
        return list(self._plugins[namespace].values())

    def plugins_behind(self, plugin: PluginEntry) -> list[PluginEntry]:
        """The other plugins that a scheduler holding both would register after ``plugin``."""
        return [
            other for other in self._plugins[plugin.namespace].values()
            if other.key != plugin.key and other.kind == plugin.kind and not other.deleting
            and other.order > plugin.order
        ]

    # Clusters.

    def cluster(self, key: Key) -> ClusterEntry | None:
        return self._clusters[key[0]].get(key[1])

    def put_cluster(self, entry: ClusterEntry) -> None:
        self._clusters[entry.namespace][entry.name] = entry
        self._readdress(entry.key)

    def drop_cluster(self, key: Key) -> ClusterEntry | None:
        dropped = self._clusters[key[0]].pop(key[1], None)
        self._readdress(key)
        return dropped

    def clusters_in(self, namespace: str) -> list[ClusterEntry]:
        return list(self._clusters[namespace].values())

    def clusters_selected_by(self, plugin: PluginEntry) -> list[ClusterEntry]:
        return [c for c in self.clusters_in(plugin.namespace) if plugin.selects(c)]

    # Scheduler Services, keyed by the cluster they belong to.

    def put_service(self, service: SchedulerService) -> None:
        self._services[(service.namespace, service.cluster)] = service
        self._readdress((service.namespace, service.cluster))

    def drop_service(self, namespace: str, cluster: str) -> None:
        self._services.pop((namespace, cluster), None)
        self._readdress((namespace, cluster))

    def address_of(self, cluster: ClusterEntry) -> str | None:
        return scheduler_address(cluster.annotations, self._services.get(cluster.key))

    # Scheduler addresses, indexed so that a pass sees who else uses its scheduler.

    def address_at(self, key: Key) -> str | None:
        """The scheduler address of a known cluster, as last indexed."""
        return self._addresses.get(key)

    def clusters_at(self, address: str) -> set[Key]:
        """The clusters whose scheduler has this address, from every namespace."""
        return set(self._at_address.get(address, ()))

    def _readdress(self, key: Key) -> None:
        """Index the cluster's address again after the cluster or its Service changed."""
        before = self._addresses.pop(key, None)
        if before is not None:
            self._at_address[before].discard(key)
            if not self._at_address[before]:
                del self._at_address[before]
        cluster = self.cluster(key)
        address = self.address_of(cluster) if cluster is not None else None
        if address is not None:
            self._addresses[key] = address
            self._at_address[address].add(key)

    @property
    def counts(self) -> tuple[int, int]:
        """How many plugins and clusters are known, for metrics."""
        plugins = sum(len(by_name) for by_name in self._plugins.values())
        clusters = sum(len(by_name) for by_name in self._clusters.values())
        return plugins, clusters
