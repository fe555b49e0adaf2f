"""Finding a DaskCluster's scheduler: its Service, or an address annotation."""

from __future__ import annotations

from typing import Any

import pytest

from dask_plugin_operator.addresses import (
    ADDRESS_ANNOTATION,
    SchedulerService,
    address_problem,
    parse_service,
    scheduler_address,
)


def service_body(
    cluster: str = "prod",
    cluster_ip: str | None = "10.96.0.12",
    ports: list[dict[str, Any]] | None = None,
    component: str = "scheduler",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ports": ports if ports is not None else [
            {"name": "http-dashboard", "port": 8787},
            {"name": "tcp-comm", "port": 8786},
        ]
    }
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {
        "metadata": {
            "name": f"{cluster}-scheduler",
            "namespace": "analytics",
            "labels": {"dask.org/cluster-name": cluster, "dask.org/component": component},
        },
        "spec": spec,
    }


def test_a_scheduler_service_is_read_with_its_cluster_ip_and_comm_port() -> None:
    service = parse_service(service_body())

    assert service == SchedulerService(
        namespace="analytics", name="prod-scheduler", cluster="prod",
        cluster_ip="10.96.0.12", comm_port=8786,
    )
    assert service.dns_name == "prod-scheduler.analytics.svc.cluster.local"


def test_the_comm_port_is_found_by_name_not_position() -> None:
    ports = [{"name": "http-dashboard", "port": 8787}, {"name": "tcp-comm", "port": 9000}]

    service = parse_service(service_body(ports=ports))

    assert service is not None and service.comm_port == 9000


def test_a_service_without_a_named_comm_port_uses_the_dask_default() -> None:
    service = parse_service(service_body(ports=[{"name": "other", "port": 1234}]))

    assert service is not None and service.comm_port == 8786


def test_a_service_with_a_single_unnamed_port_uses_that_port() -> None:
    service = parse_service(service_body(ports=[{"port": 9999}]))

    assert service is not None and service.comm_port == 9999


def test_a_worker_service_is_not_a_scheduler_service() -> None:
    assert parse_service(service_body(component="worker")) is None


def test_a_service_without_the_cluster_label_is_ignored() -> None:
    body = service_body()
    del body["metadata"]["labels"]["dask.org/cluster-name"]

    assert parse_service(body) is None
    assert parse_service({}) is None


def test_a_headless_service_is_reached_by_its_dns_name() -> None:
    service = parse_service(service_body(cluster_ip="None"))

    assert service is not None and service.cluster_ip is None
    assert scheduler_address({}, service) == (
        "tcp://prod-scheduler.analytics.svc.cluster.local:8786"
    )


def test_a_service_with_a_cluster_ip_is_reached_through_it() -> None:
    assert scheduler_address({}, parse_service(service_body())) == "tcp://10.96.0.12:8786"


def test_the_annotation_overrides_the_service() -> None:
    annotations = {ADDRESS_ANNOTATION: " tls://scheduler.example.org:8786 "}

    address = scheduler_address(annotations, parse_service(service_body()))

    assert address == "tls://scheduler.example.org:8786"


def test_an_annotation_without_a_scheme_means_tcp() -> None:
    assert scheduler_address({ADDRESS_ANNOTATION: "127.0.0.1:8786"}, None) == (
        "tcp://127.0.0.1:8786"
    )


def test_an_empty_annotation_falls_back_to_the_service() -> None:
    service = parse_service(service_body())

    assert scheduler_address({ADDRESS_ANNOTATION: "  "}, service) == "tcp://10.96.0.12:8786"


def test_there_is_no_address_before_the_service_exists() -> None:
    assert scheduler_address({"unrelated": "annotation"}, None) is None


@pytest.mark.parametrize(("address", "problem"), [
    ("tls://scheduler:8786", "tls:// is not supported yet"),
    ("http://scheduler:8787", "the scheme is http://"),
    ("tcp://scheduler", "'scheduler' is not host:port"),
    ("tcp://scheduler:comm", "'scheduler:comm' is not host:port"),
    ("tcp://not an address:8786", "'not an address' is not a host name"),
    ("tcp://:8786", "'' is not a host name"),
    ("tcp://scheduler:70000", "port 70000 is out of range"),
])
def test_an_unusable_scheduler_address_is_explained(address: str, problem: str) -> None:
    assert problem in (address_problem(address) or "")


@pytest.mark.parametrize("address", [
    "tcp://10.96.0.12:8786", "tcp://[::1]:8786",
    "tcp://demo-scheduler.analytics.svc.cluster.local:8786",
])
def test_a_tcp_address_with_host_and_port_is_usable(address: str) -> None:
    assert address_problem(address) is None
