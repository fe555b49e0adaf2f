"""Watch streams: the events of one resource after a resourceVersion, as JSON lines.

A watch from version N sends exactly the changes after N, then live changes, with no gap:
the history is read and the live feed is subscribed to in one step of the event loop. A
watch with no version (or "0") starts with an ADDED event per existing object. A version
older than the kept history gets an ERROR event with a 410 Status, as real Kubernetes does.
Selectors apply to both sides of a change: an object that stops matching is DELETED for
the watcher, one that starts matching is ADDED.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request
from .resources import ResourceInfo
from .selectors import FieldSelector, LabelSelector
from .storage import Object, ObjectStore, WatchEvent

Render = Callable[[Object], Any]

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class WatchRequest:
    """What a watch asks for, from its URL and query parameters."""

    info: ResourceInfo
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    resource_version: str | None
    timeout: float | None
    bookmarks: bool
    initial_events: bool

    def selects(self, obj: Object | None) -> bool:
        """Whether the watcher sees this object (in the namespace, matching selectors)."""
        if obj is None:
            return False
        metadata = obj["metadata"]
        if self.namespace is not None and metadata.get("namespace") != self.namespace:
            return False
        return self.labels.matches(metadata.get("labels")) and self.fields.matches(obj)


def parse_timeout(text: str | None) -> float | None:
    """``timeoutSeconds``, as seconds; None if absent."""
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        raise bad_request(f"invalid timeoutSeconds: {text!r}") from None


async def stream(
    raw_request: web.BaseRequest,
    store: ObjectStore,
    watch: WatchRequest,
    render: Render,
    bookmark_interval: float,
) -> web.StreamResponse:
    """Serve one watch request until its timeout, a disconnect or the sandbox's shutdown."""
    try:
        backlog = _backlog(store, watch)
    except ApiError as error:
        return await _send_error(raw_request, error)
    # Subscribing right after reading the backlog, with no await between, loses no event.
    subscription = store.subscribe(watch.info.storage_key)
    try:
        response = await _start(raw_request)
        try:
            for event_type, obj in backlog:
                await _send(response, event_type, render(obj))
            if watch.initial_events:
                await _send(response, "BOOKMARK", _bookmark(watch, store, initial_end=True))
            await _follow(response, subscription.queue, store, watch, render, bookmark_interval)
        except ConnectionResetError:
            pass  # the client went away: the usual end of a watch, nothing to report
        return response
    finally:
        store.unsubscribe(subscription)


def _backlog(store: ObjectStore, watch: WatchRequest) -> list[tuple[str, Object]]:
    version = watch.resource_version
    if watch.initial_events or not version or version == "0":
        objects = store.objects(watch.info.storage_key, watch.namespace)
        return [("ADDED", obj) for obj in objects if watch.selects(obj)]
    try:
        since = int(version)
    except ValueError:
        raise bad_request(f"invalid resourceVersion: {version!r}") from None
    events = store.events_since(watch.info.storage_key, since)
    return [seen for event in events if (seen := _as_seen(event, watch)) is not None]


def _as_seen(event: WatchEvent, watch: WatchRequest) -> tuple[str, Object] | None:
    """The event as this watcher sees it through its selectors, or None if unseen."""
    now, before = watch.selects(event.obj), watch.selects(event.old)
    if event.type == "MODIFIED":
        if now and before:
            return ("MODIFIED", event.obj)
        if now:
            return ("ADDED", event.obj)
        return ("DELETED", event.obj) if before else None
    return (event.type, event.obj) if now or (event.type == "DELETED" and before) else None


async def _follow(
    response: web.StreamResponse,
    queue: asyncio.Queue[WatchEvent | None],
    store: ObjectStore,
    watch: WatchRequest,
    render: Render,
    bookmark_interval: float,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = None if watch.timeout is None else loop.time() + watch.timeout
    while deadline is None or loop.time() < deadline:
        wait = bookmark_interval
        if deadline is not None:
            wait = min(wait, deadline - loop.time())
        try:
            event = await asyncio.wait_for(queue.get(), timeout=max(wait, 0))
        except asyncio.TimeoutError:  # not the built-in TimeoutError before Python 3.11
            if watch.bookmarks:
                await _send(response, "BOOKMARK", _bookmark(watch, store))
            continue
        if event is None:
            return
        seen = _as_seen(event, watch)
        if seen is not None:
            await _send(response, seen[0], render(seen[1]))


def _bookmark(watch: WatchRequest, store: ObjectStore, initial_end: bool = False) -> Object:
    metadata: dict[str, Any] = {"resourceVersion": str(store.revision)}
    if initial_end:
        metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": watch.info.kind, "apiVersion": watch.info.api_version, "metadata": metadata}


async def _start(raw_request: web.BaseRequest) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(raw_request)
    return response


async def _send(response: web.StreamResponse, event_type: str, obj: Any) -> None:
    line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":"))
    await response.write(line.encode() + b"\n")


async def _send_error(raw_request: web.BaseRequest, error: ApiError) -> web.StreamResponse:
    """An error inside a started watch stream: one ERROR event, then the end."""
    response = await _start(raw_request)
    await _send(response, "ERROR", error.status())
    await response.write_eof()
    return response


async def send_error_event(raw_request: web.BaseRequest, error: ApiError) -> web.StreamResponse:
    """Answer a watch with nothing but an ERROR event (used for injected 410 faults)."""
    return await _send_error(raw_request, error)
