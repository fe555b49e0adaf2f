"""Kopf handlers: they translate watch events into calls on the operator's runtime.

Nothing here decides anything; see ``runtime`` for what each event leads to. Kopf's own
bookkeeping goes under ``plugins.dask.org`` so that it never mixes with that of the
dask-kubernetes operator, which is also built on Kopf and watches the same DaskClusters.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from . import metrics
from .config import OperatorConfig
from .kube import KubeApi
from .runtime import Runtime

PREFIX = "plugins.dask.org"
WORKERPLUGINS = ("plugins.dask.org", "v1alpha1", "workerplugins")
DASKCLUSTERS = ("kubernetes.dask.org", "v1", "daskclusters")
SCHEDULER_LABELS = {"dask.org/component": "scheduler"}

# Kopf gives every object with watch events its own worker, which holds the object's
# latest body. A thousand plugins applied at once would hold a thousand bodies, and the
# memory they leave behind stays with the process; a bound on workers makes Kopf read the
# watch stream only as fast as they finish. Workers that outlive their last event by a
# moment, not Kopf's default of 5 s, give their place to the next object sooner.
WORKER_LIMIT = 100
WORKER_IDLE_SECONDS = 0.5


def _key(body: kopf.Body) -> tuple[str, str]:
    return (body.metadata.namespace or "default", body.metadata.name or "")


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo,
                logger: kopf.Logger, **_: Any) -> None:
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration")
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.batching.idle_timeout = WORKER_IDLE_SECONDS
    settings.posting.level = logging.WARNING  # our milestones are posted by the reporter

    config: OperatorConfig = memo.get("config") or OperatorConfig()
    # Watching CRDs and namespaces needs cluster-wide permissions, which a namespaced
    # installation does not grant; resources are then discovered once, at startup.
    settings.scanning.disabled = config.namespaced
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    memo["runtime"] = Runtime(config, KubeApi())
    logger.info("The operator is running; every scheduler is checked every %g s.",
                config.check_interval)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        await runtime.close()


@kopf.index(*WORKERPLUGINS)
async def plugin_seen(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo["runtime"]
    runtime.plugin_seen(body)


@kopf.on.event(*WORKERPLUGINS)
async def plugin_event(type: str | None, body: kopf.Body, memo: kopf.Memo,
                       **_: Any) -> None:
    if type == "DELETED":  # an index handler sees every other event
        runtime: Runtime = memo["runtime"]
        await runtime.plugin_gone(_key(body))


@kopf.on.delete(*WORKERPLUGINS)
async def plugin_deleted(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger,
                         **_: Any) -> None:
    runtime: Runtime = memo["runtime"]
    key = _key(body)
    stranded = await runtime.plugin_deleted(key)
    if stranded:
        where = "cluster" if len(stranded) == 1 else "clusters"
        logger.warning(
            "The plugin stays registered on the unreachable %s %s; it is released anyway, "
            "and unregistered there as soon as the scheduler answers again.",
            where, ", ".join(stranded))
    else:
        logger.info("The plugin was unregistered from every cluster.")


# WorkerPlugins, DaskClusters and scheduler Services enter the inventory through index
# handlers: Kopf runs them for every object it lists before it runs any other handler. So
# when the operator starts, it knows every cluster before it handles a plugin deleted while
# it was down, and every plugin before it calls a plugin on a scheduler an orphan.

@kopf.index(*DASKCLUSTERS)
async def cluster_seen(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo["runtime"]
    runtime.cluster_seen(body)


@kopf.on.event(*DASKCLUSTERS)
async def cluster_event(type: str | None, body: kopf.Body, memo: kopf.Memo,
                        **_: Any) -> None:
    runtime: Runtime = memo["runtime"]
    # Kopf runs no regular handler before every index is filled: from now on, a plugin
    # the inventory does not know is one that no longer exists.
    runtime.inventory.complete = True
    if type == "DELETED":  # an index handler sees every other event
        await runtime.cluster_gone(_key(body))


@kopf.index("", "v1", "services", labels=SCHEDULER_LABELS)
async def service_seen(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo["runtime"]
    runtime.service_seen(body)


@kopf.on.event("", "v1", "services", labels=SCHEDULER_LABELS)
async def service_event(type: str | None, body: kopf.Body, memo: kopf.Memo,
                        **_: Any) -> None:
    if type == "DELETED":  # an index handler sees every other event
        runtime: Runtime = memo["runtime"]
        runtime.service_gone(body)


@kopf.on.event("", "v1", "pods", labels=SCHEDULER_LABELS)
async def scheduler_pod_event(type: str | None, body: kopf.Body, memo: kopf.Memo,
                              **_: Any) -> None:
    if type != "DELETED":
        runtime: Runtime = memo["runtime"]
        runtime.scheduler_pod_seen(body)
