"""Render the Helm chart and pick apart what it renders, for the deploy tests.

Every test that looks at the chart goes through :func:`render`, so they all read the same
manifests a ``helm install`` with those values would create (CRDs from ``crds/`` and hook
objects included).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
CHART = REPOSITORY / "charts" / "dask-plugin-operator"
RELEASE = "dpo"
RELEASE_NAMESPACE = "dask-operators"

# The value sets the tests render, one per way the chart is meant to be installed.
MODES: dict[str, dict[str, Any]] = {
    "cluster-wide": {},
    "namespaced": {"watchNamespaces": ["analytics", "research"]},
    "cluster-wide-ha": {"ha": {"enabled": True, "replicas": 3}},
    "namespaced-ha": {
        "watchNamespaces": ["analytics", "research"],
        "ha": {"enabled": True},
    },
    "metrics": {"metrics": {"enabled": True, "serviceMonitor": {"enabled": True}}},
}


class HelmError(RuntimeError):
    """helm exited with an error; the message carries its output."""


def run_helm(helm: Path, *args: str, values: Mapping[str, Any] | None = None) -> str:
    """Run helm with the values given as a JSON document on standard input."""
    command = [str(helm), *args]
    if values is not None:
        command += ["--values", "-"]
    result = subprocess.run(
        command, input=json.dumps(values or {}), capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        raise HelmError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def render(
    helm: Path, values: Mapping[str, Any] | None = None, *options: str
) -> list[dict[str, Any]]:
    """The manifests of ``helm template`` with these values, CRDs and hooks included."""
    output = run_helm(
        helm, "template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE,
        "--include-crds", *options, values=values or {},
    )
    return [doc for doc in yaml.safe_load_all(output) if doc]


def of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests if doc.get("kind") == kind]


def containers(manifests: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every container of every rendered Deployment."""
    for deployment in of_kind(manifests, "Deployment"):
        yield from deployment["spec"]["template"]["spec"]["containers"]


def operator_args(deployment: Mapping[str, Any]) -> list[str]:
    """The full command line of the operator container, command and arguments together."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return [*container.get("command", []), *container.get("args", [])]
