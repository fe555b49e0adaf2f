"""List and watch: resource versions, resumption without gaps or repeats, 410 Gone, selectors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from dask_plugin_operator.sandbox import Sandbox

pytestmark = pytest.mark.timeout(30)

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def small() -> AsyncIterator[Sandbox]:
    """A sandbox with core resources only, keeping only the last five changes."""
    async with Sandbox(crds=[], install_daskcluster_crd=False, history_limit=5,
                       bookmark_interval=0.1) as running:
        yield running


@pytest.fixture
async def http(small: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=small.url) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               content_type: str = "application/json") -> Any:
    data = None if body is None else json.dumps(body)
    async with http.request(method, path, data=data,
                            headers={"Content-Type": content_type}) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def create(http: aiohttp.ClientSession, name: str, **labels: str) -> Any:
    return await call(http, "POST", CONFIGMAPS,
                      {"metadata": {"name": name, "labels": labels}, "data": {"v": "0"}})


async def change(http: aiohttp.ClientSession, name: str, patch: Any) -> Any:
    return await call(http, "PATCH", f"{CONFIGMAPS}/{name}", patch,
                      "application/merge-patch+json")


async def watch_through(
    http: aiohttp.ClientSession, sentinel: dict[str, str] | None = None, **params: str
) -> tuple[list[tuple[str, str]], str]:
    """(type, name) of the events a watch sends before a change made once it is open,
    and the resourceVersion of that change, the last one the watch has seen.

    The sentinel object created after the stream starts marks the end of what to look at,
    so the test neither waits for a timeout nor misses an event sent too many.
    """
    query = {"watch": "true", "timeoutSeconds": "10", **params}
    events, last_version = [], ""
    async with http.get(CONFIGMAPS, params=query) as response:
        metadata = {"generateName": "zz-sentinel-", "labels": sentinel or {}}
        await call(http, "POST", CONFIGMAPS, {"metadata": metadata})
        async for line in response.content:
            event = json.loads(line)
            meta = event["object"].get("metadata", {})
            name = str(meta.get("name", event["object"].get("code")))
            if name.startswith("zz-sentinel-"):
                last_version = meta["resourceVersion"]
                break
            if event["type"] != "BOOKMARK":
                events.append((event["type"], name))
    return events, last_version


async def watch(
    http: aiohttp.ClientSession, sentinel: dict[str, str] | None = None, **params: str
) -> list[tuple[str, str]]:
    """(type, name) of the events a watch sends before a change made once it is open."""
    return (await watch_through(http, sentinel, **params))[0]


async def test_a_watch_from_a_listed_version_sends_every_later_change_once(
    http: aiohttp.ClientSession,
) -> None:
    await create(http, "a")
    await create(http, "b")
    listing = await call(http, "GET", CONFIGMAPS)
    version = listing["metadata"]["resourceVersion"]

    await create(http, "c")
    await change(http, "a", {"data": {"v": "1"}})
    await call(http, "DELETE", f"{CONFIGMAPS}/b")

    events = await watch(http, resourceVersion=version)
    assert events == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]


async def test_a_watch_resumes_from_the_last_version_it_saw(http: aiohttp.ClientSession) -> None:
    created = await create(http, "a")
    await change(http, "a", {"data": {"v": "1"}})
    seen, last = await watch_through(http, resourceVersion=created["metadata"]["resourceVersion"])

    await change(http, "a", {"data": {"v": "2"}})
    resumed = await watch(http, resourceVersion=last)
    assert seen == [("MODIFIED", "a")]
    assert resumed == [("MODIFIED", "a")]


async def test_a_watch_without_a_version_starts_with_the_objects_that_exist(
    http: aiohttp.ClientSession,
) -> None:
    await create(http, "a")
    await create(http, "b")
    assert await watch(http) == [("ADDED", "a"), ("ADDED", "b")]


async def test_a_version_older_than_the_history_answers_410_gone(
    http: aiohttp.ClientSession,
) -> None:
    first = await create(http, "a")
    for value in range(1, 8):  # more changes than the history keeps
        await change(http, "a", {"data": {"v": str(value)}})
    events = await watch(http, resourceVersion=first["metadata"]["resourceVersion"])
    assert events == [("ERROR", "410")]


async def test_a_running_watch_receives_changes_as_they_happen(
    http: aiohttp.ClientSession,
) -> None:
    async with http.get(CONFIGMAPS, params={"watch": "true", "timeoutSeconds": "10"}) as stream:
        await create(http, "late")
        event = json.loads(await stream.content.readline())
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "late")


async def test_objects_enter_and_leave_a_watch_with_a_label_selector(
    http: aiohttp.ClientSession,
) -> None:
    listing = await call(http, "GET", CONFIGMAPS)
    await create(http, "a")
    await change(http, "a", {"metadata": {"labels": {"team": "x"}}})
    await change(http, "a", {"data": {"v": "1"}})
    await change(http, "a", {"metadata": {"labels": {"team": "y"}}})
    await create(http, "b", team="x")

    version = listing["metadata"]["resourceVersion"]
    events = await watch(http, {"team": "x"}, resourceVersion=version, labelSelector="team=x")
    assert events == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a"), ("ADDED", "b")]


async def test_a_field_selector_narrows_a_watch(
    http: aiohttp.ClientSession,
) -> None:
    await create(http, "a")
    await create(http, "b")
    assert await watch(http, fieldSelector="metadata.name!=a") == [("ADDED", "b")]


async def test_initial_events_end_with_a_bookmark_when_asked_for(
    http: aiohttp.ClientSession,
) -> None:
    await create(http, "a")
    query = {"watch": "true", "timeoutSeconds": "1", "sendInitialEvents": "true",
             "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"}
    async with http.get(CONFIGMAPS, params=query) as response:
        first = json.loads(await response.content.readline())
        second = json.loads(await response.content.readline())
    assert first["type"] == "ADDED"
    assert second["type"] == "BOOKMARK"
    assert second["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_bookmarks_carry_the_current_version_when_allowed(
    http: aiohttp.ClientSession, small: Sandbox
) -> None:
    await create(http, "a")
    query = {"watch": "true", "timeoutSeconds": "5", "allowWatchBookmarks": "true",
             "resourceVersion": str(small.state.store.revision)}
    async with http.get(CONFIGMAPS, params=query) as response:
        bookmark = json.loads(await response.content.readline())
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["resourceVersion"] == str(small.state.store.revision)
