"""URL paths of the Kubernetes API, split into what they address.

``/api/v1/namespaces/ns/pods/name/status`` addresses group "", version v1, plural pods,
namespace ns, name name, subresource status. Discovery paths have no plural.
"""

from __future__ import annotations

from dataclasses import dataclass

# Subresources of a namespace, which must not be read as a resource inside the namespace.
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Target:
    """What an API path addresses; ``plural`` None means a discovery document."""

    group: str
    version: str | None = None
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_path(path: str) -> Target | None:
    """The target of an API path, or None if the path is not under /api or /apis."""
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["api"]:
        group, rest = "", parts[1:]
    elif parts[:1] == ["apis"] and len(parts) >= 2:
        group, rest = parts[1], parts[2:]
    elif parts == ["apis"]:
        return Target(group="*")
    else:
        return None
    if not rest:
        return Target(group=group)
    version, rest = rest[0], rest[1:]
    return _resource_target(group, version, rest)


def _resource_target(group: str, version: str, rest: list[str]) -> Target | None:
    namespace = None
    namespaced_path = len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES
    if rest[:1] == ["namespaces"] and namespaced_path:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    plural = rest[0] if rest else None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    return Target(group, version, plural, namespace, name, subresource)
