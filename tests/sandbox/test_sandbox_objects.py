"""Object semantics through the kubernetes client: versions, generations, status, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from kubernetes.client import ApiException

pytestmark = pytest.mark.timeout(60)

GROUP, VERSION, PLURAL = "sandbox.test", "v1", "widgets"


class Widgets:
    """Widgets in the default namespace, through CustomObjectsApi."""

    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        self.api = kubernetes.client.CustomObjectsApi(client)

    def create(self, name: str, spec: dict[str, Any] | None = None, **metadata: Any) -> Any:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
                "metadata": {"name": name, **metadata}, "spec": spec or {"size": 1}}
        return self.api.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)

    def get(self, name: str) -> Any:
        return self.api.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)

    def patch(self, name: str, patch: Any, **kwargs: Any) -> Any:
        return self.api.patch_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, name, patch, **kwargs)

    def patch_status(self, name: str, patch: Any) -> Any:
        return self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, "default", PLURAL, name, patch)

    def replace(self, name: str, body: Any) -> Any:
        return self.api.replace_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, name, body)

    def delete(self, name: str) -> Any:
        return self.api.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)


@pytest.fixture
def widgets(widgets_client: kubernetes.client.ApiClient) -> Iterator[Widgets]:
    yield Widgets(widgets_client)


def status_of(error: pytest.ExceptionInfo[ApiException]) -> int:
    return int(error.value.status)


def test_the_server_fills_in_identity_time_version_and_generation(widgets: Widgets) -> None:
    created = widgets.create("w")
    metadata = created["metadata"]
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z")
    assert metadata["generation"] == 1 and int(metadata["resourceVersion"]) > 0
    assert created["spec"] == {"size": 1, "colour": "red"}  # the schema's default


def test_generate_name_gives_a_fresh_name_each_time(widgets: Widgets) -> None:
    first = widgets.create("", generateName="w-")["metadata"]["name"]
    second = widgets.create("", generateName="w-")["metadata"]["name"]
    assert first.startswith("w-") and second.startswith("w-") and first != second


def test_a_stale_resource_version_answers_409_on_patch_and_replace(widgets: Widgets) -> None:
    stale = widgets.create("w")
    widgets.patch("w", {"spec": {"size": 2}})

    stale_patch = {"metadata": {"resourceVersion": stale["metadata"]["resourceVersion"]},
                   "spec": {"size": 3}}
    with pytest.raises(ApiException) as patching:
        widgets.patch("w", stale_patch)
    with pytest.raises(ApiException) as replacing:
        widgets.replace("w", {**stale, "spec": {"size": 4}})

    assert status_of(patching) == 409 and status_of(replacing) == 409
    assert "the object has been modified" in str(patching.value.body)
    assert widgets.get("w")["spec"]["size"] == 2


def test_a_json_patch_whose_test_fails_answers_422(widgets: Widgets) -> None:
    stale = widgets.create("w")["metadata"]["resourceVersion"]
    widgets.patch("w", {"spec": {"size": 2}})
    operations = [{"op": "test", "path": "/metadata/resourceVersion", "value": stale},
                  {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]}]
    with pytest.raises(ApiException) as patching:
        widgets.patch("w", operations, _content_type="application/json-patch+json")
    assert status_of(patching) == 422
    assert "finalizers" not in widgets.get("w")["metadata"]


def test_the_generation_counts_spec_changes_only(widgets: Widgets) -> None:
    widgets.create("w")
    widgets.patch("w", {"metadata": {"labels": {"a": "b"}}})
    widgets.patch_status("w", {"status": {"phase": "Good"}})
    assert widgets.get("w")["metadata"]["generation"] == 1

    widgets.patch("w", {"spec": {"size": 5}})
    assert widgets.get("w")["metadata"]["generation"] == 2


def test_a_patch_that_changes_nothing_keeps_the_resource_version(widgets: Widgets) -> None:
    version = widgets.create("w")["metadata"]["resourceVersion"]
    assert widgets.patch("w", {"spec": {"size": 1}})["metadata"]["resourceVersion"] == version


def test_the_status_subresource_splits_status_from_the_rest(widgets: Widgets) -> None:
    widgets.create("w")
    widgets.patch("w", {"spec": {"size": 2}, "status": {"phase": "ignored"}})
    widgets.patch_status("w", {"spec": {"size": 9}, "status": {"phase": "kept"}})

    stored = widgets.get("w")
    assert stored["spec"]["size"] == 2
    assert stored["status"] == {"phase": "kept"}


def test_status_given_at_creation_is_dropped(widgets: Widgets) -> None:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 1}, "status": {"phase": "made-up"}}
    created = widgets.api.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL,
                                                          body)
    assert "status" not in created


def test_deleting_with_finalizers_marks_until_the_last_one_goes(widgets: Widgets) -> None:
    widgets.create("w", finalizers=["test/a", "test/b"])
    marked = widgets.delete("w")
    metadata = marked["metadata"]
    assert metadata["deletionTimestamp"] and metadata["deletionGracePeriodSeconds"] == 0
    assert metadata["generation"] == 2

    again = widgets.delete("w")
    assert again["metadata"]["resourceVersion"] == metadata["resourceVersion"]

    with pytest.raises(ApiException) as adding:
        widgets.patch("w", {"metadata": {"finalizers": ["test/a", "test/b", "test/c"]}})
    assert status_of(adding) == 422

    widgets.patch("w", {"metadata": {"finalizers": ["test/b"]}})
    assert widgets.get("w")["metadata"]["finalizers"] == ["test/b"]
    widgets.patch("w", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as getting:
        widgets.get("w")
    assert status_of(getting) == 404


def test_deleting_without_finalizers_removes_at_once(widgets: Widgets) -> None:
    widgets.create("w")
    answer = widgets.delete("w")
    assert answer["status"] == "Success" and answer["details"]["name"] == "w"
    with pytest.raises(ApiException) as getting:
        widgets.get("w")
    assert status_of(getting) == 404


def test_an_invalid_object_is_rejected_with_the_field_named(widgets: Widgets) -> None:
    with pytest.raises(ApiException) as creating:
        widgets.create("w", {"size": 11, "colour": "blue"})
    assert status_of(creating) == 422
    body = creating.value.body
    assert '"reason":"Invalid"' in body
    assert "spec.size: Invalid value: 11: spec.size in body should be less than or equal" in body
    assert 'spec.colour: Unsupported value: \\"blue\\"' in body

    with pytest.raises(ApiException) as missing:
        widgets.create("w", {"colour": "red"})
    assert "spec.size: Required value" in missing.value.body


def test_unknown_fields_are_pruned_unless_preserved(widgets: Widgets) -> None:
    created = widgets.create("w", {"size": 1, "bogus": 1, "extra": {"anything": [1]}})
    assert created["spec"] == {"size": 1, "colour": "red", "extra": {"anything": [1]}}


def test_names_must_be_dns_subdomains(widgets: Widgets) -> None:
    with pytest.raises(ApiException) as creating:
        widgets.create("Not_A_Name")
    assert status_of(creating) == 422
    assert "metadata.name" in creating.value.body


def test_objects_go_only_into_namespaces_that_exist(
    widgets_client: kubernetes.client.ApiClient,
) -> None:
    core = kubernetes.client.CoreV1Api(widgets_client)
    config_map = {"metadata": {"name": "c"}, "data": {"a": "b"}}
    with pytest.raises(ApiException) as creating:
        core.create_namespaced_config_map("elsewhere", config_map)
    assert status_of(creating) == 404

    core.create_namespace({"metadata": {"name": "elsewhere"}})
    core.create_namespaced_config_map("elsewhere", config_map)
    assert core.read_namespace("elsewhere").status.phase == "Active"


def test_deleting_a_namespace_deletes_what_it_holds(
    widgets_client: kubernetes.client.ApiClient,
) -> None:
    core = kubernetes.client.CoreV1Api(widgets_client)
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "free"}})
    core.create_namespaced_config_map(
        "doomed", {"metadata": {"name": "held", "finalizers": ["test/hold"]}})

    core.delete_namespace("doomed")
    assert core.read_namespace("doomed").status.phase == "Terminating"
    assert [c.metadata.name for c in core.list_namespaced_config_map("doomed").items] == ["held"]

    core.patch_namespaced_config_map("held", "doomed", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as reading:
        core.read_namespace("doomed")
    assert status_of(reading) == 404


def test_label_selectors_filter_lists(widgets: Widgets) -> None:
    widgets.create("a", labels={"team": "x", "tier": "1"})
    widgets.create("b", labels={"team": "y"})
    widgets.create("c")

    def names(selector: str) -> list[str]:
        listing = widgets.api.list_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, label_selector=selector)
        return [item["metadata"]["name"] for item in listing["items"]]

    assert names("team=x") == ["a"]
    assert names("team==y") == ["b"]
    assert names("team!=x") == ["b", "c"]
    assert names("team in (x,y)") == ["a", "b"]
    assert names("team notin (x)") == ["b", "c"]
    assert names("team") == ["a", "b"]
    assert names("!team") == ["c"]
    assert names("team,tier=1") == ["a"]


def test_field_selectors_filter_lists_by_name_and_namespace(widgets: Widgets) -> None:
    widgets.create("a")
    widgets.create("b")
    listing = widgets.api.list_cluster_custom_object(
        GROUP, VERSION, PLURAL, field_selector="metadata.name=b,metadata.namespace=default")
    assert [item["metadata"]["name"] for item in listing["items"]] == ["b"]
    assert int(listing["metadata"]["resourceVersion"]) > 0


def test_strategic_merge_patch_merges_service_ports_by_name(
    widgets_client: kubernetes.client.ApiClient,
) -> None:
    core = kubernetes.client.CoreV1Api(widgets_client)
    ports = [{"name": "tcp-comm", "port": 8786}, {"name": "http-dashboard", "port": 8787}]
    core.create_namespaced_service("default", {"metadata": {"name": "s"}, "spec": {"ports": ports}})
    core.patch_namespaced_service("s", "default",
                                  {"spec": {"ports": [{"name": "tcp-comm", "port": 9786}]}})
    assert [p.port for p in core.read_namespaced_service("s", "default").spec.ports] == [
        9786, 8787
    ]


def test_custom_resources_refuse_strategic_merge_patch(widgets: Widgets) -> None:
    widgets.create("w")
    with pytest.raises(ApiException) as patching:
        widgets.patch("w", {"spec": {"size": 2}},
                      _content_type="application/strategic-merge-patch+json")
    assert status_of(patching) == 415


def owned_config_map(name: str, owner: Any) -> dict[str, Any]:
    reference = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
                 "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    return {"metadata": {"name": name, "ownerReferences": [reference]}}


def test_deleting_an_owner_deletes_its_dependents(
    widgets: Widgets, widgets_client: kubernetes.client.ApiClient
) -> None:
    core = kubernetes.client.CoreV1Api(widgets_client)
    owner = widgets.create("w")
    core.create_namespaced_config_map("default", owned_config_map("owned", owner))
    core.create_namespaced_config_map("default", {"metadata": {"name": "free"}})

    widgets.delete("w")
    names = [c.metadata.name for c in core.list_namespaced_config_map("default").items]
    assert names == ["free"]


def test_orphan_propagation_keeps_dependents_without_the_reference(
    widgets: Widgets, widgets_client: kubernetes.client.ApiClient
) -> None:
    core = kubernetes.client.CoreV1Api(widgets_client)
    owner = widgets.create("w")
    core.create_namespaced_config_map("default", owned_config_map("owned", owner))

    widgets.api.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w",
                                                propagation_policy="Orphan")
    kept = core.read_namespaced_config_map("owned", "default")
    assert kept.metadata.owner_references is None


def test_the_kubernetes_client_watches_from_a_listed_version(widgets: Widgets) -> None:
    widgets.create("w")
    listing = widgets.api.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    widgets.patch("w", {"spec": {"size": 2}})
    widgets.delete("w")

    watcher = kubernetes.watch.Watch()
    events = []
    for event in watcher.stream(widgets.api.list_namespaced_custom_object, GROUP, VERSION,
                                "default", PLURAL, timeout_seconds=10,
                                resource_version=listing["metadata"]["resourceVersion"]):
        events.append((event["type"], event["object"]["spec"]["size"]))
        if len(events) == 2:
            watcher.stop()
    assert events == [("MODIFIED", 2), ("DELETED", 2)]


def test_labels_must_be_valid_keys_and_values(widgets: Widgets) -> None:
    with pytest.raises(ApiException) as creating:
        widgets.create("w", labels={"team": "not valid!"})
    assert status_of(creating) == 422
    assert 'metadata.labels: Invalid value: \\"not valid!\\"' in creating.value.body
