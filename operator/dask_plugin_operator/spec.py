"""What a WorkerPlugin resource asks for, parsed from its ``spec`` into plain values.

Parsing never imports user code: a module reference stays a string until a worker,
nanny or scheduler imports it. ``parse_spec`` checks everything the CRD schema states and
what only the operator can judge (sizes, selectors that cannot match), because a spec may
reach the operator without an API server having validated it. It returns a PluginSpec or
raises SpecError, whatever it is given.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .errors import SpecError, expected
from .selection import LabelSelector, parse_selector

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


__all__ = [
    "EnvironSource",
    "ModuleSource",
    "PipInstallSource",
    "PluginKind",
    "PluginSource",
    "PluginSpec",
    "SpecError",
    "parse_spec",
    "plugin_name",
]

PLUGIN_KINDS: tuple[PluginKind, ...] = ("worker", "nanny", "scheduler")
SOURCES = ("module", "pipInstall", "environ")
SPEC_FIELDS = ("type", "clusterSelector", "priority", *SOURCES)

# Every scheduler keeps the plugin's data in memory and sends it to every worker that
# joins, so the data a spec carries is bounded; 256 KiB is far beyond any sane plugin.
MAX_DATA_BYTES = 256 * 1024
# Deeper JSON than this is no plugin argument anyone means, and would strain the
# recursive serialisers (json, pickle) on the way to the workers.
MAX_NESTING = 64
MAX_ENVIRON = 1024
MAX_PIP_ARGUMENTS = 256
MAX_TEXT = 1024
MAX_REFERENCE = 512
PRIORITY_RANGE = (-(2**31), 2**31 - 1)

PLUGIN_NAME_PREFIX = "dask-plugin-operator/"

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_REFERENCE = re.compile(rf"(?P<module>{_IDENTIFIER}(\.{_IDENTIFIER})*):(?P<cls>{_IDENTIFIER})")
_VARIABLE = re.compile(_IDENTIFIER)


def plugin_name(namespace: str, name: str) -> str:
    """The name a WorkerPlugin resource's plugin has on a scheduler.

    The prefix keeps it apart from plugins registered by hand, which the operator never
    touches.
    """
    return f"{PLUGIN_NAME_PREFIX}{namespace}/{name}"


def parse_spec(spec: Mapping[str, Any]) -> PluginSpec:
    """Parse and check a WorkerPlugin ``spec``; raise SpecError saying what to fix."""
    if not isinstance(spec, Mapping):
        raise SpecError("", f"spec {expected('an object', spec)}")
    _reject_unknown("", spec, SPEC_FIELDS, "a WorkerPlugin spec field")

    # Kubernetes drops null fields that the schema does not mark nullable; so do we.
    present = [name for name in SOURCES if spec.get(name) is not None]
    if not present:
        raise SpecError(
            "", "spec has no source; set exactly one of spec.module, spec.pipInstall, spec.environ"
        )
    if len(present) > 1:
        raise SpecError(
            "",
            f"spec sets {' and '.join(present)}, but a WorkerPlugin has exactly one source; "
            "keep one and move the others to WorkerPlugins of their own",
        )
    source_field = present[0]

    source: PluginSource
    if source_field == "module":
        source = _parse_module(spec["module"])
    elif source_field == "pipInstall":
        source = _parse_pip_install(spec["pipInstall"])
    else:
        source = _parse_environ(spec["environ"])

    return PluginSpec(
        kind=_parse_kind(spec.get("type"), source_field),
        selector=_parse_cluster_selector(spec.get("clusterSelector")),
        priority=_parse_priority(spec.get("priority")),
        source=source,
    )


def _parse_kind(raw: object, source_field: str) -> PluginKind:
    """The effective kind: explicit for module sources, fixed by the others."""
    if raw is not None and raw not in PLUGIN_KINDS:
        raise SpecError("type", f"{raw!r} is not a plugin type; use worker, nanny or scheduler")
    if source_field == "module":
        return "worker" if raw is None else raw

    fixed: PluginKind = "nanny" if source_field == "environ" else "scheduler"
    if raw is not None and raw != fixed:
        where = "always run in the nanny" if fixed == "nanny" else (
            "are always registered on the scheduler"
        )
        raise SpecError(
            "type",
            f"is {raw!r}, but {source_field} plugins {where}; remove spec.type "
            "(it applies to module sources only)",
        )
    return fixed


def _parse_priority(raw: object) -> int:
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise SpecError("priority", expected("an integer", raw))
    low, high = PRIORITY_RANGE
    if not low <= raw <= high:
        raise SpecError("priority", f"{raw} is out of range; use a value from {low} to {high}")
    return raw


def _parse_cluster_selector(raw: object) -> LabelSelector:
    selector = parse_selector(raw)  # type: ignore[arg-type]  # it checks the type itself
    contradiction = selector.contradiction()
    if contradiction is not None:
        raise SpecError("clusterSelector", contradiction)
    return selector


def _parse_module(raw: object) -> ModuleSource:
    path = "module"
    if not isinstance(raw, Mapping):
        raise SpecError(path, expected("an object with name, args and kwargs", raw))
    _reject_unknown(path, raw, ("name", "args", "kwargs"), "a module field")

    reference = raw.get("name")
    if reference is None:
        raise SpecError(
            f"{path}.name",
            "is required; name the plugin class, e.g. errorlogger.plugins:ErrorLogger",
        )
    if not isinstance(reference, str):
        raise SpecError(f"{path}.name", expected("a string", reference))
    match = _REFERENCE.fullmatch(reference)
    if match is None or len(reference) > MAX_REFERENCE:
        raise SpecError(
            f"{path}.name",
            f"{reference!r} is not of the form package.module:ClassName; "
            "write e.g. errorlogger.plugins:ErrorLogger",
        )

    args = raw.get("args")
    kwargs = raw.get("kwargs")
    if args is not None and not isinstance(args, list | tuple):
        raise SpecError(f"{path}.args", expected("a list of JSON values", args))
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise SpecError(f"{path}.kwargs", expected("an object of names to JSON values", kwargs))
    _check_json(f"{path}.args", args)
    _check_json(f"{path}.kwargs", kwargs)
    data = _json_copy(path, {"args": args or [], "kwargs": kwargs or {}})
    return ModuleSource(
        module=match["module"],
        class_name=match["cls"],
        args=tuple(data["args"]),
        kwargs=data["kwargs"],
    )


def _parse_pip_install(raw: object) -> PipInstallSource:
    path = "pipInstall"
    if not isinstance(raw, Mapping):
        raise SpecError(path, expected("an object with packages, options, restartWorkers", raw))
    _reject_unknown(path, raw, ("packages", "options", "restartWorkers"), "a pipInstall field")

    packages = _parse_texts(f"{path}.packages", raw.get("packages"))
    if not packages:
        raise SpecError(
            f"{path}.packages", "must list at least one package to install, e.g. scipy==1.14.1"
        )
    for index, package in enumerate(packages):
        if not package.strip():
            raise SpecError(f"{path}.packages[{index}]", "is empty; name a package")
        if package.lstrip().startswith("-"):
            raise SpecError(
                f"{path}.packages[{index}]",
                f"{package!r} is a pip option, not a package; move it to {path}.options",
            )
    options = _parse_texts(f"{path}.options", raw.get("options"))

    restart = raw.get("restartWorkers")
    if restart is not None and not isinstance(restart, bool):
        raise SpecError(f"{path}.restartWorkers", expected("true or false", restart))
    _json_copy(path, {"packages": packages, "options": options})
    return PipInstallSource(
        packages=tuple(packages), options=tuple(options), restart_workers=bool(restart)
    )


def _parse_texts(path: str, raw: object) -> list[str]:
    """A list of strings that can become command-line arguments on a worker."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise SpecError(path, expected("a list of strings", raw))
    if len(raw) > MAX_PIP_ARGUMENTS:
        raise SpecError(path, f"has {len(raw)} entries; at most {MAX_PIP_ARGUMENTS} are allowed")
    for index, item in enumerate(raw):
        _check_text(f"{path}[{index}]", item)
    return list(raw)


def _parse_environ(raw: object) -> EnvironSource:
    path = "environ"
    if not isinstance(raw, Mapping):
        raise SpecError(path, expected("an object of variable names to string values", raw))
    if not raw:
        raise SpecError(
            path, "sets no variable; name at least one, or delete the WorkerPlugin instead"
        )
    if len(raw) > MAX_ENVIRON:
        raise SpecError(path, f"sets {len(raw)} variables; at most {MAX_ENVIRON} are allowed")

    for name, value in raw.items():
        if not isinstance(name, str) or not _VARIABLE.fullmatch(name):
            raise SpecError(
                path,
                f"{name!r} is not a variable name; use letters, digits and '_', "
                "not starting with a digit",
            )
        _check_text(f"{path}.{name}", value, unlimited=True)
    return EnvironSource(environ=_json_copy(path, dict(raw)))


def _check_text(path: str, value: object, *, unlimited: bool = False) -> None:
    """Raise SpecError unless value is a string a process can take as an argument."""
    if not isinstance(value, str):
        raise SpecError(path, expected("a string (quote numbers and booleans in YAML)", value))
    if "\x00" in value:
        raise SpecError(path, "contains a NUL character, which no process can receive")
    if not unlimited and len(value) > MAX_TEXT:
        raise SpecError(path, f"is {len(value)} characters long; at most {MAX_TEXT} are allowed")


def _reject_unknown(
    path: str, raw: Mapping[Any, Any], known: tuple[str, ...], what: str
) -> None:
    unknown = sorted(repr(key) if not isinstance(key, str) else key for key in raw)
    unknown = [key for key in unknown if key not in known]
    if unknown:
        field_path = f"{path}.{unknown[0]}" if path else unknown[0]
        raise SpecError(field_path, f"is not {what}; the fields are {', '.join(known)}")


def _json_copy(path: str, value: Any) -> Any:
    """A fresh copy of checked JSON data, after checking that it is small enough to store."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as error:  # checked before; be safe
        raise SpecError(path, f"is not plain JSON data ({error})") from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DATA_BYTES:
        raise SpecError(
            path,
            f"holds {size // 1024} KiB of data; at most {MAX_DATA_BYTES // 1024} KiB is "
            "allowed, since every scheduler keeps it in memory; ship large data in the "
            "image or fetch it from storage in the plugin's setup",
        )
    return json.loads(text)


def _check_json(path: str, value: Any) -> None:
    """Raise SpecError unless value is JSON data (objects with string keys, finite numbers).

    Iterative, so that hostile nesting cannot exhaust the interpreter's stack.
    """
    pending: list[tuple[str, Any, int]] = [(path, value, 0)]
    while pending:
        where, item, depth = pending.pop()
        if depth > MAX_NESTING:
            raise SpecError(where, f"nests deeper than {MAX_NESTING} levels; flatten the data")
        if isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise SpecError(where, f"has the key {key!r}; object keys must be strings")
                pending.append((f"{where}.{key}", child, depth + 1))
        elif isinstance(item, list | tuple):
            pending.extend((f"{where}[{i}]", child, depth + 1) for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise SpecError(where, f"is {item}, which JSON cannot represent")
        elif item is not None and not isinstance(item, str | int | float):
            raise SpecError(where, expected("a JSON value", item))
