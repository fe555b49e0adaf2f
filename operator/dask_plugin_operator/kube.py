"""The operator's own writes to the Kubernetes API: plugin status and Events.

Kopf handles watching and finalizers. Status and Events are written from background
work that outlives any one handler, so they go through the ``kubernetes`` client, run in
threads so the event loop never blocks on the network.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from collections.abc import Mapping
from typing import Any

import kubernetes

GROUP = "plugins.dask.org"
VERSION = "v1alpha1"
PLURAL = "workerplugins"
COMPONENT = "dask-plugin-operator"

logger = logging.getLogger(__name__)


def load_client_config() -> kubernetes.client.ApiClient:
    """Credentials the way Kopf finds them: in-cluster first, then the kubeconfig."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        # The client reads KUBECONFIG only when first imported; read it now instead.
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return kubernetes.client.ApiClient()


class KubeApi:
    """Status patches and Events for WorkerPlugin resources."""

    def __init__(self, api_client: kubernetes.client.ApiClient | None = None) -> None:
        self._client = api_client or load_client_config()
        self._objects = kubernetes.client.CustomObjectsApi(self._client)
        self._core = kubernetes.client.CoreV1Api(self._client)

    async def patch_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> bool:
        """Merge ``status`` into the plugin's status; False if the plugin is gone."""
        try:
            await asyncio.to_thread(
                self._objects.patch_namespaced_custom_object_status,
                GROUP, VERSION, namespace, PLURAL, name, {"status": dict(status)},
            )
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def post_event(
        self, reference: Mapping[str, str], type_: str, reason: str, message: str
    ) -> None:
        """Post an Event about a plugin; a failure to post is logged, never raised."""
        now = datetime.datetime.now(datetime.timezone.utc)
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(
                generate_name=f"{reference['name']}.", namespace=reference["namespace"]
            ),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=reference["apiVersion"],
                kind=reference["kind"],
                name=reference["name"],
                namespace=reference["namespace"],
                uid=reference["uid"],
            ),
            type=type_,
            reason=reason,
            message=message[:1024],
            source=kubernetes.client.V1EventSource(component=COMPONENT),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            reporting_component=COMPONENT,
            reporting_instance=os.environ.get("HOSTNAME", COMPONENT),
        )
        try:
            await asyncio.to_thread(
                self._core.create_namespaced_event, reference["namespace"], event
            )
        except Exception as exc:  # Events are best effort; status carries the facts.
            logger.debug("Event %s about %s was not posted: %s", reason, reference, exc)

    def close(self) -> None:
        self._client.close()
