"""The operator's in-memory view of plugins, clusters and scheduler Services."""

from __future__ import annotations

from typing import Any

from dask_plugin_operator.addresses import ADDRESS_ANNOTATION, parse_service
from dask_plugin_operator.errors import SpecError
from dask_plugin_operator.inventory import ClusterEntry, Inventory, PluginEntry, cluster_from_body
from dask_plugin_operator.spec import parse_spec


def plugin(
    name: str = "errorlogger", namespace: str = "analytics", selector: Any = None
) -> PluginEntry:
    spec = parse_spec({
        "module": {"name": "errorlogger.plugins:ErrorLogger"},
        "clusterSelector": selector or {},
    })
    return PluginEntry(namespace, name, f"uid-{name}", 1, spec, None)


def cluster(name: str, namespace: str = "analytics", **labels: str) -> ClusterEntry:
    return ClusterEntry(namespace, name, labels=labels)


def scheduler_service(cluster: str, namespace: str = "analytics") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{cluster}-scheduler", "namespace": namespace,
            "labels": {"dask.org/cluster-name": cluster, "dask.org/component": "scheduler"},
        },
        "spec": {"clusterIP": "10.0.0.7", "ports": [{"name": "tcp-comm", "port": 8786}]},
    }


def test_a_plugin_selects_matching_clusters_of_its_own_namespace_only() -> None:
    inventory = Inventory()
    entry = plugin(selector={"matchLabels": {"team": "analytics"}})
    inventory.put_plugin(entry)
    for each in (
        cluster("prod", team="analytics"),
        cluster("other-team", team="finance"),
        cluster("elsewhere", namespace="finance", team="analytics"),
    ):
        inventory.put_cluster(each)

    assert [c.name for c in inventory.clusters_selected_by(entry)] == ["prod"]


def test_an_empty_selector_selects_every_cluster_in_the_namespace() -> None:
    entry = plugin()

    assert entry.selects(cluster("any"))
    assert not entry.selects(cluster("any", namespace="finance"))


def test_a_plugin_with_an_invalid_spec_selects_nothing() -> None:
    broken = PluginEntry("analytics", "broken", "uid", 1, None, SpecError("", "no source"))

    assert not broken.selects(cluster("prod"))


def test_a_plugin_is_named_on_schedulers_after_its_namespace_and_name() -> None:
    entry = plugin()

    assert entry.scheduler_name == "dask-plugin-operator/analytics/errorlogger"
    assert entry.key == ("analytics", "errorlogger")
    assert entry.reference == {
        "apiVersion": "plugins.dask.org/v1alpha1", "kind": "WorkerPlugin",
        "namespace": "analytics", "name": "errorlogger", "uid": "uid-errorlogger",
    }


def test_plugins_are_found_replaced_and_dropped_by_key() -> None:
    inventory = Inventory()
    first, second = plugin(), plugin()
    inventory.put_plugin(first)
    inventory.put_plugin(second)

    assert inventory.plugin(("analytics", "errorlogger")) is second
    assert inventory.plugins_in("analytics") == [second]
    assert inventory.drop_plugin(("analytics", "errorlogger")) is second
    assert inventory.plugin(("analytics", "errorlogger")) is None
    assert inventory.drop_plugin(("analytics", "errorlogger")) is None


def test_plugins_and_clusters_are_listed_per_namespace_and_in_total() -> None:
    inventory = Inventory()
    inventory.put_plugin(plugin("a"))
    inventory.put_plugin(plugin("b", namespace="finance"))
    inventory.put_cluster(cluster("prod"))

    assert [p.name for p in inventory.plugins_in("finance")] == ["b"]
    assert [c.name for c in inventory.clusters_in("analytics")] == ["prod"]
    assert inventory.counts == (2, 1)
    assert inventory.plugins_in("nowhere") == [] and inventory.clusters_in("nowhere") == []


def test_clusters_are_found_and_dropped_by_key() -> None:
    inventory = Inventory()
    inventory.put_cluster(cluster("prod"))

    assert inventory.cluster(("analytics", "prod")) == cluster("prod")
    assert inventory.drop_cluster(("analytics", "prod")) == cluster("prod")
    assert inventory.cluster(("analytics", "prod")) is None
    assert inventory.counts == (0, 0)


def test_a_cluster_is_read_from_its_body_with_labels_annotations_and_phase() -> None:
    body = {
        "metadata": {
            "name": "prod", "namespace": "analytics", "labels": {"team": "analytics"},
            "annotations": {ADDRESS_ANNOTATION: "tcp://127.0.0.1:8786"},
        },
        "status": {"phase": "Running"},
    }

    assert cluster_from_body(body) == ClusterEntry(
        "analytics", "prod", {"team": "analytics"},
        {ADDRESS_ANNOTATION: "tcp://127.0.0.1:8786"}, "Running",
    )
    assert cluster_from_body({"metadata": {"name": "bare"}}) == ClusterEntry("default", "bare")


def test_a_cluster_is_addressed_through_its_own_scheduler_service() -> None:
    inventory = Inventory()
    prod, dev = cluster("prod"), cluster("dev")
    service = parse_service(scheduler_service("prod"))
    assert service is not None
    inventory.put_service(service)

    assert inventory.address_of(prod) == "tcp://10.0.0.7:8786"
    assert inventory.address_of(dev) is None

    inventory.drop_service("analytics", "prod")
    assert inventory.address_of(prod) is None


def test_a_service_of_another_namespace_does_not_address_a_cluster_of_the_same_name() -> None:
    inventory = Inventory()
    service = parse_service(scheduler_service("prod", namespace="finance"))
    assert service is not None
    inventory.put_service(service)

    assert inventory.address_of(cluster("prod")) is None


def test_an_address_annotation_on_the_cluster_wins_over_its_service() -> None:
    inventory = Inventory()
    service = parse_service(scheduler_service("prod"))
    assert service is not None
    inventory.put_service(service)
    annotated = ClusterEntry("analytics", "prod", annotations={ADDRESS_ANNOTATION: "h:1"})

    assert inventory.address_of(annotated) == "tcp://h:1"


def annotated(name: str, address: str, namespace: str = "analytics") -> ClusterEntry:
    return ClusterEntry(namespace, name, annotations={ADDRESS_ANNOTATION: address})


def test_clusters_are_found_by_scheduler_address_across_namespaces() -> None:
    inventory = Inventory()
    inventory.put_cluster(annotated("blue", "h:1"))
    inventory.put_cluster(annotated("green", "h:1", namespace="finance"))
    inventory.put_cluster(annotated("red", "h:2"))

    assert inventory.clusters_at("tcp://h:1") == {("analytics", "blue"), ("finance", "green")}
    assert inventory.clusters_at("tcp://h:2") == {("analytics", "red")}
    assert inventory.clusters_at("tcp://h:3") == set()


def test_the_address_index_follows_annotations_services_and_deletions() -> None:
    inventory = Inventory()
    service = parse_service(scheduler_service("prod"))
    assert service is not None
    inventory.put_cluster(cluster("prod"))
    inventory.put_service(service)
    assert inventory.clusters_at("tcp://10.0.0.7:8786") == {("analytics", "prod")}

    inventory.put_cluster(annotated("prod", "h:1"))
    assert inventory.clusters_at("tcp://10.0.0.7:8786") == set()
    assert inventory.clusters_at("tcp://h:1") == {("analytics", "prod")}
    assert inventory.address_at(("analytics", "prod")) == "tcp://h:1"

    inventory.put_cluster(cluster("prod"))
    inventory.drop_service("analytics", "prod")
    assert inventory.clusters_at("tcp://h:1") == set()
    assert inventory.clusters_at("tcp://10.0.0.7:8786") == set()

    inventory.put_service(service)
    inventory.drop_cluster(("analytics", "prod"))
    assert inventory.clusters_at("tcp://10.0.0.7:8786") == set()
    assert inventory.address_at(("analytics", "prod")) is None
