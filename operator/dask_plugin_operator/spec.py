"""What a WorkerPlugin resource asks for, parsed from its ``spec`` into plain values.

Parsing never imports user code: a module reference stays a string until a worker,
nanny or scheduler imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .selection import LabelSelector

PluginKind: TypeAlias = Literal["worker", "nanny", "scheduler"]
JSONValue: TypeAlias = Any


@dataclass(frozen=True)
class ModuleSource:
    """A plugin class named as ``package.module:ClassName``, built with plain data."""

    module: str
    class_name: str
    args: tuple[JSONValue, ...] = ()
    kwargs: Mapping[str, JSONValue] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.module}:{self.class_name}"


@dataclass(frozen=True)
class PipInstallSource:
    """distributed's own ``PipInstall`` plugin: packages installed on every worker."""

    packages: tuple[str, ...]
    options: tuple[str, ...] = ()
    restart_workers: bool = False


@dataclass(frozen=True)
class EnvironSource:
    """distributed's own ``Environ`` nanny plugin; it always restarts the workers."""

    environ: Mapping[str, str]


PluginSource: TypeAlias = ModuleSource | PipInstallSource | EnvironSource


@dataclass(frozen=True)
class PluginSpec:
    """A parsed, validated WorkerPlugin spec."""

    kind: PluginKind
    selector: LabelSelector
    priority: int
    source: PluginSource

    @property
    def source_summary(self) -> str:
        """A short text for the Source printer column."""
        if isinstance(self.source, ModuleSource):
            return self.source.reference
        if isinstance(self.source, PipInstallSource):
            return "pipInstall: " + " ".join(self.source.packages)
        return "environ: " + ",".join(sorted(self.source.environ))


class SpecError(ValueError):
    """A spec that cannot be used; the message says what to change."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"spec.{path}: {message}" if path else message)
        self.path = path
        self.reason = message
