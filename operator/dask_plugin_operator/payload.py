"""The bytes the operator sends to a scheduler for one plugin: a portable payload.

A portable payload is a pickle that refers to one standard-library callable,
``builtins.eval``, given the source text of :mod:`.loader` and plain data. Unpickling it
runs the loader text and builds a loader plugin; no class of ours or of the user's is
ever pickled, by value or by reference, so the payload unpickles the same way on every
Python and distributed version the loader supports.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from .loader import portable_reduction
from .spec import EnvironSource, ModuleSource, PipInstallSource, PluginKind, PluginSpec

# Protocol 4 reads on every Python the loader supports and needs no out-of-band buffers.
PICKLE_PROTOCOL = 4


@cache
def loader_source() -> str:
    """The text of the loader module, exactly as it is shipped."""
    return resources.files("dask_plugin_operator").joinpath("loader.py").read_text("utf-8")


def registration_kind(spec: PluginSpec) -> PluginKind:
    """Where the plugin is registered: worker, nanny or scheduler.

    Environ always restarts workers, so it is a nanny plugin. pipInstall installs in the
    worker's interpreter, through the nanny when it should restart the worker afterwards.
    """
    source = spec.source
    if isinstance(source, EnvironSource):
        return "nanny"
    if isinstance(source, PipInstallSource):
        return "nanny" if source.restart_workers else "worker"
    return spec.kind


def loader_data(name: str, spec: PluginSpec) -> dict[str, Any]:
    """The plain data a loader is built from; only JSON-like builtins."""
    return {
        "name": name,
        "kind": registration_kind(spec),
        "restart": _restarts_workers(spec),
        "source": _source_data(spec),
    }


def build_payload(name: str, spec: PluginSpec) -> bytes:
    """The pickled loader for ``spec``, registered on a scheduler under ``name``."""
    return pickle.dumps(_PortablePayload(loader_data(name, spec)), protocol=PICKLE_PROTOCOL)


def build_retirement_payload(name: str, target: str) -> bytes:
    """A scheduler plugin, registered as ``name``, that closes and removes ``target``."""
    data = {"name": name, "kind": "scheduler", "source": {"type": "retire", "target": target}}
    return pickle.dumps(_PortablePayload(data), protocol=PICKLE_PROTOCOL)


def content_hash(spec: PluginSpec) -> str:
    """A stable digest of what gets shipped, whatever the plugin is named or selects.

    It changes with the plugin's source, arguments, registration kind and the loader
    text, and not with the selector or priority, which never reach the scheduler.
    """
    data = loader_data("", spec)
    del data["name"]
    digest = hashlib.sha256(loader_source().encode("utf-8"))
    digest.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return digest.hexdigest()[:16]


class _PortablePayload:
    """Pickles as ``builtins.eval`` of the loader text; never unpickled as itself."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return portable_reduction(loader_source(), self.data)


def _restarts_workers(spec: PluginSpec) -> bool:
    source = spec.source
    if isinstance(source, EnvironSource):
        return True
    return isinstance(source, PipInstallSource) and source.restart_workers


def _source_data(spec: PluginSpec) -> dict[str, Any]:
    source = spec.source
    if isinstance(source, ModuleSource):
        return {
            "type": "module",
            "module": source.module,
            "class": source.class_name,
            "args": _plain(list(source.args)),
            "kwargs": _plain(source.kwargs),
        }
    if isinstance(source, EnvironSource):
        return {"type": "environ", "environ": {k: str(v) for k, v in source.environ.items()}}
    return {
        "type": "pipInstall",
        "packages": list(source.packages),
        "options": list(source.options),
    }


def _plain(value: Any) -> Any:
    """Turn mappings and sequences from the spec into dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
