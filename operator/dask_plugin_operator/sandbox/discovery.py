"""The discovery documents: ``/api``, ``/apis``, and the resource lists of each version.

They are built from the registry on every request, so a CRD created through the API is
discoverable at once and a deleted one disappears.
"""

from __future__ import annotations

import re
from typing import Any

from .resources import ALL_VERBS, ResourceInfo, ResourceRegistry

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key for API versions the way Kubernetes prefers them: v2 > v1 > v1beta1."""
    match = _VERSION.match(version)
    if match is None:
        return (0, 0, 0)
    major, stage, minor = match.groups()
    stage_rank = {"alpha": 1, "beta": 2, None: 3}[stage]
    return (stage_rank, int(major), int(minor or 0))


def core_versions(address: str) -> dict[str, Any]:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def group_list(registry: ResourceRegistry) -> dict[str, Any]:
    """``GET /apis``: every group but the core one."""
    groups = sorted({info.group for info in registry if info.group})
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [group_document(registry, group) for group in groups],
    }


def group_document(registry: ResourceRegistry, group: str) -> dict[str, Any]:
    """``GET /apis/<group>``; versions are listed preferred first."""
    versions = sorted({info.version for info in registry if info.group == group},
                      key=version_priority, reverse=True)
    entries = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0] if entries else None,
    }


def resource_list(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any]:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``."""
    served = [info for info in registry if (info.group, info.version) == (group, version)]
    resources: list[dict[str, Any]] = []
    for info in served:
        resources.append(_resource_entry(info))
        resources.extend(_subresource_entry(info, name) for name in info.subresources)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _resource_entry(info: ResourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(ALL_VERBS),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    return entry


def _subresource_entry(info: ResourceInfo, subresource: str) -> dict[str, Any]:
    kind = "Scale" if subresource == "scale" else info.kind
    entry: dict[str, Any] = {
        "name": f"{info.plural}/{subresource}",
        "singularName": "",
        "namespaced": info.namespaced,
        "kind": kind,
        "verbs": ["get", "patch", "update"],
    }
    if subresource == "scale":
        entry["group"], entry["version"] = "autoscaling", "v1"
    return entry
