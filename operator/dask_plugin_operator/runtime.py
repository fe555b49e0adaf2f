"""The operator's moving parts, wired together, and what each trigger does to them.

Handlers call one method per kind of event; every method updates the inventory and
pokes the clusters whose schedulers may now hold the wrong plugins. The passes do the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from typing import Any

from . import metrics
from .addresses import ADDRESS_ANNOTATION, CLUSTER_LABEL, address_problem, parse_service
from .config import OperatorConfig
from .events import Report
from .fleet import Backoff, Fleet
from .inventory import ClusterEntry, Inventory, Key, PluginEntry, cluster_from_body
from .kube import KubeApi
from .payload import content_hash, registration_kind
from .reconcile import ClusterPass, Outcomes
from .reporting import Reporter
from .scheduler import SchedulerPool, SchedulerUnreachable
from .sentinel import Sentinels
from .spec import SpecError, parse_spec
from .status import ClusterOutcome, ClusterState

logger = logging.getLogger(__name__)

# Plugins applied together (kubectl apply -f a-directory/) arrive as events moments apart.
# Registered one by one, a plugin that sorts before those already registered would move
# them behind it, running their teardown and setup again on every worker; and a thousand
# plugins would cost a thousand passes on every cluster. So a change reaches a cluster at
# once only if it goes last there and no other change came within this time; any other
# waits this long for the rest of its burst, which then reaches the scheduler in one pass.
SETTLE_SECONDS = 0.2


def _key(body: Mapping[str, Any]) -> Key:
    metadata = body.get("metadata") or {}
    return (metadata.get("namespace") or "default", metadata.get("name", ""))


class Runtime:
    """Inventory, scheduler connections, cluster loops and the reporter of one operator."""

    def __init__(self, config: OperatorConfig, kube: KubeApi) -> None:
        self.config = config
        self.inventory = Inventory()
        self.outcomes: Outcomes = {}
        self.pool = SchedulerPool(timeout=config.rpc_timeout)
        self.reporter = Reporter(self.inventory, self.outcomes, kube)
        self.fleet = Fleet(self._run_pass, config.concurrency)
        self.sentinels = Sentinels(timeout=config.rpc_timeout)
        self._pod_marks: dict[Key, tuple[Any, ...]] = {}
        self._settling: dict[Key, asyncio.TimerHandle] = {}
        self._changed_at: dict[Key, float] = {}  # last plugin change on each cluster
        self._checker = asyncio.create_task(self._check_periodically(), name="periodic check")

    async def close(self) -> None:
        for handle in self._settling.values():
            handle.cancel()
        self._checker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._checker
        await self.fleet.close()
        await self.sentinels.close()
        await self.reporter.close()
        await self.pool.close()

    # WorkerPlugins.

    def plugin_seen(self, body: Mapping[str, Any]) -> None:
        key = _key(body)
        metadata = body.get("metadata") or {}
        before = self.inventory.plugin(key)
        generation = int(metadata.get("generation") or 1)
        uid = str(metadata.get("uid", ""))

        if before is not None and (before.uid, before.generation) == (uid, generation):
            if not self.reporter.wrote(key):  # else the watch only echoes what was written
                before.status = dict(body.get("status") or {})
            before.deleting = before.deleting or bool(metadata.get("deletionTimestamp"))
            return

        plugin = self._parse_plugin(key, uid, generation, body)
        self.inventory.put_plugin(plugin)
        self._update_gauges()
        if plugin.error is not None and not plugin.deleting:
            self._report_invalid(plugin)  # a deletion bumps the generation: no news
        if before is not None or _status_is_stale(plugin):
            self.reporter.changed(key)
        self._poke_touched(before, plugin)

    def _poke_touched(self, before: PluginEntry | None, plugin: PluginEntry) -> None:
        """Poke each cluster the change touches: at once, or once its burst has settled."""
        behind = self.inventory.plugins_behind(plugin)
        now = asyncio.get_running_loop().time()
        for cluster in self._clusters_touched(before, plugin):
            in_burst = now - self._changed_at.get(cluster.key, -math.inf) < SETTLE_SECONDS
            self._changed_at[cluster.key] = now
            if in_burst or _joins_ahead(before, plugin, cluster, behind):
                self._poke_when_settled(cluster.key)
            elif cluster.key not in self._settling:
                self.fleet.poke(cluster.key)

    def _poke_when_settled(self, key: Key) -> None:
        if key not in self._settling:
            self._settling[key] = asyncio.get_running_loop().call_later(
                SETTLE_SECONDS, self._settled, key)

    def _settled(self, key: Key) -> None:
        del self._settling[key]
        self.fleet.poke(key)

    async def plugin_gone(self, key: Key) -> None:
        """Forget a plugin deleted from the API, unregistering it first if still needed.

        The delete handler normally unregistered it already. It did not run if the plugin
        was deleted before Kopf added the finalizer (which an API error can delay while
        the plugin is registered), or if someone removed the finalizer by hand.
        """
        plugin = self.inventory.plugin(key)
        if plugin is not None and not plugin.deleting:
            logger.warning("Plugin %s/%s was deleted without its finalizer; it is "
                           "unregistered now.", *key)
            await self.plugin_deleted(key)
        self.inventory.drop_plugin(key)
        self.outcomes.pop(key, None)
        self.reporter.forget(key)
        self._update_gauges()

    async def plugin_deleted(self, key: Key) -> list[str]:
        """Unregister a deleted plugin everywhere; the clusters it could not leave.

        Each cluster is tried until the deletion timeout. The status names the clusters
        that still hold the plugin then, before the finalizer is released.
        """
        plugin = self.inventory.plugin(key)
        if plugin is None:
            return []
        plugin.deleting = True
        self.reporter.changed(key)
        clusters = self._clusters_holding(plugin)
        results = await asyncio.gather(*(self._sync_bounded(c) for c in clusters))
        stranded = [cluster for cluster, ok in zip(clusters, results, strict=True) if not ok]
        if stranded:
            self._mark_stranded(plugin, stranded)
            await self._flush_status(plugin)
        self._report_unaddressed(plugin, clusters)
        return [cluster.name for cluster in stranded]

    def _report_unaddressed(self, plugin: PluginEntry, clusters: list[ClusterEntry]) -> None:
        """Say where a deleted plugin may stay because no scheduler address is known."""
        unaddressed = [c.name for c in clusters if self.inventory.address_of(c) is None]
        if unaddressed:
            self.reporter.announce(Report(
                plugin, "Warning", "SchedulerAddressUnknown",
                f"Released although no scheduler address is known for cluster(s) "
                f"{', '.join(unaddressed)}; if the plugin is registered there, the "
                "operator unregisters it once the address is known again.",
            ))

    def _clusters_holding(self, plugin: PluginEntry) -> list[ClusterEntry]:
        """The clusters a deleted plugin may be registered on, so only those are waited for.

        Others can hold it only if they stopped matching while out of reach; their passes
        remove it as an orphan when they answer again.
        """
        clusters = self.inventory.clusters_in(plugin.namespace)
        worked_on = set(self.outcomes.get(plugin.key, {}))
        if plugin.spec is None:
            # An invalid spec selects nothing: an earlier one went where the operator
            # worked on it, or where the status (kept while invalid) says it went.
            worked_on.update(_clusters_named(plugin.status))
            return [c for c in clusters if c.name in worked_on]
        return [c for c in clusters if plugin.selects(c) or c.name in worked_on]

    async def _sync_bounded(self, cluster: ClusterEntry) -> bool:
        async def until_unregistered() -> None:
            # A scheduler that is restarting may answer again in a moment: retry, with
            # backoff so that a refused connection does not make the loop hot.
            backoff = Backoff()
            while not await self.fleet.sync(cluster.key):
                await asyncio.sleep(backoff.next_delay())

        try:
            await asyncio.wait_for(until_unregistered(), timeout=self.config.deletion_timeout)
        except asyncio.TimeoutError:  # not yet TimeoutError on 3.10
            return False
        return True

    def _mark_stranded(self, plugin: PluginEntry, clusters: list[ClusterEntry]) -> None:
        timeout = f"{self.config.deletion_timeout:g} s"
        message = (f"The plugin was deleted, but the scheduler did not answer within "
                   f"{timeout}; it keeps the plugin until it restarts.")
        by_cluster = self.outcomes.setdefault(plugin.key, {})
        for cluster in clusters:
            before = by_cluster.get(cluster.name)
            by_cluster[cluster.name] = ClusterOutcome(
                cluster=cluster.name, state="Unreachable", generation=plugin.generation,
                message=message, address=self.inventory.address_of(cluster),
                scheduler_id=before.scheduler_id if before else None,
            )

        names = ", ".join(cluster.name for cluster in clusters)
        whose, answers = ("scheduler of cluster", "it answers") if len(clusters) == 1 \
            else ("schedulers of clusters", "they answer")
        self.reporter.announce(Report(
            plugin, "Warning", "DeletionTimedOut",
            f"Released although the {whose} {names} did not answer within {timeout}; "
            f"the plugin stays registered there until {answers} again, when the operator "
            "unregisters it.",
        ))

    async def _flush_status(self, plugin: PluginEntry) -> None:
        # The Event says the same; a failed write must not hold the deletion up, nor
        # make Kopf run the whole deletion again.
        try:
            await self.reporter.flush(plugin.key)
        except Exception as exc:
            logger.warning("Status of deleted plugin %s/%s was not written (%s).",
                           plugin.namespace, plugin.name, exc)

    def _parse_plugin(self, key: Key, uid: str, generation: int,
                      body: Mapping[str, Any]) -> PluginEntry:
        status = dict(body.get("status") or {})
        deleting = bool((body.get("metadata") or {}).get("deletionTimestamp"))
        try:
            spec = parse_spec(body.get("spec") or {})
        except SpecError as error:
            return PluginEntry(key[0], key[1], uid, generation, None, error,
                               deleting=deleting, status=status)
        return PluginEntry(
            key[0], key[1], uid, generation, spec, None,
            kind=registration_kind(spec), content_hash=content_hash(spec),
            deleting=deleting, status=status,
        )

    def _clusters_touched(self, before: PluginEntry | None,
                          after: PluginEntry) -> list[ClusterEntry]:
        return [
            cluster for cluster in self.inventory.clusters_in(after.namespace)
            if after.selects(cluster) or (before is not None and before.selects(cluster))
        ]

    def _report_invalid(self, plugin: PluginEntry) -> None:
        message = f"The spec cannot be used: {plugin.error}. Nothing was changed on any " \
                  "cluster; fix the spec and apply it again."
        logger.warning("Plugin %s/%s (generation %d): %s", plugin.namespace, plugin.name,
                       plugin.generation, message)
        self.reporter.announce_invalid(plugin, message)

    # DaskClusters.

    def cluster_seen(self, body: Mapping[str, Any]) -> None:
        cluster = cluster_from_body(body)
        before = self.inventory.cluster(cluster.key)
        address = self.inventory.address_at(cluster.key)
        self.inventory.put_cluster(cluster)
        if before is not None and before == cluster:
            return
        self._poke_former_neighbours(cluster.key, address)

        self._update_gauges()
        for plugin in self.inventory.plugins_in(cluster.namespace):
            if before is None or plugin.selects(before) != plugin.selects(cluster):
                self.reporter.changed(plugin.key)
        self.fleet.poke(cluster.key)

    async def cluster_gone(self, key: Key) -> None:
        address = self.inventory.address_at(key)
        cluster = self.inventory.drop_cluster(key)
        self._poke_former_neighbours(key, address)
        self._changed_at.pop(key, None)
        await self.fleet.forget(key)
        await self.sentinels.forget(key)
        self._update_gauges()
        if cluster is None:
            return
        for plugin in self.inventory.plugins_in(cluster.namespace):
            if self.outcomes.get(plugin.key, {}).pop(cluster.name, None) is not None \
                    or plugin.selects(cluster):
                self.reporter.changed(plugin.key)

    # Scheduler Services and Pods.

    def service_seen(self, body: Mapping[str, Any]) -> None:
        service = parse_service(body)
        if service is None:
            return
        key = (service.namespace, service.cluster)
        address = self.inventory.address_at(key)
        self.inventory.put_service(service)
        self._poke_former_neighbours(key, address)
        self._poke_known(*key)

    def service_gone(self, body: Mapping[str, Any]) -> None:
        service = parse_service(body)
        if service is None:
            return
        key = (service.namespace, service.cluster)
        address = self.inventory.address_at(key)
        self.inventory.drop_service(*key)
        self._poke_former_neighbours(key, address)
        self._poke_known(*key)

    def scheduler_pod_seen(self, body: Mapping[str, Any]) -> None:
        """A scheduler Pod that (re)started and became ready means a scheduler to refill."""
        metadata = body.get("metadata") or {}
        cluster = (metadata.get("labels") or {}).get(CLUSTER_LABEL)
        if not cluster:
            return
        key = (metadata.get("namespace") or "default", cluster)
        mark = _pod_mark(body)
        if self._pod_marks.get(key) != mark:
            self._pod_marks[key] = mark
            self._poke_known(*key)

    def _poke_former_neighbours(self, key: Key, before: str | None) -> None:
        """Re-check the clusters left at a scheduler address that this cluster gave up.

        They may have been refused for sharing it, and need not wait for the periodic check.
        """
        if before is None or before == self.inventory.address_at(key):
            return
        for other in self.inventory.clusters_at(before):
            self.fleet.poke(other)

    def _poke_known(self, namespace: str, cluster: str) -> None:
        if self.inventory.cluster((namespace, cluster)) is not None:
            self.fleet.poke((namespace, cluster))

    # Passes and the periodic check.

    async def _run_pass(self, key: Key) -> bool:
        cluster = self.inventory.cluster(key)
        if cluster is None:
            return True
        address = self.inventory.address_of(cluster)
        if address is None:
            self._mark_waiting(cluster)
            return True
        problem = address_problem(address)
        if problem is not None:
            self._mark_outcomes(cluster, "Error", (
                f"The scheduler address {address} cannot be used: {problem}. Fix the "
                f"annotation {ADDRESS_ANNOTATION} on the DaskCluster."))
            return True
        sharing = self._clusters_sharing(cluster, address)
        if sharing:
            # Each cluster would unregister what the other's plugins need, pass after pass.
            self._mark_outcomes(cluster, "Error", (
                f"The scheduler address {address} is also that of cluster(s) "
                f"{', '.join(sharing)}; give each DaskCluster its own scheduler. Nothing is "
                "changed on that scheduler until then."))
            return True

        await self.sentinels.watch(key, address, lambda: self.fleet.poke(key))
        client = self.pool.client(address)
        run = ClusterPass(cluster, self.inventory, client, self.outcomes,
                          self.reporter.changed, self.reporter.announce)
        if not await self.sentinels.answers(key):
            # Nothing listens there: spare the pass a connection timeout and its slot.
            refused = SchedulerUnreachable(address, "it accepts no connections")
            run.mark_unreachable(refused)
            return self._unreachable(key, refused)
        try:
            await run.run()
        except SchedulerUnreachable as exc:
            return self._unreachable(key, exc)
        metrics.RECONCILES.labels("ok").inc()
        return True

    def _unreachable(self, key: Key, cause: SchedulerUnreachable) -> bool:
        logger.debug("Cluster %s/%s is unreachable: %s", *key, cause)
        metrics.RECONCILES.labels("unreachable").inc()
        return False

    def _clusters_sharing(self, cluster: ClusterEntry, address: str) -> list[str]:
        others = self.inventory.clusters_at(address) - {cluster.key}
        return [f"{namespace}/{name}" for namespace, name in sorted(others)]

    def _mark_waiting(self, cluster: ClusterEntry) -> None:
        self._mark_outcomes(cluster, "Pending", (
            f"Waiting for the scheduler Service: a Service labelled "
            f"dask.org/cluster-name={cluster.name} and dask.org/component=scheduler "
            f"(dask-kubernetes creates {cluster.name}-scheduler), or the annotation "
            f"{ADDRESS_ANNOTATION} on the DaskCluster."))

    def _mark_outcomes(self, cluster: ClusterEntry, state: ClusterState,
                       message: str) -> None:
        for plugin in self.inventory.plugins_in(cluster.namespace):
            if plugin.deleting or not plugin.selects(cluster):
                continue
            outcome = ClusterOutcome(cluster=cluster.name, state=state,
                                     generation=plugin.generation, message=message)
            by_cluster = self.outcomes.setdefault(plugin.key, {})
            if by_cluster.get(cluster.name) != outcome:
                by_cluster[cluster.name] = outcome
                self.reporter.changed(plugin.key)

    async def _check_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.check_interval)
            logger.debug("Checking every known scheduler against what it should hold.")
            self.fleet.poke_all()
            self._update_gauges()

    def _update_gauges(self) -> None:
        plugins, clusters = self.inventory.counts
        metrics.KNOWN_PLUGINS.set(plugins)
        metrics.KNOWN_CLUSTERS.set(clusters)


def _joins_ahead(before: PluginEntry | None, after: PluginEntry, cluster: ClusterEntry,
                 behind: list[PluginEntry]) -> bool:
    """Whether a plugin change puts the plugin on a cluster ahead of plugins already there.

    A replacement in place, an unregistration or a plugin that goes last moves nothing
    else on the scheduler; only a plugin that takes a new place ahead of others does.
    """
    if not after.selects(cluster):
        return False
    stays = before is not None and before.selects(cluster) and before.kind == after.kind \
        and before.order == after.order
    return not stays and any(other.selects(cluster) for other in behind)


def _status_is_stale(plugin: PluginEntry) -> bool:
    return plugin.error is not None or \
        plugin.status.get("observedGeneration") != plugin.generation


def _pod_mark(body: Mapping[str, Any]) -> tuple[Any, ...]:
    status = body.get("status") or {}
    containers = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    ready = all(bool(c.get("ready")) for c in containers) and bool(containers)
    return ((body.get("metadata") or {}).get("uid"), restarts, ready)


def _clusters_named(status: Mapping[str, Any]) -> set[str]:
    return {str(entry.get("name")) for entry in status.get("clusters") or []
            if isinstance(entry, Mapping)}
