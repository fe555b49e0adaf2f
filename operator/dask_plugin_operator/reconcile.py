"""One pass over one DaskCluster: make its scheduler hold exactly the plugins it should.

A pass reads what the scheduler holds (its identity and the operator's records kept on
it), plans the difference, carries the plan out and records an outcome per plugin. It is
idempotent: running it twice in a row does nothing the second time.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from . import metrics
from .events import Report
from .inventory import ClusterEntry, Inventory, Key, PluginEntry
from .payload import build_payload
from .plan import Plan, Register, Unregister, Wanted, plan_scheduler
from .scheduler import (
    PluginRecord,
    RegistrationResult,
    SchedulerClient,
    SchedulerIdentity,
    SchedulerUnreachable,
    SetupReport,
)
from .setups import SetupTally, Verdict, judge, tally_reports
from .spec import plugin_name
from .status import ClusterOutcome, ClusterState

logger = logging.getLogger(__name__)


Outcomes = dict[Key, dict[str, ClusterOutcome]]
Notify = Callable[[Key], None]
Announce = Callable[[Report], None]

# The outcomes a registration leaves; they hold as long as the scheduler does.
SETTLED: tuple[ClusterState, ...] = ("Registered", "Failed", "NotApplied")

IN_PLACE = "Registered; already in place on the scheduler."


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClusterPass:
    """The work of one pass; construct, then ``await run()``."""

    def __init__(
        self,
        cluster: ClusterEntry,
        inventory: Inventory,
        client: SchedulerClient,
        outcomes: Outcomes,
        changed: Notify,
        announce: Announce,
    ) -> None:
        self.cluster = cluster
        self.inventory = inventory
        self.client = client
        self.outcomes = outcomes
        self.changed = changed
        self.announce = announce
        self.name = f"{cluster.namespace}/{cluster.name}"
        # The loaders' setup reports, by plugin then address, as read at the pass's start.
        self.setups: Mapping[str, Mapping[str, SetupReport]] = {}

    async def run(self) -> None:
        """Bring the scheduler in line; raises SchedulerUnreachable if it does not answer."""
        wanted, unwanted = self._desired()
        try:
            # Two independent reads: one round trip instead of two.
            identity, notes = await asyncio.gather(self.client.identity(),
                                                   self.client.notes())
        except SchedulerUnreachable as exc:
            self._mark_unreachable(wanted, str(exc))
            raise
        records, self.setups = notes.records, notes.setups

        unwanted |= self._orphans(records)
        plan = plan_scheduler([w for _, w in wanted], unwanted, records)
        if not plan.is_empty:
            logger.info(
                "Cluster %s: %d plugin change(s) to make on scheduler %s.",
                self.name, len(plan.steps), identity.id,
            )
        await self._carry_out(plan, identity, records, wanted, unwanted)

    def mark_unreachable(self, cause: SchedulerUnreachable) -> None:
        """Report the scheduler unreachable without calling it: it refuses connections."""
        wanted, _ = self._desired()
        self._mark_unreachable(wanted, str(cause))

    def _orphans(self, records: Mapping[str, PluginRecord]) -> dict[str, PluginEntry | None]:
        """Plugins of this namespace on the scheduler that no WorkerPlugin declares now.

        They were released while their scheduler could not be reached (deleted, or moved
        away by a selector change). Only a complete inventory can tell an orphan from a
        plugin not seen yet, so nothing counts as one before that.
        """
        if not self.inventory.complete:
            return {}
        prefix = plugin_name(self.cluster.namespace, "")
        return {
            name: None for name in records
            if name.startswith(prefix)
            and self.inventory.plugin((self.cluster.namespace, name[len(prefix):])) is None
        }

    def _desired(
        self,
    ) -> tuple[list[tuple[PluginEntry, Wanted]], dict[str, PluginEntry | None]]:
        wanted: list[tuple[PluginEntry, Wanted]] = []
        unwanted: dict[str, PluginEntry | None] = {}
        for plugin in self.inventory.plugins_in(self.cluster.namespace):
            if plugin.spec is None and not plugin.deleting:
                continue  # an invalid spec leaves whatever was registered alone
            if plugin.deleting or not plugin.selects(self.cluster):
                unwanted[plugin.scheduler_name] = plugin
                continue
            assert plugin.kind is not None and plugin.content_hash is not None
            wanted.append((plugin, Wanted(
                plugin.scheduler_name, plugin.kind, plugin.content_hash, plugin.generation
            )))
        wanted.sort(key=lambda pair: pair[0].order)
        return wanted, unwanted

    async def _carry_out(
        self,
        plan: Plan,
        identity: SchedulerIdentity,
        records: Mapping[str, PluginRecord],
        wanted: list[tuple[PluginEntry, Wanted]],
        unwanted: Mapping[str, PluginEntry | None],
    ) -> None:
        by_name = {w.name: plugin for plugin, w in wanted}
        next_seq = max((r.seq for r in records.values()), default=0) + 1

        for step in plan.steps:
            if isinstance(step, Unregister):
                await self._unregister(step, unwanted.get(step.name))
                continue
            # Only a replacement under the same kind keeps its place; any other goes last.
            record = records.get(step.plugin.name)
            if step.why == "changed" and record is not None and record.kind == step.plugin.kind:
                seq = record.seq
            else:
                seq, next_seq = next_seq, next_seq + 1
            await self._register(by_name[step.plugin.name], step, identity, seq)

        for plugin_wanted in plan.in_place:
            self._keep(by_name[plugin_wanted.name], plugin_wanted, identity)

    async def _register(
        self, plugin: PluginEntry, step: Register, identity: SchedulerIdentity, seq: int
    ) -> None:
        assert plugin.spec is not None
        labels = (plugin.namespace, plugin.name, self.cluster.name)
        started = time.monotonic()
        record = PluginRecord(
            name=step.plugin.name, kind=step.plugin.kind,
            content_hash=step.plugin.content_hash, generation=plugin.generation,
            seq=seq, registered_at=now_iso(),
        )
        result: RegistrationResult | None
        try:
            result = await self.client.install(record, build_payload(record.name, plugin.spec))
        except SchedulerUnreachable:
            # The scheduler stores a plugin before it waits for every worker's setup. If it
            # still answers, what did not finish is a setup: sending the plugin again would
            # only pile up more of them, so it is recorded as failed and not retried.
            if not await self._still_answers(identity):
                raise
            await self.client.save_record(record)
            result = None
        except Exception as exc:
            metrics.REGISTRATION_FAILURES.labels(*labels).inc()
            self._record(plugin, "Error", f"The scheduler refused the plugin: {exc}",
                         identity, reason="RegistrationFailed")
            return
        finally:
            metrics.REGISTRATION_SECONDS.labels(*labels).observe(time.monotonic() - started)

        metrics.REGISTRATIONS.labels(*labels).inc()
        if result is None:
            self._record_unfinished_setup(plugin, identity)
        else:
            self._record_registration(plugin, step, identity, result)

    async def _still_answers(self, identity: SchedulerIdentity) -> bool:
        """Whether the scheduler of this pass, not a restarted one, answers right now."""
        try:
            return (await self.client.identity()).id == identity.id
        except SchedulerUnreachable:
            return False

    def _record_unfinished_setup(self, plugin: PluginEntry,
                                 identity: SchedulerIdentity) -> None:
        metrics.REGISTRATION_FAILURES.labels(
            plugin.namespace, plugin.name, self.cluster.name).inc()
        error = (f"setup did not finish within {self.client.register_timeout:g} s on the "
                 "scheduler's broadcast")
        message = (f"Registered, but {error}; the scheduler keeps the plugin, which is not "
                   "sent again until its spec changes or the scheduler restarts.")
        self._record(plugin, "Failed", message, identity, reason="SetupFailed",
                     first_error=error, last_registered=now_iso())

    def _record_registration(
        self,
        plugin: PluginEntry,
        step: Register,
        identity: SchedulerIdentity,
        result: RegistrationResult,
    ) -> None:
        # The answer covers the workers present now; those that join later report
        # through the loader, and later passes read that in _keep.
        tally = SetupTally(len(result.ok), len(result.failed), result.first_error())
        if tally.failed:
            metrics.REGISTRATION_FAILURES.labels(
                plugin.namespace, plugin.name, self.cluster.name).inc()
        verdict = judge(step.plugin.kind, identity, tally, f"Registered ({step.why})")
        self._record(plugin, verdict.state, verdict.message, identity, reason=verdict.reason,
                     last_registered=now_iso(), **_counts(tally))

    def _keep(self, plugin: PluginEntry, wanted: Wanted, identity: SchedulerIdentity) -> None:
        before = self._outcome(plugin) or _outcome_from_status(plugin, self.cluster.name)
        # Only what a registration on this scheduler left is worth keeping: an outcome
        # such as Unreachable describes a moment that is over now that it answers.
        settled = before is not None and before.scheduler_id == identity.id \
            and before.state in SETTLED
        # The loaders' reports tell what registrations cannot: how setups went on workers
        # that joined since, or before the operator last looked.
        tally = tally_reports(wanted.kind, identity, self.setups.get(wanted.name, {}))
        verdict = judge(wanted.kind, identity, tally, "Registered")
        if tally.decisive and not (settled and _same_verdict(before, verdict, tally)):
            # A success found in place is no news, unless it ends a failure.
            quiet = verdict.state == "Registered" and (before is None or before.state
                                                       == "Registered")
            message = IN_PLACE if verdict.state == "Registered" else verdict.message
            self._record(plugin, verdict.state, message, identity,
                         reason=None if quiet else verdict.reason, **_counts(tally),
                         last_registered=before.last_registered if before else None)
            return
        if before is not None and settled:
            refreshed = replace(before, generation=plugin.generation, address=self.client.address)
            self._store(plugin, refreshed)
            return
        self._record(plugin, "Registered", IN_PLACE, identity, reason=None)

    async def _unregister(self, step: Unregister, plugin: PluginEntry | None) -> None:
        await self.client.unregister(step.kind, step.name)
        await self.client.drop_record(step.name)
        if plugin is None:
            return

        metrics.UNREGISTRATIONS.labels(plugin.namespace, plugin.name, self.cluster.name).inc()
        outcomes = self.outcomes.get(plugin.key, {})
        outcomes.pop(self.cluster.name, None)
        self.changed(plugin.key)
        why = "was deleted" if plugin.deleting else "no longer selects it"
        logger.info("Plugin %s/%s unregistered from cluster %s: the plugin %s.",
                    plugin.namespace, plugin.name, self.name, why)
        self.announce(Report(plugin, "Normal", "Unregistered",
                             f"Unregistered; the plugin {why}.", cluster=self.cluster.name))

    def _mark_unreachable(
        self, wanted: list[tuple[PluginEntry, Wanted]], cause: str
    ) -> None:
        # One string for every plugin, and for every pass while the cause stays the same.
        message = sys.intern(f"The scheduler does not answer: {cause}")
        newly = []
        for plugin, _ in wanted:
            before = self._outcome(plugin)
            if before is not None and (before.state, before.message, before.address) == (
                    "Unreachable", message, self.client.address):
                continue  # already reported; retries must not flood status or Events
            self._record(plugin, "Unreachable", message, None, reason="SchedulerUnreachable",
                         log=False)
            newly.append(plugin.name)
        if newly:
            waiting = "1 plugin waits" if len(newly) == 1 else f"{len(newly)} plugins wait"
            logger.warning("Cluster %s: %s; %s for it: %s.", self.name, message, waiting,
                           ", ".join(newly))

    def _record(
        self,
        plugin: PluginEntry,
        state: ClusterState,
        message: str,
        identity: SchedulerIdentity | None,
        reason: str | None,
        log: bool = True,
        **counts: Any,
    ) -> None:
        before = self._outcome(plugin)
        if identity is None and before is not None:
            counts = dict(workers_ok=before.workers_ok, workers_failed=before.workers_failed,
                          first_error=before.first_error,
                          last_registered=before.last_registered) | counts
        outcome = ClusterOutcome(
            cluster=self.cluster.name, state=state, generation=plugin.generation,
            message=message, address=self.client.address,
            scheduler_id=identity.id if identity else (before.scheduler_id if before else None),
            **counts,
        )
        self._store(plugin, outcome)
        if reason is not None:
            self._announce(plugin, state, reason, message, log)

    def _announce(self, plugin: PluginEntry, state: ClusterState, reason: str,
                  message: str, log: bool) -> None:
        if log:
            level = logging.INFO if state == "Registered" else logging.WARNING
            logger.log(level, "Plugin %s/%s on cluster %s: %s",
                       plugin.namespace, plugin.name, self.name, message)
        event_type = "Normal" if state == "Registered" else "Warning"
        self.announce(Report(plugin, event_type, reason, message, cluster=self.cluster.name))

    def _outcome(self, plugin: PluginEntry) -> ClusterOutcome | None:
        return self.outcomes.get(plugin.key, {}).get(self.cluster.name)

    def _store(self, plugin: PluginEntry, outcome: ClusterOutcome) -> None:
        if self._outcome(plugin) != outcome:
            self.outcomes.setdefault(plugin.key, {})[self.cluster.name] = outcome
            self.changed(plugin.key)


def _counts(tally: SetupTally) -> dict[str, Any]:
    return dict(workers_ok=tally.ok, workers_failed=tally.failed,
                first_error=tally.first_error)


def _same_verdict(before: ClusterOutcome | None, verdict: Verdict,
                  tally: SetupTally) -> bool:
    """Whether an outcome already says what the reports say; then status stays put."""
    if before is None:
        return False
    said = (before.state, before.workers_ok, before.workers_failed, before.first_error)
    return said == (verdict.state, tally.ok, tally.failed, tally.first_error)


def _outcome_from_status(plugin: PluginEntry, cluster: str) -> ClusterOutcome | None:
    """What the status said before an operator restart, so counts and failures survive it."""
    for entry in plugin.status.get("clusters") or []:
        if entry.get("name") == cluster and entry.get("state") in SETTLED:
            return ClusterOutcome(
                cluster=cluster, state=entry["state"], generation=plugin.generation,
                message=str(entry.get("message", "Registered.")),
                address=entry.get("schedulerAddress"),
                scheduler_id=entry.get("schedulerId"),
                workers_ok=entry.get("workersOk"),
                workers_failed=entry.get("workersFailed"),
                first_error=entry.get("firstError"),
                last_registered=entry.get("lastRegistered"),
            )
    return None
