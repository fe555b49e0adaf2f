"""Just enough of Kubernetes' protobuf encoding to read what kubectl's typed commands send.

``kubectl create namespace``, ``create configmap`` and ``create secret`` post protobuf
(``application/vnd.kubernetes.protobuf``) and never fall back to JSON. This decodes the
envelope (``k8s\\0`` + ``runtime.Unknown``) and those few kinds into the JSON shape; other
kinds answer 415 with a hint to use ``kubectl apply``, which sends JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from .errors import ApiError

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# A message schema: field number -> (JSON name, how to read it). A kind is a scalar type
# name, ("map", value type), ("repeated", type) or a nested schema (a dict).
Schema = Mapping[int, tuple[str, Any]]

_OBJECT_META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
    11: ("labels", ("map", "string")), 12: ("annotations", ("map", "string")),
    14: ("finalizers", ("repeated", "string")),
}
_KINDS: dict[str, Schema] = {
    "Namespace": {1: ("metadata", _OBJECT_META),
                  2: ("spec", {1: ("finalizers", ("repeated", "string"))})},
    "ConfigMap": {1: ("metadata", _OBJECT_META), 2: ("data", ("map", "string")),
                  3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    "Secret": {1: ("metadata", _OBJECT_META), 2: ("data", ("map", "bytes")),
               3: ("type", "string"), 4: ("stringData", ("map", "string")),
               5: ("immutable", "bool")},
}
_TYPE_META: Schema = {1: ("apiVersion", "string"), 2: ("kind", "string")}
_UNKNOWN: Schema = {1: ("typeMeta", _TYPE_META), 2: ("raw", "bytes")}


def decode(body: bytes) -> dict[str, Any]:
    """The object in a protobuf request body, as JSON-like data; 415 if it cannot be read."""
    if not body.startswith(MAGIC):
        raise _unsupported("the body lacks the k8s protobuf envelope")
    envelope = _message(body[len(MAGIC):], _UNKNOWN)
    type_meta = envelope.get("typeMeta", {})
    schema = _KINDS.get(type_meta.get("kind", ""))
    if schema is None:
        raise _unsupported(f"protobuf for {type_meta.get('kind')!r} is not decoded here")
    obj = _message(base64.b64decode(envelope.get("raw", "")), schema)
    return {**type_meta, **obj}


def _unsupported(why: str) -> ApiError:
    message = f"the sandbox reads protobuf bodies only for Namespace, ConfigMap and Secret ({why})"
    return ApiError(415, "UnsupportedMediaType", message + "; use kubectl apply, which sends JSON")


def _message(data: bytes, schema: Schema) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue  # a field this decoder does not know: dropped, like pruning would
        name, kind = schema[number]
        _store(result, name, kind, value)
    return result


def _store(result: dict[str, Any], name: str, kind: Any, value: int | bytes) -> None:
    if isinstance(kind, tuple) and kind[0] == "map":
        entry = _message(_bytes(value), {1: ("key", "string"), 2: ("value", kind[1])})
        result.setdefault(name, {})[entry.get("key", "")] = entry.get("value", "")
    elif isinstance(kind, tuple) and kind[0] == "repeated":
        result.setdefault(name, []).append(_scalar(kind[1], value))
    elif isinstance(kind, Mapping):
        result[name] = _message(_bytes(value), kind)
    else:
        result[name] = _scalar(kind, value)


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "string":
        return _bytes(value).decode()
    if kind == "bytes":
        return base64.b64encode(_bytes(value)).decode()  # JSON carries bytes as base64
    if kind == "bool":
        return bool(value)
    return value


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise _unsupported("a length-delimited field was expected")
    return value


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    fields: list[tuple[int, int | bytes]] = []
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 2:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            value, position = int.from_bytes(data[position:position + size], "little"), (
                position + size)
        else:
            raise _unsupported(f"wire type {wire_type} is not supported")
        fields.append((number, value))
    return fields


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if position >= len(data):
            raise _unsupported("the body ends inside a number")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
