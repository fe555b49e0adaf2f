"""Kubeconfig files that point kubectl, Kopf and the kubernetes client at a sandbox."""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "dask-plugin-operator-sandbox"
TOKEN = "sandbox-token"  # a dummy: the sandbox checks no credentials


def kubeconfig(url: str, namespace: str = "default") -> dict[str, object]:
    """A kubeconfig with one cluster, one user and one context, all named for the sandbox."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": TOKEN}}],
        "contexts": [{
            "name": CONTEXT,
            "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
        }],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, url: str) -> Path:
    """Write the kubeconfig for a sandbox at ``url``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(url), sort_keys=False))
    return path
