"""Structural pruning and defaulting of custom objects, as a real API server does them.

Fields a CRD's ``openAPIV3Schema`` does not declare are dropped, except under
``x-kubernetes-preserve-unknown-fields`` or ``additionalProperties``; missing fields that
declare a ``default`` get it. ``apiVersion``, ``kind`` and ``metadata`` at the root (and in
``x-kubernetes-embedded-resource`` objects) are always kept.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

_ALWAYS_KEPT = ("apiVersion", "kind", "metadata")


def prune_and_default(obj: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """A copy of a custom object with unknown fields dropped and defaults filled in."""
    result = _walk(copy.deepcopy(obj), schema, "", [], root=True)
    return result if isinstance(result, dict) else obj


def unknown_fields(obj: dict[str, Any], schema: Schema) -> list[str]:
    """The dotted paths of the fields pruning would drop, for strict field validation."""
    dropped: list[str] = []
    _walk(copy.deepcopy(obj), schema, "", dropped, root=True)
    return dropped


def _walk(value: Any, schema: Schema, path: str, dropped: list[str], root: bool = False) -> Any:
    if isinstance(value, dict):
        return _walk_object(value, schema, path, dropped, root)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [
            _walk(item, schema["items"], f"{path}[{index}]", dropped)
            for index, item in enumerate(value)
        ]
    return value


def _walk_object(
    value: dict[str, Any], schema: Schema, path: str, dropped: list[str], root: bool
) -> dict[str, Any]:
    properties = _properties(schema)
    additional = schema.get("additionalProperties")
    keep_meta = root or bool(schema.get("x-kubernetes-embedded-resource"))

    # Defaults first, so that defaulted objects are pruned and defaulted in turn.
    for key, child in properties.items():
        if key not in value and "default" in child:
            value[key] = copy.deepcopy(child["default"])

    result: dict[str, Any] = {}
    for key, item in value.items():
        child_path = f"{path}.{key}" if path else key
        if keep_meta and key in _ALWAYS_KEPT:
            result[key] = item  # object metadata is the server's business, never pruned here
        elif key in properties:
            result[key] = _walk(item, properties[key], child_path, dropped)
        elif isinstance(additional, Mapping):
            result[key] = _walk(item, additional, child_path, dropped)
        elif additional is True or not _prunes_here(schema):
            result[key] = item
        else:
            dropped.append(child_path)
    return result


def _prunes_here(schema: Schema) -> bool:
    # An object schema without properties or additionalProperties prunes everything inside,
    # unless it preserves unknown fields; a schema that says nothing at all keeps all.
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return False
    return bool(_properties(schema)) or "additionalProperties" in schema or (
        schema.get("type") == "object"
    )


def _properties(schema: Schema) -> dict[str, Schema]:
    # Properties declared inside allOf/anyOf/oneOf branches count as known fields too.
    merged: dict[str, Schema] = {}
    for branch_key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(branch_key, ()):
            if isinstance(branch, Mapping):
                merged.update(_properties(branch))
    merged.update(schema.get("properties") or {})
    return merged
