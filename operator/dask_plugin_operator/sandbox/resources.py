"""The resources the sandbox serves: names, scope, subresources, schema and columns.

Built-in resources are declared in ``builtin``; custom resources come from
CustomResourceDefinitions (``crds``) and appear or vanish when a CRD is created or deleted.
Objects are stored per group and plural, whatever version a client asks for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

StorageKey = tuple[str, str]  # (group, plural)


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry of a CRD version."""

    name: str
    type: str
    json_path: str
    description: str = ""
    format: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource in one version, as discovery and the handlers see it."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    custom: bool = False  # defined by a CRD: affects patch types, delete responses, schemas
    schema: Mapping[str, Any] | None = None  # openAPIV3Schema of this version
    printer_columns: tuple[PrinterColumn, ...] = ()
    list_kind: str = ""
    extra_subresources: tuple[str, ...] = field(default=())  # e.g. "scale", listed only

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of objects of this resource: ``v1`` or ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> StorageKey:
        """Where objects of this resource live in the store, for every version."""
        return (self.group, self.plural)

    @property
    def qualified_plural(self) -> str:
        """``workerplugins.plugins.dask.org`` or ``pods``, as error messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_group(self) -> str:
        """``WorkerPlugin.plugins.dask.org`` or ``Pod``, as validation messages name it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def subresources(self) -> tuple[str, ...]:
        """The subresources served (``status``) and listed in discovery."""
        own = ("status",) if self.status_subresource else ()
        return own + self.extra_subresources


class ResourceRegistry:
    """The resources being served now, looked up by group, version and plural."""

    def __init__(self) -> None:
        self._served: dict[tuple[str, str, str], ResourceInfo] = {}

    def add(self, info: ResourceInfo) -> None:
        """Serve a resource in one version, replacing an earlier declaration of it."""
        self._served[(info.group, info.version, info.plural)] = info

    def remove(self, group: str, plural: str) -> None:
        """Stop serving a resource in every version."""
        for key in [key for key in self._served if (key[0], key[2]) == (group, plural)]:
            del self._served[key]

    def find(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        """The resource at this URL segment, if served."""
        return self._served.get((group, version, plural))

    def versions_of(self, group: str, plural: str) -> list[ResourceInfo]:
        """Every served version of one resource."""
        return [info for key, info in self._served.items() if (key[0], key[2]) == (group, plural)]

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(sorted(self._served.values(), key=lambda i: (i.group, i.version, i.plural)))
