"""CRDs through the API: served at once when created, versions, and deletion that cascades."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml

from dask_plugin_operator.sandbox import Sandbox

from .conftest import HERE

pytestmark = pytest.mark.timeout(30)

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/sandbox.test/v1/namespaces/default/widgets"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with (
        Sandbox(crds=[], install_daskcluster_crd=False) as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as session,
    ):
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               expect: int | None = None, content_type: str = "application/json") -> Any:
    data = None if body is None else json.dumps(body)
    async with http.request(method, path, data=data,
                            headers={"Content-Type": content_type}) as response:
        if expect is not None:
            assert response.status == expect, await response.text()
        else:
            assert response.status < 300, await response.text()
        return await response.json()


def widgets_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load((HERE / "widgets-crd.yaml").read_text())
    return crd


def widget(name: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "sandbox.test/v1", "kind": "Widget",
            "metadata": {"name": name, **metadata}, "spec": {"size": 1}}


async def test_a_crd_created_through_the_api_is_served_at_once(
    http: aiohttp.ClientSession,
) -> None:
    await call(http, "GET", "/apis/sandbox.test/v1", expect=404)
    created = await call(http, "POST", CRDS, widgets_crd(), expect=201)

    conditions = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    resources = await call(http, "GET", "/apis/sandbox.test/v1")
    names = [r["name"] for r in resources["resources"]]
    assert names == ["widgets", "widgets/status"]
    groups = await call(http, "GET", "/apis")
    assert "sandbox.test" in [g["name"] for g in groups["groups"]]
    await call(http, "POST", WIDGETS, widget("w"), expect=201)


async def test_every_served_version_shows_the_same_objects(http: aiohttp.ClientSession) -> None:
    crd = widgets_crd()
    beta = copy.deepcopy(crd["spec"]["versions"][0])
    beta.update(name="v1beta1", storage=False)
    crd["spec"]["versions"].append(beta)
    await call(http, "POST", CRDS, crd)
    await call(http, "POST", WIDGETS, widget("w"))

    group = await call(http, "GET", "/apis/sandbox.test")
    assert group["preferredVersion"]["version"] == "v1"
    seen = await call(http, "GET", "/apis/sandbox.test/v1beta1/namespaces/default/widgets/w")
    assert seen["apiVersion"] == "sandbox.test/v1beta1"


async def test_an_invalid_crd_is_rejected(http: aiohttp.ClientSession) -> None:
    crd = widgets_crd()
    crd["metadata"]["name"] = "gadgets.sandbox.test"
    rejected = await call(http, "POST", CRDS, crd, expect=422)
    assert "metadata.name" in rejected["message"]


async def test_deleting_a_crd_waits_for_the_finalizers_of_its_objects(
    http: aiohttp.ClientSession,
) -> None:
    await call(http, "POST", CRDS, widgets_crd())
    await call(http, "POST", WIDGETS, widget("held", finalizers=["test/hold"]))
    await call(http, "POST", WIDGETS, widget("free"))

    async with http.get(WIDGETS, params={"watch": "true", "timeoutSeconds": "20",
                                         "resourceVersion": "0"}) as stream:
        terminating = await call(http, "DELETE", f"{CRDS}/widgets.sandbox.test")
        assert terminating["metadata"]["deletionTimestamp"]
        listing = await call(http, "GET", WIDGETS)
        assert [w["metadata"]["name"] for w in listing["items"]] == ["held"]
        refused = await call(http, "POST", WIDGETS, widget("new"), expect=403)
        assert "terminating" in refused["message"]

        await call(http, "PATCH", f"{WIDGETS}/held", {"metadata": {"finalizers": None}},
                   content_type="application/merge-patch+json")
        events = [(event["type"], event["object"]["metadata"]["name"])
                  async for line in stream.content for event in [json.loads(line)]]

    # The watch saw both objects go, then ended with the resource.
    assert events == [("ADDED", "free"), ("ADDED", "held"), ("DELETED", "free"),
                      ("MODIFIED", "held"), ("DELETED", "held")]
    await call(http, "GET", WIDGETS, expect=404)
    await call(http, "GET", f"{CRDS}/widgets.sandbox.test", expect=404)
