"""What reads and writes do to objects: the API server's semantics, without the HTTP.

Writes follow real Kubernetes: the server owns ``uid``, ``creationTimestamp``,
``resourceVersion`` and ``generation`` (bumped when anything but metadata and status
changes); a stale ``resourceVersion`` answers 409 Conflict; with a status subresource, the
main resource ignores ``status`` and ``/status`` changes nothing else; deleting an object
with finalizers only marks it (``deletionTimestamp``), and removing its last finalizer
removes it (``deletion`` holds the deletion rules, cascades included).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from . import crds, defaults, errors
from .builtin import BUILTIN_RESOURCES, CRDS, NAMESPACES
from .clock import generated_name, now_rfc3339
from .deletion import Deletions, released
from .patches import json_patch, merge_patch, strategic_merge_patch
from .resources import ResourceInfo, ResourceRegistry
from .selectors import FieldSelector, LabelSelector
from .storage import Object, ObjectStore
from .structural import prune_and_default, unknown_fields
from .validation import Cause, label_causes, name_causes, schema_causes

# Metadata only the server writes; clients' values are ignored on update.
_SERVER_METADATA = (
    "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
    "generation", "resourceVersion", "name", "namespace",
)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class ClusterState:
    """The served resources and their objects, changed only through these operations."""

    def __init__(self, history_limit: int = 10_000) -> None:
        self.registry = ResourceRegistry()
        self.store = ObjectStore(history_limit)
        self.deletions = Deletions(self.registry, self.store)
        for info in BUILTIN_RESOURCES:
            self.registry.add(info)

    # Reads.

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> Object:
        """One object, or 404."""
        obj = self.store.get(info.storage_key, namespace, name)
        if obj is None:
            raise errors.not_found(info, name)
        return obj

    def select(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> list[Object]:
        """Objects of a resource in a namespace (or all), filtered by selectors."""
        return [
            obj for obj in self.store.objects(info.storage_key, namespace)
            if labels.matches(obj["metadata"].get("labels")) and fields.matches(obj)
        ]

    # Writes.

    def create(
        self,
        info: ResourceInfo,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Object:
        """Create an object: 201 semantics, 409 if it exists, 422 if it is invalid.

        ``strict`` (``fieldValidation=Strict``) rejects unknown fields instead of pruning them.
        """
        obj = self._fresh_object(info, namespace, body)
        metadata = obj["metadata"]
        self._require_container(info, metadata.get("namespace"), metadata["name"])
        obj = self._admit(info, obj, strict)
        if self.store.get(info.storage_key, metadata.get("namespace"), metadata["name"]):
            raise errors.already_exists(info, metadata["name"])

        obj["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339())
        obj["metadata"]["generation"] = 1
        if dry_run:
            return obj
        stored = self.store.put(info.storage_key, obj, None)
        crds.keep_serving(self.registry, self.store, info, stored)
        return stored

    def replace(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Object:
        """Replace an object (PUT); a stale resourceVersion in the body answers 409."""
        old = self.get(info, namespace, name)
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise errors.bad_request("the body of an update must be an object")
        body_name = body.get("metadata", {}).get("name")
        if body_name and body_name != name:
            message = f"the name of the object ({body_name}) does not match the name on the URL"
            raise errors.bad_request(f"{message} ({name})")
        self._check_version(info, old, body)
        return self._update(info, old, body, subresource, dry_run, strict)

    def patch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        patch_type: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Object:
        """Patch an object; a patch carrying a stale resourceVersion answers 409."""
        if patch_type == APPLY_PATCH and not self.store.get(info.storage_key, namespace, name):
            applied = dict(body) if isinstance(body, Mapping) else body
            return self.create(info, namespace, applied, dry_run=dry_run, strict=strict)
        old = self.get(info, namespace, name)
        candidate = self._patched(info, old, patch_type, body)
        if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata"), dict):
            raise errors.unprocessable("the patched object is not a Kubernetes object")
        self._check_version(info, old, candidate)
        return self._update(info, old, candidate, subresource, dry_run, strict)

    def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[Object, bool]:
        """Delete or mark an object; returns its last state and whether it is gone now."""
        old = self.get(info, namespace, name)
        if dry_run:
            return old, not old["metadata"].get("finalizers")
        return self.deletions.delete(info, old, options or {})

    def delete_collection(
        self,
        info: ResourceInfo,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> list[Object]:
        """Delete every selected object; returns their last states."""
        deleted = []
        for obj in self.select(info, namespace, labels, fields):
            name = obj["metadata"]["name"]
            deleted.append(self.delete(info, obj["metadata"].get("namespace"), name)[0])
        return deleted

    # Creation details.

    def _fresh_object(self, info: ResourceInfo, namespace: str | None, body: Any) -> Object:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise errors.bad_request("the body of a create request must be an object")
        obj = copy.deepcopy(body)
        self._check_type(info, obj)
        metadata = obj.setdefault("metadata", {})
        for key in _SERVER_METADATA:
            if key not in ("name", "namespace"):
                metadata.pop(key, None)
        self._place(info, namespace, metadata)
        self._name(info, metadata)
        if info.status_subresource:
            obj.pop("status", None)
        self._initial_state(info, obj)
        return obj

    def _check_type(self, info: ResourceInfo, obj: Object) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if (kind and kind != info.kind) or (api_version and api_version != info.api_version):
            message = f"the API version in the data ({api_version}) does not match the "
            message += f"expected API version ({info.api_version}) or kind ({info.kind})"
            raise errors.bad_request(message)
        obj["kind"], obj["apiVersion"] = info.kind, info.api_version

    def _place(self, info: ResourceInfo, namespace: str | None, metadata: Object) -> None:
        if not info.namespaced:
            metadata.pop("namespace", None)
            return
        requested = metadata.get("namespace")
        if requested and namespace and requested != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        metadata["namespace"] = namespace or requested or "default"

    def _name(self, info: ResourceInfo, metadata: Object) -> None:
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                cause = ("FieldValueRequired", "metadata.name", "Required value: name or "
                         "generateName is required")
                raise errors.invalid(info, "", [cause])
            namespace = metadata.get("namespace")
            name = generated_name(prefix)
            while self.store.get(info.storage_key, namespace, name):
                name = generated_name(prefix)
            metadata["name"] = name
        causes = name_causes(str(metadata["name"]), dns_label=info.storage_key == NAMESPACES)
        if causes:
            raise errors.invalid(info, str(metadata["name"]), causes)

    def _initial_state(self, info: ResourceInfo, obj: Object) -> None:
        if info.storage_key == NAMESPACES:
            obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
            obj["status"] = {"phase": "Active"}
            labels = obj["metadata"].setdefault("labels", {})
            labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif info.storage_key == CRDS:
            obj["status"] = crds.accepted_status(obj, now_rfc3339())
        else:
            defaults.apply(info.storage_key, obj, creating=True)

    def _require_container(self, info: ResourceInfo, namespace: str | None, name: str) -> None:
        if namespace is not None:
            found = self.store.get(NAMESPACES, None, namespace)
            if found is None:
                raise errors.namespace_not_found(namespace)
            if found["metadata"].get("deletionTimestamp"):
                why = f"unable to create new content in namespace {namespace} because it is "
                raise errors.forbidden(info, name, why + "being terminated")
        if info.custom:
            crd = self.store.get(CRDS, None, f"{info.plural}.{info.group}")
            if crd is not None and crd["metadata"].get("deletionTimestamp"):
                why = "create not allowed while custom resource definition is terminating"
                raise errors.forbidden(info, name, why)

    # Update details.

    def _patched(self, info: ResourceInfo, old: Object, patch_type: str, body: Any) -> Any:
        appliers: dict[str, Callable[[Any, Any], Any]] = {
            MERGE_PATCH: merge_patch,
            JSON_PATCH: json_patch,
            APPLY_PATCH: merge_patch,
        }
        if not info.custom:
            appliers[STRATEGIC_PATCH] = strategic_merge_patch
        applier = appliers.get(patch_type)
        if applier is None:
            raise errors.unsupported_media_type(patch_type)
        if patch_type != JSON_PATCH and not isinstance(body, Mapping):
            raise errors.bad_request("a merge patch must be a JSON object")
        return applier(old, body)

    def _check_version(self, info: ResourceInfo, old: Object, new: Mapping[str, Any]) -> None:
        wanted = (new.get("metadata") or {}).get("resourceVersion")
        if wanted and str(wanted) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(info, old["metadata"]["name"])

    def _update(
        self,
        info: ResourceInfo,
        old: Object,
        candidate: Object,
        subresource: str | None,
        dry_run: bool,
        strict: bool = False,
    ) -> Object:
        new = self._split_status(info, old, copy.deepcopy(candidate), subresource)
        new["kind"], new["apiVersion"] = old["kind"], old["apiVersion"]
        self._keep_server_metadata(old, new)
        self._check_finalizers(info, old, new)
        defaults.apply(info.storage_key, new, creating=False)
        new = self._admit(info, new, strict)
        if _content(new) != _content(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1

        if new == old or dry_run:
            return old if new == old else new
        if released(info, new):
            return self.deletions.remove(info, new)
        stored = self.store.put(info.storage_key, new, old)
        crds.keep_serving(self.registry, self.store, info, stored)
        return stored

    def _split_status(
        self, info: ResourceInfo, old: Object, new: Object, subresource: str | None
    ) -> Object:
        if not info.status_subresource:
            return new
        if subresource == "status":
            result = copy.deepcopy(old)
            _set_or_drop(result, "status", new.get("status"))
            return result
        _set_or_drop(new, "status", copy.deepcopy(old.get("status")))
        return new

    def _keep_server_metadata(self, old: Object, new: Object) -> None:
        metadata, old_metadata = new.setdefault("metadata", {}), old["metadata"]
        for key in _SERVER_METADATA:
            _set_or_drop(metadata, key, old_metadata.get(key))

    def _check_finalizers(self, info: ResourceInfo, old: Object, new: Object) -> None:
        if not old["metadata"].get("deletionTimestamp"):
            return
        before = set(old["metadata"].get("finalizers") or ())
        added = set(new["metadata"].get("finalizers") or ()) - before
        if added:
            message = "Forbidden: no new finalizers can be added if the object is being deleted"
            message += f", found new finalizers {sorted(added)}"
            raise errors.invalid(info, old["metadata"]["name"],
                                 [("FieldValueForbidden", "metadata.finalizers", message)])

    def _admit(self, info: ResourceInfo, obj: Object, strict: bool = False) -> Object:
        """Prune, default and validate an object about to be stored; 422 if it is invalid."""
        causes: list[Cause] = label_causes(obj["metadata"].get("labels"))
        if info.custom and info.schema:
            unknown = unknown_fields(obj, info.schema) if strict else []
            if unknown:
                listed = ", ".join(f'unknown field "{path}"' for path in unknown)
                raise errors.bad_request(
                    f"{info.kind} in version \"{info.version}\" cannot be handled as a "
                    f"{info.kind}: strict decoding error: {listed}"
                )
            obj = prune_and_default(obj, info.schema)
            causes += schema_causes(obj, info.schema)
        if info.storage_key == CRDS:
            causes += crds.crd_causes(obj)
        if causes:
            raise errors.invalid(info, obj["metadata"].get("name", ""), causes)
        return obj


def _set_or_drop(mapping: Object, key: str, value: Any) -> None:
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _content(obj: Object) -> Object:
    """What ``generation`` counts: everything but metadata and status."""
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}
