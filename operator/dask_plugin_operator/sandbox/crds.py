"""CustomResourceDefinitions: where the sandbox finds them and what resources they declare."""

from __future__ import annotations

import copy
import functools
import importlib.resources
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .builtin import CRDS
from .resources import PrinterColumn, ResourceInfo, ResourceRegistry, StorageKey
from .storage import Object, ObjectStore
from .validation import Cause

DASKCLUSTER_CRD = (
    "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
)

CrdSource = Path | str | Mapping[str, Any]  # a YAML file (of one or more documents) or a CRD


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
        if isinstance(source, (Path, str)):
            path = Path(source)
            documents = copy.deepcopy(_documents(path, path.stat().st_mtime_ns))
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


def storage_key_of(crd: Mapping[str, Any]) -> StorageKey:
    """Where the objects a CRD defines are stored."""
    spec = crd.get("spec", {})
    return (spec.get("group", ""), spec.get("names", {}).get("plural", ""))


def keep_serving(
    registry: ResourceRegistry,
    store: ObjectStore,
    info: ResourceInfo,
    obj: Object,
    removed: bool = False,
) -> None:
    """After a write, serve what the stored CRDs declare; a removed CRD ends its watches."""
    if info.storage_key != CRDS:
        return
    resource = storage_key_of(obj)
    registry.remove(*resource)
    if removed:
        store.close_subscriptions(resource)
        return
    for served in resources_of(obj):
        registry.add(served)


def crd_causes(crd: Object) -> list[Cause]:
    """Why a CRD cannot be served: missing names or versions, or a mismatched name."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    causes: list[Cause] = []
    for field, value in (("spec.group", spec.get("group")), ("spec.names.plural",
                         names.get("plural")), ("spec.names.kind", names.get("kind"))):
        if not value:
            causes.append(("FieldValueRequired", field, "Required value"))
    if not spec.get("versions"):
        causes.append(("FieldValueRequired", "spec.versions", "Required value"))
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if not causes and crd["metadata"]["name"] != expected:
        message = f'Invalid value: "{crd["metadata"]["name"]}": must be spec.names.plural+"."'
        causes.append(("FieldValueInvalid", "metadata.name", message + "+spec.group"))
    return causes
