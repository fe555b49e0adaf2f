"""Where a DaskCluster's scheduler listens, as seen from the operator.

dask-kubernetes exposes every scheduler through a Service named after the cluster. An
annotation on the DaskCluster overrides what the Service says, for operators that run
outside the cluster network (and for the sandbox, where schedulers are local processes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distributed.comm.addressing import parse_address, parse_host_port

ADDRESS_ANNOTATION = "plugins.dask.org/scheduler-address"
CLUSTER_LABEL = "dask.org/cluster-name"
COMPONENT_LABEL = "dask.org/component"
COMM_PORT_NAME = "tcp-comm"
DEFAULT_COMM_PORT = 8786


@dataclass(frozen=True)
class SchedulerService:
    """The parts of a scheduler Service that say how to reach the scheduler."""

    namespace: str
    name: str
    cluster: str
    cluster_ip: str | None
    comm_port: int

    @property
    def dns_name(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"


def parse_service(body: Mapping[str, Any]) -> SchedulerService | None:
    """Read a Service body; None if it is not a dask-kubernetes scheduler Service."""
    metadata = body.get("metadata") or {}
    labels = metadata.get("labels") or {}
    if labels.get(COMPONENT_LABEL) != "scheduler" or not labels.get(CLUSTER_LABEL):
        return None

    spec = body.get("spec") or {}
    cluster_ip = spec.get("clusterIP")
    if not cluster_ip or cluster_ip == "None":
        cluster_ip = None  # a headless Service: only its DNS name leads to the pod
    return SchedulerService(
        namespace=metadata.get("namespace", "default"),
        name=metadata.get("name", ""),
        cluster=labels[CLUSTER_LABEL],
        cluster_ip=cluster_ip,
        comm_port=_comm_port(spec.get("ports") or []),
    )


def _comm_port(ports: list[Mapping[str, Any]]) -> int:
    for port in ports:
        if port.get("name") == COMM_PORT_NAME and isinstance(port.get("port"), int):
            return int(port["port"])
    # A hand-made Service with a single unnamed port can only mean that port.
    if len(ports) == 1 and not ports[0].get("name") and isinstance(ports[0].get("port"), int):
        return int(ports[0]["port"])
    return DEFAULT_COMM_PORT


def scheduler_address(
    annotations: Mapping[str, str], service: SchedulerService | None
) -> str | None:
    """The address to send RPCs to, or None while there is nothing to reach yet."""
    override = (annotations.get(ADDRESS_ANNOTATION) or "").strip()
    if override:
        return override if "://" in override else f"tcp://{override}"
    if service is None:
        return None
    host = service.cluster_ip or service.dns_name
    return f"tcp://{host}:{service.comm_port}"


def address_problem(address: str) -> str | None:
    """What makes a scheduler address unusable for the operator, or None if nothing does.

    Only the annotation can give such an address; one read from a Service is always
    ``tcp://host:port``.
    """
    try:
        scheme, location = parse_address(address, strict=True)
    except ValueError as error:
        return str(error)
    if scheme == "tls":
        return "tls:// is not supported yet; the operator reaches schedulers over tcp:// only"
    if scheme != "tcp":
        return f"the scheme is {scheme}://; the operator reaches schedulers over tcp:// only"
    try:
        host, port = parse_host_port(location)
    except ValueError:
        return f"{location!r} is not host:port"
    if not host or any(character.isspace() for character in host):
        return f"{host!r} is not a host name or IP address"
    if not 0 < int(port) < 65536:
        return f"port {port} is out of range"
    return None
