"""Decide which Kubernetes API requests the chart's rendered RBAC would allow.

The chart's Roles and ClusterRoles are only right if the operator can make every request
it really makes, and nothing cluster-scoped in namespaced mode. This module answers the
question the way the API server's RBAC authorizer would, for the rules the chart renders:
it turns a request (an HTTP method and path, or the attributes an API emulator recorded)
into request attributes -- verb, API group, resource, subresource, namespace, name -- and
matches them against the rules reachable through the rendered bindings.

Requests to the discovery endpoints (``/api``, ``/apis/...`` without a resource,
``/version``) are allowed as every cluster allows them to authenticated users through the
built-in ``system:discovery`` ClusterRole.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

Mode = Literal["cluster-wide", "namespaced"]

# What the built-in system:discovery ClusterRole grants every authenticated user.
DISCOVERY_URLS = (
    "/api", "/api/*", "/apis", "/apis/*", "/version",
    "/healthz", "/livez", "/readyz", "/openapi", "/openapi/*",
)

# Path segments after /namespaces/{name} that are subresources of the namespace itself.
NAMESPACE_SUBRESOURCES = {"status", "finalize"}

METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RequestAttributes:
    """What an RBAC authorizer looks at in one request."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    is_resource_request: bool = True

    def __str__(self) -> str:
        if not self.is_resource_request:
            return f"{self.verb} {self.path}"
        kind = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        kind = f"{kind}.{self.group}" if self.group else kind
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster scope)"
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {kind}{named}{where}"


@dataclass(frozen=True)
class Denial:
    """A request the rules do not allow, and why."""

    request: Mapping[str, Any]
    attributes: RequestAttributes
    reason: str

    def __str__(self) -> str:
        return f"{self.attributes}: {self.reason}"


@dataclass(frozen=True)
class Grant:
    """The rules of one Role or ClusterRole, and the namespace a RoleBinding limits it to."""

    rules: tuple[Mapping[str, Any], ...]
    namespace: str | None  # None: granted by a ClusterRoleBinding, in every namespace
    source: str


def attributes_of_path(method: str, path: str, query: str | Mapping[str, Any] = "") -> (
        RequestAttributes):
    """Turn an HTTP request into RBAC request attributes, as kube-apiserver does."""
    method = method.upper()
    parts = [part for part in path.split("?")[0].strip("/").split("/") if part]
    params = _query_params(query if query else (path.split("?", 1)[1] if "?" in path else ""))

    # /api/v1/... is the core group; /apis/{group}/{version}/... any other group.
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        rest = []
    if not rest:
        verb = "get" if method in ("GET", "HEAD") else method.lower()
        return RequestAttributes(verb=verb, path="/" + "/".join(parts), is_resource_request=False)

    # The old /watch/ prefix is a watch whatever comes next.
    legacy_watch = rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]

    # /namespaces/{ns}/{resource}/... is namespaced; /namespaces/{ns} alone is the namespace.
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""

    verb = _verb(method, has_name=bool(name), params=params, legacy_watch=legacy_watch)
    return RequestAttributes(
        verb=verb, group=group, resource=resource, subresource=subresource,
        namespace=namespace, name=name, path="/" + "/".join(parts),
    )


def _query_params(query: str | Mapping[str, Any]) -> dict[str, str]:
    if isinstance(query, Mapping):
        return {str(key): str(value) for key, value in query.items()}
    return {key: values[-1] for key, values in parse_qs(query.lstrip("?")).items()}


def _verb(method: str, *, has_name: bool, params: Mapping[str, str], legacy_watch: bool) -> str:
    if method in ("GET", "HEAD"):
        if legacy_watch or params.get("watch", "").lower() in ("1", "true"):
            return "watch"
        return "get" if has_name else "list"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return METHOD_VERBS.get(method, method.lower())


def attributes_of(request: Mapping[str, Any]) -> RequestAttributes:
    """Attributes of a recorded request: parsed from its method and path when it has them.

    Parsing here rather than trusting the recorder's own ``verb``/``resource`` fields keeps
    this check independent of the API emulator that recorded the requests.
    """
    if request.get("method") and request.get("path"):
        return attributes_of_path(
            str(request["method"]), str(request["path"]), request.get("query") or ""
        )
    return RequestAttributes(
        verb=str(request["verb"]),
        group=str(request.get("group") or ""),
        resource=str(request.get("resource") or ""),
        subresource=str(request.get("subresource") or ""),
        namespace=str(request.get("namespace") or ""),
        name=str(request.get("name") or ""),
    )


def grants_of(manifests: Iterable[Mapping[str, Any]]) -> list[Grant]:
    """The rules each rendered binding grants, with the namespace it is limited to."""
    manifests = [doc for doc in manifests if doc]
    roles = {
        (doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]): doc
        for doc in manifests if doc.get("kind") in ("Role", "ClusterRole")
    }

    grants = []
    for binding in manifests:
        kind = binding.get("kind")
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        namespace = binding["metadata"].get("namespace") if kind == "RoleBinding" else None
        ref = binding["roleRef"]
        role_namespace = namespace if ref["kind"] == "Role" else None
        role = roles.get((ref["kind"], role_namespace, ref["name"]))
        if role is None:
            raise ValueError(f"{kind} {binding['metadata']['name']} refers to a missing "
                             f"{ref['kind']} {ref['name']}.")
        source = f"{kind} {binding['metadata']['name']} -> {ref['kind']} {ref['name']}"
        grants.append(Grant(tuple(role.get("rules") or ()), namespace, source))
    return grants


def rule_allows(rule: Mapping[str, Any], attributes: RequestAttributes) -> bool:
    """Whether one PolicyRule allows the request, with RBAC's wildcard semantics."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attributes.verb not in verbs:
        return False

    if not attributes.is_resource_request:
        urls = rule.get("nonResourceURLs") or []
        return any(_url_matches(url, attributes.path) for url in urls)

    groups = rule.get("apiGroups") or []
    if "*" not in groups and attributes.group not in groups:
        return False
    if not _resource_matches(rule.get("resources") or [], attributes):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names


def _resource_matches(resources: Sequence[str], attributes: RequestAttributes) -> bool:
    if "*" in resources:
        return True
    if not attributes.subresource:
        return attributes.resource in resources
    combined = f"{attributes.resource}/{attributes.subresource}"
    return (combined in resources or f"*/{attributes.subresource}" in resources
            or f"{attributes.resource}/*" in resources)


def _url_matches(pattern: str, path: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return pattern == path


def check_rbac_allows(
    requests: Iterable[Mapping[str, Any]],
    rules: Iterable[Mapping[str, Any]],
    mode: Mode,
) -> list[Denial]:
    """Return the requests that the rendered RBAC does not allow; an empty list is a pass.

    ``requests`` are dicts with ``method``, ``path`` and optionally ``query`` (or, lacking
    those, the attributes ``verb``, ``group``, ``resource``, ``subresource``,
    ``namespace``, ``name``). ``rules`` are the rendered manifests: every Role, ClusterRole
    and binding among them is considered, other kinds are ignored. In ``namespaced`` mode a
    cluster-scope resource request is refused even if some rule would allow it, and a
    rendered ClusterRoleBinding is an error, because that mode promises neither.
    """
    grants = grants_of(rules)
    if mode == "namespaced" and any(grant.namespace is None for grant in grants):
        raise ValueError("Namespaced mode rendered a ClusterRoleBinding.")

    denials = []
    for request in requests:
        attributes = attributes_of(request)
        reason = _denial_reason(attributes, grants, mode)
        if reason:
            denials.append(Denial(request, attributes, reason))
    return denials


def _denial_reason(attributes: RequestAttributes, grants: Sequence[Grant], mode: Mode) -> str:
    if not attributes.is_resource_request:
        discovery = any(fnmatch.fnmatchcase(attributes.path, url) for url in DISCOVERY_URLS)
        if discovery and attributes.verb == "get":
            return ""
        cluster_rules = [rule for grant in grants if grant.namespace is None
                         for rule in grant.rules]
        if any(rule_allows(rule, attributes) for rule in cluster_rules):
            return ""
        return "no rule grants this non-resource URL"

    if mode == "namespaced" and not attributes.namespace:
        return "a cluster-scope request, and namespaced mode must make none"

    for grant in grants:
        # A RoleBinding grants only in its namespace; a ClusterRoleBinding everywhere.
        if grant.namespace is not None and grant.namespace != attributes.namespace:
            continue
        if any(rule_allows(rule, attributes) for rule in grant.rules):
            return ""
    return "no rendered Role or ClusterRole grants it"
