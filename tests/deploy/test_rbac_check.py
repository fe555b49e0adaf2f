"""check_rbac_allows reads requests and RBAC the way the API server's authorizer does."""

from __future__ import annotations

from typing import Any

import pytest
from rbac import attributes_of_path, check_rbac_allows

SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": "operator", "namespace": "ops"}


def cluster_role(name: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ClusterRole and the ClusterRoleBinding that gives it to the operator."""
    return [
        {"kind": "ClusterRole", "metadata": {"name": name}, "rules": rules},
        {"kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"kind": "ClusterRole", "name": name}, "subjects": [SERVICE_ACCOUNT]},
    ]


def role(namespace: str, name: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Role and the RoleBinding that gives it to the operator, in one namespace."""
    return [
        {"kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules},
        {"kind": "RoleBinding", "metadata": {"name": name, "namespace": namespace},
         "roleRef": {"kind": "Role", "name": name}, "subjects": [SERVICE_ACCOUNT]},
    ]


READ_PLUGINS = {"apiGroups": ["plugins.dask.org"], "resources": ["workerplugins"],
                "verbs": ["get", "list", "watch"]}
PATCH_STATUS = {"apiGroups": ["plugins.dask.org"], "resources": ["workerplugins/status"],
                "verbs": ["patch"]}


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", "", ("list", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/namespaces/ns/pods", "watch=true", ("watch", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/pods?watch=1", "", ("watch", "", "pods", "", "", "")),
        ("GET", "/api/v1/watch/namespaces/ns/pods", "", ("watch", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/namespaces/ns/services/s", "", ("get", "", "services", "", "ns", "s")),
        ("POST", "/api/v1/namespaces/ns/events", "", ("create", "", "events", "", "ns", "")),
        ("PATCH", "/apis/plugins.dask.org/v1alpha1/namespaces/ns/workerplugins/p/status", "",
         ("patch", "plugins.dask.org", "workerplugins", "status", "ns", "p")),
        ("PUT", "/apis/kopf.dev/v1/clusterkopfpeerings/x", "",
         ("update", "kopf.dev", "clusterkopfpeerings", "", "", "x")),
        ("DELETE", "/api/v1/namespaces/ns/pods", "",
         ("deletecollection", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/namespaces", "", ("list", "", "namespaces", "", "", "")),
        ("GET", "/api/v1/namespaces/ns", "", ("get", "", "namespaces", "", "ns", "ns")),
        ("PUT", "/api/v1/namespaces/ns/finalize", "",
         ("update", "", "namespaces", "finalize", "ns", "ns")),
    ],
)
def test_requests_are_read_as_kubernetes_request_attributes(
    method: str, path: str, query: str, expected: tuple[str, ...]
) -> None:
    attributes = attributes_of_path(method, path, query)

    assert attributes.is_resource_request
    assert (attributes.verb, attributes.group, attributes.resource, attributes.subresource,
            attributes.namespace, attributes.name) == expected


def test_a_cluster_role_binding_allows_its_rules_in_every_namespace() -> None:
    rules = cluster_role("reader", [READ_PLUGINS])
    requests = [
        {"method": "GET", "path": "/apis/plugins.dask.org/v1alpha1/workerplugins",
         "query": "watch=true"},
        {"method": "GET", "path": "/apis/plugins.dask.org/v1alpha1/namespaces/a/workerplugins"},
        {"method": "GET", "path": "/apis/plugins.dask.org/v1alpha1/namespaces/b/workerplugins/p"},
    ]

    assert check_rbac_allows(requests, rules, "cluster-wide") == []


def test_a_verb_the_rules_do_not_list_is_denied() -> None:
    rules = cluster_role("reader", [READ_PLUGINS])
    patch = {"method": "PATCH",
             "path": "/apis/plugins.dask.org/v1alpha1/namespaces/a/workerplugins/p"}

    (denial,) = check_rbac_allows([patch], rules, "cluster-wide")
    assert denial.request is patch
    assert denial.attributes.verb == "patch"
    assert "patch workerplugins.plugins.dask.org p in namespace a" in str(denial)


def test_a_subresource_needs_its_own_rule() -> None:
    status = "/apis/plugins.dask.org/v1alpha1/namespaces/a/workerplugins/p/status"
    main = "/apis/plugins.dask.org/v1alpha1/namespaces/a/workerplugins/p"
    only_status = cluster_role("status", [PATCH_STATUS])

    assert check_rbac_allows([{"method": "PATCH", "path": status}], only_status,
                             "cluster-wide") == []
    assert len(check_rbac_allows([{"method": "PATCH", "path": main}], only_status,
                                 "cluster-wide")) == 1
    assert len(check_rbac_allows([{"method": "PATCH", "path": status}],
                                 cluster_role("main", [dict(READ_PLUGINS, verbs=["patch"])]),
                                 "cluster-wide")) == 1


def test_a_role_binding_allows_its_rules_only_in_its_namespace() -> None:
    rules = role("analytics", "reader", [READ_PLUGINS])
    inside = {"method": "GET",
              "path": "/apis/plugins.dask.org/v1alpha1/namespaces/analytics/workerplugins"}
    outside = {"method": "GET",
               "path": "/apis/plugins.dask.org/v1alpha1/namespaces/research/workerplugins"}

    denials = check_rbac_allows([inside, outside], rules, "namespaced")
    assert [denial.request for denial in denials] == [outside]


def test_namespaced_mode_refuses_any_cluster_scope_request() -> None:
    # Even a rule that would match cannot make a cluster-scope request acceptable here.
    rules = role("analytics", "everything", [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    ])
    requests = [
        {"method": "GET", "path": "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"},
        {"method": "GET", "path": "/api/v1/namespaces", "query": "watch=1"},
    ]

    denials = check_rbac_allows(requests, rules, "namespaced")
    assert len(denials) == 2
    assert all("cluster-scope" in denial.reason for denial in denials)


def test_namespaced_mode_rejects_rendered_cluster_role_bindings() -> None:
    with pytest.raises(ValueError, match="ClusterRoleBinding"):
        check_rbac_allows([], cluster_role("reader", [READ_PLUGINS]), "namespaced")


def test_discovery_is_allowed_as_every_cluster_allows_it() -> None:
    requests = [
        {"method": "GET", "path": path}
        for path in ("/api", "/api/v1", "/apis", "/apis/plugins.dask.org/v1alpha1", "/version")
    ]

    assert check_rbac_allows(requests, [], "namespaced") == []
    assert len(check_rbac_allows([{"method": "GET", "path": "/metrics"}], [],
                                 "cluster-wide")) == 1


def test_wildcards_and_resource_names_follow_rbac_rules() -> None:
    rules = cluster_role("mixed", [
        {"apiGroups": ["*"], "resources": ["services"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"], "resourceNames": ["p1"]},
    ])
    allowed = [
        {"verb": "get", "group": "", "resource": "services", "namespace": "a", "name": "s"},
        {"verb": "delete", "group": "", "resource": "pods", "namespace": "a", "name": "p1"},
    ]
    denied = [
        {"verb": "delete", "group": "", "resource": "pods", "namespace": "a", "name": "p2"},
        {"verb": "list", "group": "", "resource": "pods", "namespace": "a"},
    ]

    assert check_rbac_allows(allowed, rules, "cluster-wide") == []
    assert [d.request for d in check_rbac_allows(denied, rules, "cluster-wide")] == denied


def test_recorded_attributes_are_used_when_there_is_no_path() -> None:
    rules = role("analytics", "reader", [READ_PLUGINS])
    recorded = {"verb": "watch", "group": "plugins.dask.org", "version": "v1alpha1",
                "resource": "workerplugins", "subresource": None, "namespace": "analytics",
                "name": None}

    assert check_rbac_allows([recorded], rules, "namespaced") == []
