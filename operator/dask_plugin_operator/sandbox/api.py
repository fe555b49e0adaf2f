"""The HTTP face of the sandbox: one aiohttp handler for the whole Kubernetes API.

It records each request, applies injected faults, serves discovery, and translates
resource requests into ``ClusterState`` operations, rendering objects, lists, Tables and
watch streams the way kubectl, Kopf and the kubernetes client expect.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import yaml
from aiohttp import web

from . import admin, discovery, errors, openapi, protobuf, tables, watch
from .faults import FaultInjector, RequestLog, RequestRecord
from .operations import APPLY_PATCH, ClusterState
from .resources import ResourceInfo
from .routing import Target, parse_path
from .selectors import FieldSelector, LabelSelector
from .storage import Object

logger = logging.getLogger(__name__)

_HEALTH_PATHS = ("/healthz", "/livez", "/readyz")


class SandboxApi:
    """The request handler; one per sandbox, bound to one ``ClusterState``."""

    def __init__(
        self,
        state: ClusterState,
        faults: FaultInjector,
        requests: RequestLog,
        bookmark_interval: float = 30.0,
    ) -> None:
        self.state = state
        self.faults = faults
        self.requests = requests
        self.bookmark_interval = bookmark_interval
        self.address = "127.0.0.1"  # host:port, once the server listens

    async def __call__(self, raw: web.BaseRequest) -> web.StreamResponse:
        body = await raw.read()
        target = parse_path(raw.path)
        record = self._record(raw, target)
        try:
            response = await self._respond(raw, body, target, record)
        except errors.ApiError as error:
            response = _json(error.status(), error.code)
        except Exception as exc:  # a bug in the sandbox: tell the client, keep serving
            logger.exception("The sandbox failed to serve %s %s.", raw.method, raw.path_qs)
            failure = errors.ApiError(500, "InternalError", f"sandbox failure: {exc!r}")
            response = _json(failure.status(), 500)
        record.status = record.status or response.status
        return response

    def _record(self, raw: web.BaseRequest, target: Target | None) -> RequestRecord:
        resource = target.plural if target else None
        record = RequestRecord(
            id=self.requests.next_id(),
            method=raw.method,
            path=raw.path,
            query=dict(raw.query),
            verb=_verb(raw, target),
            group=target.group if target and resource else None,
            resource=resource,
            namespace=target.namespace if target else None,
            name=target.name if target else None,
            subresource=target.subresource if target else None,
            user_agent=raw.headers.get("User-Agent", ""),
        )
        if not raw.path.startswith(admin.PREFIX):
            self.requests.add(record)
        return record

    async def _respond(
        self, raw: web.BaseRequest, body: bytes, target: Target | None, record: RequestRecord
    ) -> web.StreamResponse:
        if raw.path.startswith(admin.PREFIX):
            return await admin.respond(raw, body, self.faults, self.requests)
        fault = self.faults.take(raw.method, raw.path)
        if fault is not None:
            record.fault = fault.id
            return await admin.fault_response(raw, fault, record.verb == "watch")
        if target is None:
            return self._non_api(raw.path)
        if target.plural is None:
            return _json(self._discovery(target))
        return await self._resource(raw, body, target, record)

    def _non_api(self, path: str) -> web.StreamResponse:
        if path == "/version":
            return _json(discovery.SERVER_VERSION)
        if path in _HEALTH_PATHS:
            return web.Response(text="ok")
        if path == "/":
            return _json({"paths": ["/api", "/api/v1", "/apis", "/version", *_HEALTH_PATHS]})
        if path.rstrip("/") == openapi.PREFIX:
            return _json(openapi.root(self.state.registry))
        if path.startswith(openapi.PREFIX + "/"):
            document = openapi.group_version(self.state.registry, path[len(openapi.PREFIX):])
            if document is not None:
                return _json(document)
        raise errors.resource_not_found(path)

    def _discovery(self, target: Target) -> Mapping[str, Any]:
        registry = self.state.registry
        if target.group == "*":
            return discovery.group_list(registry)
        if target.group == "" and target.version is None:
            return discovery.core_versions(self.address)
        if target.version is None:
            document = discovery.group_document(registry, target.group)
            if not document["versions"]:
                raise errors.resource_not_found(f"/apis/{target.group}")
            return document
        document = discovery.resource_list(registry, target.group, target.version)
        if not document["resources"]:
            raise errors.resource_not_found(f"{target.group}/{target.version}")
        return document

    # Resource requests.

    async def _resource(
        self, raw: web.BaseRequest, body: bytes, target: Target, record: RequestRecord
    ) -> web.StreamResponse:
        info = self._info(raw, target)
        verb = record.verb
        if verb == "watch":
            record.status = 200  # the stream has begun; it is recorded as answered now
            return await self._watch(raw, info, target)
        if verb in ("get", "list"):
            return self._read(raw, info, target)
        if verb == "create":
            created = self.state.create(info, target.namespace, _parse_body(raw, body),
                                        dry_run=_dry_run(raw), strict=_strict(raw))
            return self._object(raw, info, created, status=201)
        if verb in ("update", "patch"):
            return self._write(raw, body, info, target)
        if verb == "delete":
            return self._delete(raw, body, info, target)
        if verb == "deletecollection":
            deleted = self.state.delete_collection(info, target.namespace, *_selectors(raw))
            return _json(self._list_body(info, deleted))
        raise errors.method_not_allowed(raw.method, raw.path)

    def _info(self, raw: web.BaseRequest, target: Target) -> ResourceInfo:
        assert target.version is not None and target.plural is not None
        info = self.state.registry.find(target.group, target.version, target.plural)
        if info is None:
            raise errors.resource_not_found(raw.path)
        if target.namespace is not None and not info.namespaced:
            raise errors.resource_not_found(raw.path)
        cluster_wide = info.namespaced and target.namespace is None
        if cluster_wide and (target.name is not None or raw.method == "POST"):
            raise errors.resource_not_found(raw.path)
        if target.subresource not in (None, "status"):
            raise errors.resource_not_found(raw.path)
        if target.subresource == "status" and not info.status_subresource:
            raise errors.resource_not_found(raw.path)
        return info

    def _read(self, raw: web.BaseRequest, info: ResourceInfo, target: Target) -> web.Response:
        if target.name is not None:
            obj = self.state.get(info, target.namespace, target.name)
            return self._object(raw, info, obj)
        objects = self.state.select(info, target.namespace, *_selectors(raw))
        accept = raw.headers.get("Accept", "")
        if tables.wants_table(accept):
            rows = [_present(info, obj) for obj in objects]
            revision = str(self.state.store.revision)
            include = raw.query.get("includeObject", "Metadata")
            return _json(tables.table(info, rows, revision, include))
        if "as=PartialObjectMetadataList" in accept:
            return _json(_partial_list(objects, str(self.state.store.revision)))
        return _json(self._list_body(info, objects))

    def _write(
        self, raw: web.BaseRequest, body: bytes, info: ResourceInfo, target: Target
    ) -> web.Response:
        assert target.name is not None
        content = _parse_body(raw, body)
        if raw.method == "PUT":
            obj = self.state.replace(info, target.namespace, target.name, content,
                                     subresource=target.subresource, dry_run=_dry_run(raw),
                                     strict=_strict(raw))
            return self._object(raw, info, obj)
        obj = self.state.patch(info, target.namespace, target.name, raw.content_type, content,
                               subresource=target.subresource, dry_run=_dry_run(raw),
                               strict=_strict(raw))
        return self._object(raw, info, obj)

    def _delete(
        self, raw: web.BaseRequest, body: bytes, info: ResourceInfo, target: Target
    ) -> web.Response:
        assert target.name is not None
        obj, gone = self.state.delete(info, target.namespace, target.name,
                                      _delete_options(raw, body), dry_run=_dry_run(raw))
        if gone and info.custom:
            return _json(_success(info, obj))
        return self._object(raw, info, obj)

    async def _watch(
        self, raw: web.BaseRequest, info: ResourceInfo, target: Target
    ) -> web.StreamResponse:
        labels, fields = _selectors(raw)
        if target.name is not None:  # a watch on one object is a watch by name
            fields = FieldSelector((*fields.terms, (("metadata", "name"), target.name, True)))
        request = watch.WatchRequest(
            info=info,
            namespace=target.namespace,
            labels=labels,
            fields=fields,
            resource_version=raw.query.get("resourceVersion"),
            timeout=watch.parse_timeout(raw.query.get("timeoutSeconds")),
            bookmarks=raw.query.get("allowWatchBookmarks") == "true",
            initial_events=raw.query.get("sendInitialEvents") == "true",
        )
        as_table = tables.wants_table(raw.headers.get("Accept", ""))
        store = self.state.store

        def render(obj: Object) -> Any:
            if as_table:
                return tables.table(info, [_present(info, obj)], str(store.revision))
            return _present(info, obj)

        return await watch.stream(raw, store, request, render, self.bookmark_interval)

    def _object(
        self, raw: web.BaseRequest, info: ResourceInfo, obj: Object, status: int = 200
    ) -> web.Response:
        accept = raw.headers.get("Accept", "")
        if tables.wants_table(accept):
            revision = str(self.state.store.revision)
            return _json(tables.table(info, [_present(info, obj)], revision), status)
        if "as=PartialObjectMetadata" in accept:
            partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                       "metadata": obj["metadata"]}
            return _json(partial, status)
        return _json(_present(info, obj), status)

    def _list_body(self, info: ResourceInfo, objects: list[Object]) -> dict[str, Any]:
        return {
            "kind": info.list_kind or f"{info.kind}List",
            "apiVersion": info.api_version,
            "metadata": {"resourceVersion": str(self.state.store.revision)},
            "items": [_present(info, obj) for obj in objects],
        }


def _verb(raw: web.BaseRequest, target: Target | None) -> str:
    """The RBAC verb of a request (``get``, ``list``, ``watch``, ``create``...)."""
    if target is None or target.plural is None:
        return raw.method.lower()
    watching = raw.query.get("watch") in ("true", "1")
    single = target.name is not None
    by_method = {
        "GET": "watch" if watching else ("get" if single else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if single else "deletecollection",
    }
    return by_method.get(raw.method, raw.method.lower())


def _selectors(raw: web.BaseRequest) -> tuple[LabelSelector, FieldSelector]:
    labels = LabelSelector.parse(raw.query.get("labelSelector"))
    return labels, FieldSelector.parse(raw.query.get("fieldSelector"))


def _dry_run(raw: web.BaseRequest) -> bool:
    return "All" in raw.query.getall("dryRun", [])


def _strict(raw: web.BaseRequest) -> bool:
    """Whether unknown fields are errors (``fieldValidation=Strict``) rather than pruned."""
    return raw.query.get("fieldValidation") == "Strict"


def _parse_body(raw: web.BaseRequest, body: bytes) -> Any:
    if not body:
        return None
    if raw.content_type == protobuf.CONTENT_TYPE:
        return protobuf.decode(body)
    try:
        if raw.content_type == APPLY_PATCH:
            return yaml.safe_load(body)
        return json.loads(body)
    except (ValueError, yaml.YAMLError) as error:
        raise errors.bad_request(f"the request body is not valid JSON or YAML: {error}") from None


def _delete_options(raw: web.BaseRequest, body: bytes) -> dict[str, Any]:
    """DeleteOptions from the body, or from query parameters as some clients send them."""
    options = _parse_body(raw, body) if body else None
    result = dict(options) if isinstance(options, Mapping) else {}
    for key in ("propagationPolicy", "gracePeriodSeconds"):
        if key in raw.query:
            result.setdefault(key, raw.query[key])
    return result


def _present(info: ResourceInfo, obj: Object) -> Object:
    """The object as the requested version shows it (versions share storage unconverted)."""
    if obj.get("apiVersion") == info.api_version:
        return obj
    return {**obj, "apiVersion": info.api_version}


def _partial_list(objects: list[Object], revision: str) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": revision},
        "items": [
            {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
             "metadata": obj["metadata"]}
            for obj in objects
        ],
    }


def _success(info: ResourceInfo, obj: Object) -> dict[str, Any]:
    details = {"name": obj["metadata"]["name"], "group": info.group, "kind": info.plural,
               "uid": obj["metadata"].get("uid")}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )
