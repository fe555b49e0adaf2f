"""The patch formats of the Kubernetes API, applied to plain JSON-like objects.

* JSON merge patch (RFC 7386), what Kopf and ``kubectl patch --type=merge`` send;
* JSON patch (RFC 6902), what Kopf sends for finalizers, with a ``test`` on resourceVersion;
* strategic merge patch, approximated: a merge patch that merges lists of objects by a
  well-known key (``name``, ``port``...) and drops the ``$``-directives kubectl adds.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import bad_request, unprocessable

# Keys by which strategic merge patch merges list items, in the order they are tried.
STRATEGIC_MERGE_KEYS = ("name", "port", "containerPort", "mountPath", "devicePath", "type", "ip")


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch and return the result; the inputs are not changed."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch as closely as needed for kubectl on core objects."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _without_directives(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # ordering and retention directives: the result does not depend on them
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_lists(result[key], value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_lists(current: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(current, patch)
    if key is None:
        return [_without_directives(item) for item in patch]
    merged = [copy.deepcopy(item) for item in current]
    for item in patch:
        index = next((i for i, old in enumerate(merged) if old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append(_without_directives(item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def _merge_key(current: list[Any], patch: list[Any]) -> str | None:
    items = current + patch
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for key in STRATEGIC_MERGE_KEYS:
        if all(key in item for item in patch):
            return key
    return None


def _without_directives(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_without_directives(item) for item in value]
    return value


def json_patch(target: Any, operations: Any) -> Any:
    """Apply a JSON patch and return the result; a failed ``test`` answers 422 like k8s."""
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, Mapping) or "op" not in operation:
            raise bad_request(f"invalid JSON patch operation: {operation!r}")
        document = _apply_operation(document, operation)
    return document


def _apply_operation(document: Any, operation: Mapping[str, Any]) -> Any:
    op, path = operation["op"], _pointer(operation.get("path", ""))
    if op == "test":
        if _resolve(document, path) != operation.get("value"):
            raise unprocessable(f"the test of {operation.get('path')!r} in a JSON patch failed")
        return document
    if op == "remove":
        return _remove(document, path)
    if op in ("add", "replace"):
        if op == "replace":
            document = _remove(document, path)
        return _add(document, path, copy.deepcopy(operation.get("value")))
    if op in ("move", "copy"):
        source = _pointer(operation.get("from", ""))
        value = copy.deepcopy(_resolve(document, source))
        if op == "move":
            document = _remove(document, source)
        return _add(document, path, value)
    raise bad_request(f"unknown JSON patch operation: {op!r}")


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise bad_request(f"invalid JSON pointer: {text!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _resolve(document: Any, path: Sequence[str]) -> Any:
    for part in path:
        if isinstance(document, Mapping) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            raise unprocessable(f"the path /{'/'.join(path)} does not exist")
    return document


def _remove(document: Any, path: Sequence[str]) -> Any:
    if not path:
        return None
    parent = _resolve(document, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise unprocessable(f"the path /{'/'.join(path)} does not exist")
    return document


def _add(document: Any, path: Sequence[str], value: Any) -> Any:
    if not path:
        return value
    parent = _resolve(document, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and last == "-":
        parent.append(value)
    elif isinstance(parent, list) and last.isdigit() and int(last) <= len(parent):
        parent.insert(int(last), value)
    else:
        raise unprocessable(f"cannot add at /{'/'.join(path)}")
    return document
