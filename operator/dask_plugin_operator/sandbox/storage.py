"""The object store: every object by resource, namespace and name, and its change history.

One global ``resourceVersion`` counter orders every write, like etcd's revision. Each write
is kept as a watch event in a bounded history, so a watch can resume from any recent
version; older versions answer 410 Gone. Stored objects are never mutated: a write stores a
new dict, so readers and watch streams may hold on to what they got.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import expired
from .resources import StorageKey

Object = dict[str, Any]
ObjectKey = tuple[str, str]  # (namespace or "", name)


@dataclass(frozen=True)
class WatchEvent:
    """One change: ADDED, MODIFIED or DELETED, with the object before and after."""

    type: str
    revision: int
    resource: StorageKey
    obj: Object
    old: Object | None = None


class Subscription:
    """A live feed of the changes of one resource, for one watch request."""

    def __init__(self, resource: StorageKey) -> None:
        self.resource = resource
        self.queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()

    def close(self) -> None:
        """End the feed: the watch stream finishes as if its timeout passed."""
        self.queue.put_nowait(None)


class ObjectStore:
    """Objects per resource with a global revision and a bounded history of changes."""

    def __init__(self, history_limit: int = 10_000) -> None:
        self._objects: dict[StorageKey, dict[ObjectKey, Object]] = {}
        self._revision = 0
        self._history: collections.deque[WatchEvent] = collections.deque(maxlen=history_limit)
        self._forgotten = 0  # the newest revision no longer in the history
        self._subscriptions: set[Subscription] = set()
        self._uids: dict[str, tuple[StorageKey, ObjectKey]] = {}
        self._dependents: dict[str, set[tuple[StorageKey, ObjectKey]]] = {}

    @property
    def revision(self) -> int:
        """The resourceVersion of the latest write."""
        return self._revision

    def get(self, resource: StorageKey, namespace: str | None, name: str) -> Object | None:
        """The object, or None if there is none by this name."""
        return self._objects.get(resource, {}).get((namespace or "", name))

    def objects(self, resource: StorageKey, namespace: str | None = None) -> list[Object]:
        """Objects of one resource, in one namespace or in all (None), by namespace and name."""
        objects = self._objects.get(resource, {})
        keys = sorted(key for key in objects if namespace is None or key[0] == namespace)
        return [objects[key] for key in keys]

    def namespaced_contents(self, namespace: str) -> Iterator[tuple[StorageKey, Object]]:
        """Every object in a namespace, of every resource."""
        for resource, objects in list(self._objects.items()):
            for (object_namespace, _), obj in list(objects.items()):
                if object_namespace == namespace:
                    yield resource, obj

    def exists(self, uid: str) -> bool:
        """Whether an object with this uid is stored."""
        return uid in self._uids

    def dependents(self, uid: str) -> list[tuple[StorageKey, Object]]:
        """Objects whose ownerReferences name this uid."""
        found = []
        for resource, key in sorted(self._dependents.get(uid, ())):
            obj = self._objects.get(resource, {}).get(key)
            if obj is not None:
                found.append((resource, obj))
        return found

    def put(self, resource: StorageKey, obj: Object, old: Object | None) -> Object:
        """Store a new or changed object under a new resourceVersion and tell the watchers."""
        revision = self._next_revision()
        obj["metadata"]["resourceVersion"] = str(revision)
        key = _key_of(obj)
        self._objects.setdefault(resource, {})[key] = obj
        self._index(resource, key, old, obj)
        self._publish(WatchEvent("MODIFIED" if old else "ADDED", revision, resource, obj, old))
        return obj

    def remove(self, resource: StorageKey, obj: Object) -> Object:
        """Forget an object; the DELETED event carries a new resourceVersion, like etcd's."""
        revision = self._next_revision()
        self._objects.get(resource, {}).pop(_key_of(obj), None)
        self._index(resource, _key_of(obj), obj, None)
        final = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(revision)}}
        self._publish(WatchEvent("DELETED", revision, resource, final, obj))
        return final

    def events_since(self, resource: StorageKey, revision: int) -> list[WatchEvent]:
        """Changes of one resource after a revision; 410 Gone if the history lost some."""
        if revision < self._forgotten:
            raise expired(revision, self._forgotten + 1)
        return [e for e in self._history if e.revision > revision and e.resource == resource]

    def subscribe(self, resource: StorageKey) -> Subscription:
        """Start receiving every later change of a resource."""
        subscription = Subscription(resource)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop receiving changes."""
        self._subscriptions.discard(subscription)

    def close_subscriptions(self, resource: StorageKey | None = None) -> None:
        """End the watch streams of one resource, or all of them (at shutdown)."""
        for subscription in list(self._subscriptions):
            if resource is None or subscription.resource == resource:
                subscription.close()
                self._subscriptions.discard(subscription)

    def _index(
        self, resource: StorageKey, key: ObjectKey, old: Object | None, new: Object | None
    ) -> None:
        """Keep the uid and owner indexes in line with a write."""
        for owner in _owner_uids(old):
            self._dependents.get(owner, set()).discard((resource, key))
        for owner in _owner_uids(new):
            self._dependents.setdefault(owner, set()).add((resource, key))
        if old is not None:
            self._uids.pop(old["metadata"].get("uid", ""), None)
        if new is not None:
            self._uids[new["metadata"].get("uid", "")] = (resource, key)

    def _next_revision(self) -> int:
        self._revision += 1
        return self._revision

    def _publish(self, event: WatchEvent) -> None:
        if len(self._history) == self._history.maxlen:
            self._forgotten = self._history[0].revision
        self._history.append(event)
        for subscription in self._subscriptions:
            if subscription.resource == event.resource:
                subscription.queue.put_nowait(event)


def _key_of(obj: Object) -> ObjectKey:
    metadata = obj["metadata"]
    return (metadata.get("namespace") or "", metadata["name"])


def _owner_uids(obj: Object | None) -> list[str]:
    if obj is None:
        return []
    references = obj["metadata"].get("ownerReferences") or []
    return [ref["uid"] for ref in references if isinstance(ref, dict) and ref.get("uid")]
