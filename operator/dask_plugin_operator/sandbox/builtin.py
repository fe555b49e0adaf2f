"""The built-in (non-CRD) resources the sandbox serves, and the CRDs it always installs.

Only what the operator, Kopf and kubectl touch is here. Kopf's peering resources are real
CRDs on a real cluster, so they are installed as CRD objects rather than declared built-in.
"""

from __future__ import annotations

from typing import Any

from .resources import PrinterColumn, ResourceInfo, StorageKey

NAMESPACES: StorageKey = ("", "namespaces")
CRDS: StorageKey = ("apiextensions.k8s.io", "customresourcedefinitions")


def _columns(*columns: tuple[str, str, str]) -> tuple[PrinterColumn, ...]:
    """Printer columns from (name, type, JSONPath), with Age last, as kubectl shows them."""
    age = PrinterColumn("Age", "date", ".metadata.creationTimestamp")
    return (*(PrinterColumn(name, kind, path) for name, kind, path in columns), age)


_PHASE = _columns(("Status", "string", ".status.phase"))


def _core(plural: str, kind: str, *, namespaced: bool = True, status: bool = False,
          short: tuple[str, ...] = (), categories: tuple[str, ...] = (),
          columns: tuple[PrinterColumn, ...] = ()) -> ResourceInfo:
    return ResourceInfo(
        group="", version="v1", plural=plural, kind=kind, singular=kind.lower(),
        namespaced=namespaced, status_subresource=status, short_names=short,
        categories=categories, printer_columns=columns,
    )


BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    _core("namespaces", "Namespace", namespaced=False, status=True, short=("ns",),
          columns=_PHASE),
    _core("services", "Service", status=True, short=("svc",), categories=("all",),
          columns=_columns(("Type", "string", ".spec.type"),
                           ("Cluster-IP", "string", ".spec.clusterIP"))),
    _core("pods", "Pod", status=True, short=("po",), categories=("all",), columns=_PHASE),
    _core("events", "Event", short=("ev",), columns=(
        PrinterColumn("Last Seen", "date", ".lastTimestamp"),
        *_columns(("Type", "string", ".type"), ("Reason", "string", ".reason"),
                  ("Object", "string", ".involvedObject.name"),
                  ("Message", "string", ".message"))[:-1],
    )),
    _core("configmaps", "ConfigMap", short=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short=("sa",)),
    _core("endpoints", "Endpoints", short=("ep",)),
    ResourceInfo(
        group="events.k8s.io", version="v1", plural="events", kind="Event",
        singular="event", namespaced=True, short_names=("ev",),
    ),
    ResourceInfo(
        group="coordination.k8s.io", version="v1", plural="leases", kind="Lease",
        singular="lease", namespaced=True,
    ),
    ResourceInfo(
        group="apiextensions.k8s.io", version="v1", plural="customresourcedefinitions",
        kind="CustomResourceDefinition", singular="customresourcedefinition",
        namespaced=False, status_subresource=True, short_names=("crd", "crds"),
    ),
)


def _peering_crd(plural: str, kind: str, scope: str) -> dict[str, Any]:
    """A CRD for Kopf's peering objects: free-form status, no schema to speak of."""
    free_form = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kopf.dev"},
        "spec": {
            "group": "kopf.dev",
            "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [{
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"status": free_form},
                }},
            }],
        },
    }


PEERING_CRDS: tuple[dict[str, Any], ...] = (
    _peering_crd("clusterkopfpeerings", "ClusterKopfPeering", "Cluster"),
    _peering_crd("kopfpeerings", "KopfPeering", "Namespaced"),
)
