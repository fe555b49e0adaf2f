"""A minimal ``/openapi/v3``: enough for kubectl to validate on the server.

kubectl's default ``--validate=strict`` looks in ``/openapi/v3`` for a ``fieldValidation``
parameter on each resource's PATCH operation; finding it, kubectl leaves validation to the
server (``fieldValidation=Strict``) instead of downloading schemas for client-side checks.
The documents carry paths and that parameter only, no schemas: ``kubectl explain`` finds
nothing to explain.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceInfo, ResourceRegistry

PREFIX = "/openapi/v3"


def root(registry: ResourceRegistry) -> dict[str, Any]:
    """``GET /openapi/v3``: one entry per served group-version."""
    paths = {}
    for group, version in sorted({(info.group, info.version) for info in registry}):
        name = f"apis/{group}/{version}" if group else f"api/{version}"
        paths[name] = {"serverRelativeURL": f"{PREFIX}/{name}"}
    return {"paths": paths}


def group_version(registry: ResourceRegistry, name: str) -> dict[str, Any] | None:
    """``GET /openapi/v3/apis/<group>/<version>`` (or ``api/v1``); None if not served."""
    parts = name.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[:1] == ["apis"] and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    served = [info for info in registry if (info.group, info.version) == (group, version)]
    if not served:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes API sandbox", "version": "v1.32.0"},
        "paths": {_item_path(info): {"patch": _patch_operation(info)} for info in served},
        "components": {"schemas": {}},
    }


def _item_path(info: ResourceInfo) -> str:
    prefix = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    scope = "/namespaces/{namespace}" if info.namespaced else ""
    return f"{prefix}{scope}/{info.plural}/{{name}}"


def _patch_operation(info: ResourceInfo) -> dict[str, Any]:
    return {
        "operationId": f"patch{info.kind}",
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": info.group, "version": info.version, "kind": info.kind,
        },
        "parameters": [
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"},
             "description": "Ignore, Warn or Strict handling of unknown fields."},
        ],
        "responses": {"200": {"description": "OK"}},
    }
