"""Deletion as the API server does it: marking, finalizers, cascades and their reapers.

An object with finalizers is only marked (``deletionTimestamp``, grace period 0, generation
bumped); it goes when its last finalizer does. Removing an object deletes its dependents
that have no owner left (background propagation; ``Orphan`` drops the references
instead). A deleted namespace or CRD deletes what it holds and goes once that is gone.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from . import crds, errors
from .builtin import CRDS, NAMESPACES
from .clock import now_rfc3339
from .resources import ResourceInfo, ResourceRegistry, StorageKey
from .storage import Object, ObjectStore


class Deletions:
    """Deletes objects in one store, keeping the registry in line with the CRDs stored."""

    def __init__(self, registry: ResourceRegistry, store: ObjectStore) -> None:
        self.registry = registry
        self.store = store

    def delete(
        self, info: ResourceInfo, old: Object, options: Mapping[str, Any]
    ) -> tuple[Object, bool]:
        """Delete or mark an object; returns its last state and whether it is gone now."""
        check_preconditions(info, old, options)
        if info.storage_key == NAMESPACES:
            return self._delete_namespace(old)
        if info.storage_key == CRDS:
            return self._delete_crd(old)
        if options.get("propagationPolicy") == "Orphan":
            self._orphan_dependents(old)
        return self._delete_object(info, old)

    def remove(self, info: ResourceInfo, obj: Object) -> Object:
        """Remove an object now, then whatever its removal lets go; returns its final state."""
        final = self.store.remove(info.storage_key, obj)
        crds.keep_serving(self.registry, self.store, info, final, removed=True)
        self._collect_garbage(final)
        namespace = final["metadata"].get("namespace")
        if namespace:
            self._reap_namespace(namespace)
        if info.custom:
            self._reap_crd(info.storage_key)
        return final

    def _delete_object(self, info: ResourceInfo, old: Object) -> tuple[Object, bool]:
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return old, False
            return self.store.put(info.storage_key, marked_for_deletion(old), old), False
        return self.remove(info, old), True

    def _delete_namespace(self, old: Object) -> tuple[Object, bool]:
        namespace = old["metadata"]["name"]
        current = old
        if not old["metadata"].get("deletionTimestamp"):
            marked = marked_for_deletion(old, bump_generation=False)
            marked["status"] = {"phase": "Terminating"}
            current = self.store.put(NAMESPACES, marked, old)
        for resource, obj in list(self.store.namespaced_contents(namespace)):
            self._delete_object(self._info_of(resource), obj)
        return self._reap_namespace(namespace) or current, False

    def _delete_crd(self, old: Object) -> tuple[Object, bool]:
        current = old
        if not old["metadata"].get("deletionTimestamp"):
            current = self.store.put(CRDS, marked_for_deletion(old), old)
        resource = crds.storage_key_of(old)
        for obj in list(self.store.objects(resource)):
            self._delete_object(self._info_of(resource), obj)
        return self._reap_crd(resource) or current, False

    def _orphan_dependents(self, owner: Object) -> None:
        uid = owner["metadata"].get("uid", "")
        for resource, obj in self.store.dependents(uid):
            orphan = copy.deepcopy(obj)
            references = orphan["metadata"].get("ownerReferences", [])
            remaining = [ref for ref in references if ref.get("uid") != uid]
            if remaining:
                orphan["metadata"]["ownerReferences"] = remaining
            else:
                orphan["metadata"].pop("ownerReferences", None)
            self.store.put(resource, orphan, obj)

    def _collect_garbage(self, owner: Object) -> None:
        """Delete the dependents of a removed object that have no owner left."""
        for resource, obj in self.store.dependents(owner["metadata"].get("uid", "")):
            references = obj["metadata"].get("ownerReferences") or []
            if not any(self.store.exists(ref.get("uid", "")) for ref in references):
                self._delete_object(self._info_of(resource), obj)

    def _reap_namespace(self, namespace: str) -> Object | None:
        """Remove a terminating namespace once it holds nothing; return its final state."""
        found = self.store.get(NAMESPACES, None, namespace)
        if found is None or not found["metadata"].get("deletionTimestamp"):
            return None
        if next(self.store.namespaced_contents(namespace), None) is not None:
            return None
        return self.store.remove(NAMESPACES, found)

    def _reap_crd(self, resource: StorageKey) -> Object | None:
        """Remove a terminating CRD once no objects of it remain; stop serving it."""
        group, plural = resource
        found = self.store.get(CRDS, None, f"{plural}.{group}")
        if found is None or not found["metadata"].get("deletionTimestamp"):
            return None
        if self.store.objects(resource):
            return None
        final = self.store.remove(CRDS, found)
        crds.keep_serving(self.registry, self.store, self._info_of(CRDS), final, removed=True)
        return final

    def _info_of(self, resource: StorageKey) -> ResourceInfo:
        versions = self.registry.versions_of(*resource)
        if not versions:
            raise errors.resource_not_found("/".join(resource))
        return versions[0]


def check_preconditions(info: ResourceInfo, old: Object, options: Mapping[str, Any]) -> None:
    """409 if the DeleteOptions' preconditions (uid, resourceVersion) do not hold."""
    preconditions = options.get("preconditions") or {}
    name = old["metadata"]["name"]
    for key in ("uid", "resourceVersion"):
        wanted = preconditions.get(key)
        if wanted and wanted != old["metadata"].get(key):
            what = f"Precondition failed: {key}: {wanted}, in object meta: "
            raise errors.precondition_failed(info, name, what + str(old["metadata"][key]))


def released(info: ResourceInfo, obj: Object) -> bool:
    """Whether an object being deleted has lost its last finalizer and must go now.

    Namespaces and CRDs go only when what they contain is gone, never on an update.
    """
    if info.storage_key in (NAMESPACES, CRDS):
        return False
    metadata = obj["metadata"]
    return bool(metadata.get("deletionTimestamp")) and not metadata.get("finalizers")


def marked_for_deletion(obj: Object, *, bump_generation: bool = True) -> Object:
    """A copy of the object marked as being deleted, as a real API server marks it."""
    marked = copy.deepcopy(obj)
    metadata = marked["metadata"]
    metadata["deletionTimestamp"] = now_rfc3339()
    metadata["deletionGracePeriodSeconds"] = 0
    if bump_generation and metadata.get("generation"):
        metadata["generation"] += 1
    return marked
