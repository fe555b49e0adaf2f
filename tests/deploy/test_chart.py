"""The Helm chart renders valid, least-privilege, locked-down manifests in every mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helmchart
import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import tomllib
import yaml
from helmchart import MODES, containers, of_kind, operator_args
from rbac import Mode, check_rbac_allows

Manifests = list[dict[str, Any]]

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest known.
KUBERNETES_VERSIONS = ["1.25.0", kubernetes_validate.latest_version()]

# What the chart relies on in a Prometheus Operator ServiceMonitor, written down here
# because kubernetes-validate knows only built-in kinds.
DURATION = {"type": "string", "pattern": r"^(\d+(ms|s|m|h))+$"}
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "properties": {"matchLabels": {
                        "type": "object", "additionalProperties": {"type": "string"},
                    }},
                },
                "namespaceSelector": {
                    "type": "object",
                    "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": DURATION,
                            "scrapeTimeout": DURATION,
                        },
                    },
                },
            },
        },
    },
}


def crd_schemas(manifests: Manifests) -> dict[tuple[str, str], dict[str, Any]]:
    """The openAPIV3Schema of every rendered CRD, by (apiVersion, kind)."""
    schemas = {}
    for crd in of_kind(manifests, "CustomResourceDefinition"):
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


@pytest.mark.parametrize("mode", MODES)
def test_chart_passes_helm_lint(helm: Path, mode: str) -> None:
    output = helmchart.run_helm(
        helm, "lint", "--strict", str(helmchart.CHART), values=MODES[mode]
    )
    assert "0 chart(s) failed" in output


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
def test_every_rendered_manifest_is_valid(
    rendered: dict[str, Manifests], mode: str, kubernetes_version: str
) -> None:
    manifests = rendered[mode]
    custom = crd_schemas(manifests)
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        if key in custom:
            # A kind whose CRD the chart itself installs: check it against that CRD.
            jsonschema.validate(manifest, custom[key])
        elif manifest["kind"] == "ServiceMonitor":
            jsonschema.validate(manifest, SERVICE_MONITOR_SCHEMA)
        else:
            kubernetes_validate.validate(manifest, kubernetes_version, strict=True)


def test_cluster_wide_mode_watches_every_namespace_with_cluster_roles(
    rendered: dict[str, Manifests],
) -> None:
    manifests = rendered["cluster-wide"]
    (deployment,) = of_kind(manifests, "Deployment")
    args = operator_args(deployment)

    assert "--all-namespaces" in args
    assert not [arg for arg in args if arg.startswith("--namespace")]
    assert {role["metadata"]["name"] for role in of_kind(manifests, "ClusterRole")} == {
        "dpo-dask-plugin-operator-kopf", "dpo-dask-plugin-operator-application",
    }
    assert not of_kind(manifests, "Role")


@pytest.mark.parametrize("mode", ["namespaced", "namespaced-ha"])
def test_namespaced_mode_renders_nothing_cluster_scoped_for_rbac(
    rendered: dict[str, Manifests], mode: str
) -> None:
    manifests = rendered[mode]

    assert not of_kind(manifests, "ClusterRole")
    assert not of_kind(manifests, "ClusterRoleBinding")
    roles = {(role["metadata"]["namespace"], role["metadata"]["name"])
             for role in of_kind(manifests, "Role")}
    assert roles == {
        (namespace, f"dpo-dask-plugin-operator-{part}")
        for namespace in ("analytics", "research") for part in ("kopf", "application")
    }


def test_namespaced_mode_passes_a_namespace_flag_for_each_watched_namespace(
    rendered: dict[str, Manifests],
) -> None:
    (deployment,) = of_kind(rendered["namespaced"], "Deployment")
    args = operator_args(deployment)

    assert [arg for arg in args if arg.startswith("--namespace")] == [
        "--namespace=analytics", "--namespace=research",
    ]
    assert "--all-namespaces" not in args


@pytest.mark.parametrize("mode", MODES)
def test_operator_runs_unprivileged_on_a_read_only_root_filesystem(
    rendered: dict[str, Manifests], mode: str
) -> None:
    for deployment in of_kind(rendered[mode], "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}

        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}

        # The only writable place is an emptyDir at /tmp.
        (mount,) = pod["containers"][0]["volumeMounts"]
        (volume,) = pod["volumes"]
        assert mount["mountPath"] == "/tmp" and mount["name"] == volume["name"]
        assert "emptyDir" in volume


@pytest.mark.parametrize("mode", MODES)
def test_liveness_probe_asks_the_endpoint_the_operator_serves(
    rendered: dict[str, Manifests], mode: str
) -> None:
    for deployment in of_kind(rendered[mode], "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        (liveness,) = [a for a in operator_args(deployment) if a.startswith("--liveness=")]
        match = re.fullmatch(r"--liveness=http://0\.0\.0\.0:(\d+)(/\S*)", liveness)
        assert match, liveness

        probe = container["livenessProbe"]["httpGet"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports[probe["port"]] == int(match.group(1))
        assert probe["path"] == match.group(2)


def test_single_process_runs_standalone_and_is_replaced_not_doubled(
    rendered: dict[str, Manifests],
) -> None:
    (deployment,) = of_kind(rendered["cluster-wide"], "Deployment")

    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    args = operator_args(deployment)
    assert args[:2] == ["dask-plugin-operator", "run"]
    assert "--standalone" in args
    assert not [arg for arg in args if arg.startswith(("--peering", "--priority"))]


@pytest.mark.parametrize("mode", ["cluster-wide-ha", "namespaced-ha"])
def test_high_availability_gives_every_process_its_own_priority(
    rendered: dict[str, Manifests], mode: str
) -> None:
    deployments = of_kind(rendered[mode], "Deployment")
    priorities = []
    for deployment in deployments:
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
        args = operator_args(deployment)
        assert "--standalone" not in args
        assert "--peering=dask-plugin-operator" in args
        (priority,) = [arg for arg in args if arg.startswith("--priority=")]
        priorities.append(int(priority.split("=")[1]))

    # Kopf pauses every process that sees a peer of equal priority: they must all differ.
    expected = MODES[mode]["ha"].get("replicas", 2)
    assert len(deployments) == expected
    assert len(set(priorities)) == expected

    # Each Deployment selects only its own process's pods.
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items()))
                 for d in deployments]
    assert len(set(selectors)) == expected


def test_cluster_wide_high_availability_meets_in_a_cluster_peering_it_may_patch(
    rendered: dict[str, Manifests],
) -> None:
    manifests = rendered["cluster-wide-ha"]
    (peering,) = of_kind(manifests, "ClusterKopfPeering")
    name = peering["metadata"]["name"]
    path = f"/apis/kopf.dev/v1/clusterkopfpeerings/{name}"
    requests = [
        {"method": "GET", "path": "/apis/kopf.dev/v1/clusterkopfpeerings", "query": "watch=1"},
        {"method": "PATCH", "path": path},
    ]

    assert check_rbac_allows(requests, manifests, "cluster-wide") == []
    assert "post-install" in peering["metadata"]["annotations"]["helm.sh/hook"]
    assert {crd["metadata"]["name"] for crd in of_kind(manifests, "CustomResourceDefinition")
            if crd["spec"]["group"] == "kopf.dev"} == {
        "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev",
    }


def test_namespaced_high_availability_meets_in_each_namespace_it_may_patch(
    rendered: dict[str, Manifests],
) -> None:
    manifests = rendered["namespaced-ha"]
    peerings = of_kind(manifests, "KopfPeering")

    assert {p["metadata"]["namespace"] for p in peerings} == {"analytics", "research"}
    requests = [
        {"method": "PATCH", "path": f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/"
                                    "dask-plugin-operator"}
        for namespace in ("analytics", "research")
    ]
    assert check_rbac_allows(requests, manifests, "namespaced") == []
    assert not of_kind(manifests, "ClusterKopfPeering")


def test_without_high_availability_nothing_about_peering_is_rendered(
    rendered: dict[str, Manifests],
) -> None:
    for mode in ("cluster-wide", "namespaced", "metrics"):
        manifests = rendered[mode]
        assert not of_kind(manifests, "ClusterKopfPeering")
        assert not of_kind(manifests, "KopfPeering")
        assert all(crd["spec"]["group"] != "kopf.dev"
                   for crd in of_kind(manifests, "CustomResourceDefinition"))
        rules = [rule for role in of_kind(manifests, "ClusterRole") + of_kind(manifests, "Role")
                 for rule in role["rules"]]
        assert all("kopf.dev" not in rule["apiGroups"] for rule in rules)


def test_metrics_are_served_on_a_service_that_the_service_monitor_selects(
    rendered: dict[str, Manifests],
) -> None:
    manifests = rendered["metrics"]
    (deployment,) = of_kind(manifests, "Deployment")
    (service,) = of_kind(manifests, "Service")
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert f"--metrics-port={ports['metrics']}" in operator_args(deployment)
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_metrics_are_off_by_default(rendered: dict[str, Manifests]) -> None:
    manifests = rendered["cluster-wide"]
    (deployment,) = of_kind(manifests, "Deployment")

    assert "--metrics-port=0" in operator_args(deployment)
    assert not of_kind(manifests, "Service")
    assert not of_kind(manifests, "ServiceMonitor")


def test_rbac_is_split_into_a_kopf_part_and_an_application_part(
    rendered: dict[str, Manifests],
) -> None:
    roles = {role["metadata"]["name"]: role for role in of_kind(rendered["cluster-wide"],
                                                               "ClusterRole")}
    kopf = roles["dpo-dask-plugin-operator-kopf"]["rules"]
    application = roles["dpo-dask-plugin-operator-application"]["rules"]

    kopf_groups = {group for rule in kopf for group in rule["apiGroups"]}
    application_groups = {group for rule in application for group in rule["apiGroups"]}
    assert "apiextensions.k8s.io" in kopf_groups
    assert "plugins.dask.org" not in kopf_groups
    assert {"plugins.dask.org", "kubernetes.dask.org"} <= application_groups
    assert "apiextensions.k8s.io" not in application_groups


@pytest.mark.parametrize("mode", MODES)
def test_the_operator_may_never_write_to_dask_clusters(
    rendered: dict[str, Manifests], mode: str
) -> None:
    writes = [
        {"verb": verb, "group": "kubernetes.dask.org", "resource": "daskclusters",
         "namespace": "analytics", "name": "prod"}
        for verb in ("create", "update", "patch", "delete")
    ]
    rbac_mode: Mode = "namespaced" if mode.startswith("namespaced") else "cluster-wide"

    denials = check_rbac_allows(writes, rendered[mode], rbac_mode)
    assert [denial.request["verb"] for denial in denials] == [
        "create", "update", "patch", "delete",
    ]


def test_extra_values_reach_the_pod(helm: Path) -> None:
    values = {
        "image": {"repository": "registry.example/dpo", "tag": "1.2.3"},
        "extraEnv": [{"name": "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "value": "20s"}],
        "extraArgs": ["--future-flag=on"],
        "nodeSelector": {"pool": "system"},
        "tolerations": [{"key": "system", "operator": "Exists", "effect": "NoSchedule"}],
        "logging": {"level": "debug", "format": "json"},
        "checkInterval": 45,
        "concurrency": 4,
        "rpcTimeout": 7,
        "deletionTimeout": 90,
    }
    (deployment,) = of_kind(helmchart.render(helm, values), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = containers([deployment])
    args = operator_args(deployment)

    assert container["image"] == "registry.example/dpo:1.2.3"
    assert {"name": "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "value": "20s"} in (
        container["env"])
    assert pod["nodeSelector"] == {"pool": "system"}
    assert pod["tolerations"][0]["key"] == "system"
    for expected in ("--debug", "--log-format=json", "--check-interval=45",
                     "--concurrency=4", "--rpc-timeout=7", "--deletion-timeout=90",
                     "--future-flag=on"):
        assert expected in args


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"logging": {"level": "loud"}}, "logging.level"),
        ({"logging": {"format": "xml"}}, "logging.format"),
        ({"metrics": {"serviceMonitor": {"enabled": True}}}, "metrics.enabled"),
        ({"ha": {"enabled": True, "replicas": 1}}, "ha.replicas"),
        ({"checkIntervall": 5}, "checkIntervall"),
        ({"metrics": {"enabled": True, "port": 8080}}, "must differ"),
        ({"watchNamespaces": ["Not_A_Namespace"]}, "watchNamespaces"),
    ],
)
def test_values_that_cannot_work_are_refused(
    helm: Path, values: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(helmchart.HelmError, match=re.escape(complaint)):
        helmchart.render(helm, values)


def test_rbac_and_service_account_can_be_left_to_someone_else(helm: Path) -> None:
    values = {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops"}}
    manifests = helmchart.render(helm, values)
    (deployment,) = of_kind(manifests, "Deployment")

    kinds = {manifest["kind"] for manifest in manifests}
    assert not kinds & {"ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                        "ClusterRoleBinding"}
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


def test_bindings_name_the_service_account_the_pods_run_as(
    rendered: dict[str, Manifests],
) -> None:
    for mode, manifests in rendered.items():
        (account,) = of_kind(manifests, "ServiceAccount")
        for deployment in of_kind(manifests, "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            assert pod["serviceAccountName"] == account["metadata"]["name"], mode
        bindings = of_kind(manifests, "RoleBinding") + of_kind(manifests, "ClusterRoleBinding")
        assert bindings, mode
        for binding in bindings:
            assert binding["subjects"] == [{
                "kind": "ServiceAccount", "name": account["metadata"]["name"],
                "namespace": helmchart.RELEASE_NAMESPACE,
            }], mode


def test_a_namespace_listed_twice_is_watched_and_granted_once(helm: Path) -> None:
    manifests = helmchart.render(helm, {"watchNamespaces": ["analytics", "analytics"]})
    (deployment,) = of_kind(manifests, "Deployment")

    assert operator_args(deployment).count("--namespace=analytics") == 1
    assert len(of_kind(manifests, "Role")) == 2


@pytest.mark.parametrize("mode", ["cluster-wide-ha", "namespaced-ha"])
def test_a_node_drain_never_takes_every_process_at_once(
    rendered: dict[str, Manifests], mode: str
) -> None:
    manifests = rendered[mode]
    (budget,) = of_kind(manifests, "PodDisruptionBudget")
    deployments = of_kind(manifests, "Deployment")

    assert budget["spec"]["maxUnavailable"] < len(deployments)
    for deployment in deployments:
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_peering_objects_render_on_a_cluster_that_knows_kopf_already(helm: Path) -> None:
    # Upgrades take the branch that looks the object up first; `helm template` has no
    # cluster to ask, so the lookup finds nothing and the object is still rendered.
    values = {"ha": {"enabled": True}}
    manifests = helmchart.render(helm, values, "--api-versions", "kopf.dev/v1")

    assert len(of_kind(manifests, "ClusterKopfPeering")) == 1


def test_the_chart_deploys_the_version_of_the_package_it_ships_with() -> None:
    chart = yaml.safe_load((helmchart.CHART / "Chart.yaml").read_text())
    project = tomllib.loads((helmchart.REPOSITORY / "pyproject.toml").read_text())

    assert chart["appVersion"] == project["project"]["version"]
