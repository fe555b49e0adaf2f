"""Defaults real Kubernetes fills in on built-in objects, where clients may rely on them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

Object = dict[str, Any]

_cluster_ips = itertools.count(10)


def _secret(obj: Object) -> None:
    obj["type"] = obj.get("type") or "Opaque"


def _service(obj: Object) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
        address = next(_cluster_ips)
        spec["clusterIP"] = f"10.96.{address // 250 % 250}.{address % 250 + 1}"
        spec["clusterIPs"] = [spec["clusterIP"]]
    for port in spec.get("ports") or ():
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _pod(obj: Object) -> None:
    obj["status"] = {"phase": "Pending"}


# Defaulting runs on every write, as decoding does on a real server; pods start Pending.
_ON_WRITE: dict[tuple[str, str], Callable[[Object], None]] = {
    ("", "secrets"): _secret,
    ("", "services"): _service,
}
_ON_CREATE: dict[tuple[str, str], Callable[[Object], None]] = {
    **_ON_WRITE,
    ("", "pods"): _pod,
}


def apply(resource: tuple[str, str], obj: Object, *, creating: bool) -> None:
    """Fill in what the API server defaults on a built-in object being written."""
    defaulting = (_ON_CREATE if creating else _ON_WRITE).get(resource)
    if defaulting is not None:
        defaulting(obj)
