"""CustomResourceDefinitions: where the sandbox finds them and what resources they declare."""

from __future__ import annotations

import copy
import functools
import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .resources import PrinterColumn, ResourceInfo

DASKCLUSTER_CRD = (
    "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
)

CrdSource = Path | Mapping[str, Any]


def project_crd_files() -> list[Path]:
    """Our own CRDs, shipped in the package's ``crds`` directory."""
    directory = Path(str(importlib.resources.files("dask_plugin_operator") / "crds"))
    return sorted(directory.glob("*.yaml")) if directory.is_dir() else []


def daskcluster_crd_file() -> Path:
    """The full-schema DaskCluster CRD from the installed dask-kubernetes package."""
    root = Path(str(importlib.resources.files("dask_kubernetes")))
    return root / DASKCLUSTER_CRD


def load_crds(sources: Iterable[CrdSource]) -> list[dict[str, Any]]:
    """Every CRD document in these files or dicts; other documents are skipped."""
    crds: list[dict[str, Any]] = []
    for source in sources:
        if isinstance(source, Path):
            documents = copy.deepcopy(_documents(source, source.stat().st_mtime_ns))
        else:
            documents = [dict(source)]
        crds.extend(doc for doc in documents if _is_crd(doc))
    return crds


@functools.lru_cache(maxsize=32)
def _documents(path: Path, mtime: int) -> list[Any]:
    # Parsed once per file version: the DaskCluster CRD alone is 6,000 lines of YAML.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return list(yaml.load_all(path.read_text(), Loader=loader))


def _is_crd(document: object) -> bool:
    return isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition"


def resources_of(crd: Mapping[str, Any]) -> list[ResourceInfo]:
    """One ResourceInfo per served version of a CRD."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    kind = names["kind"]
    return [
        ResourceInfo(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=kind,
            singular=names.get("singular") or kind.lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames", ())),
            categories=tuple(names.get("categories", ())),
            status_subresource="status" in (version.get("subresources") or {}),
            extra_subresources=_listed_subresources(version),
            custom=True,
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            printer_columns=_printer_columns(version.get("additionalPrinterColumns", ())),
            list_kind=names.get("listKind") or f"{kind}List",
        )
        for version in spec.get("versions", ())
        if version.get("served", True)
    ]


def _listed_subresources(version: Mapping[str, Any]) -> tuple[str, ...]:
    # Scale is announced in discovery like a real server does, but not served.
    return ("scale",) if "scale" in (version.get("subresources") or {}) else ()


def _printer_columns(columns: Sequence[Mapping[str, Any]]) -> tuple[PrinterColumn, ...]:
    return tuple(
        PrinterColumn(
            name=column["name"],
            type=column.get("type", "string"),
            json_path=column["jsonPath"],
            description=column.get("description", ""),
            format=column.get("format", ""),
            priority=int(column.get("priority", 0)),
        )
        for column in columns
    )


def accepted_status(crd: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The status a real API server reports once a CRD is established."""
    condition = {"status": "True", "lastTransitionTime": now}
    return {
        "acceptedNames": dict(crd.get("spec", {}).get("names", {})),
        "conditions": [
            {**condition, "type": "NamesAccepted", "reason": "NoConflicts",
             "message": "no conflicts found"},
            {**condition, "type": "Established", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"},
        ],
        "storedVersions": [
            version["name"] for version in crd.get("spec", {}).get("versions", ())
            if version.get("storage")
        ],
    }
