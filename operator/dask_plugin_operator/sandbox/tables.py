"""Server-side printing: the ``meta.k8s.io/v1 Table`` kubectl asks for with ``as=Table``.

Custom resources get the columns of their CRD's ``additionalPrinterColumns`` (or Name and
Age if it declares none), every other resource Name and Age.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from .clock import human_age, parse_rfc3339
from .jsonpath import evaluate
from .resources import PrinterColumn, ResourceInfo
from .storage import Object

_NAME_COLUMN = {
    "name": "Name", "type": "string", "format": "name", "priority": 0,
    "description": "Name must be unique within a namespace.",
}
_AGE_COLUMN = PrinterColumn(
    name="Age", type="date", json_path=".metadata.creationTimestamp",
    description="The time since the object was created.",
)


def wants_table(accept: str) -> bool:
    """Whether the client asked for a Table rather than the objects."""
    return "as=Table" in accept


def table(
    info: ResourceInfo,
    objects: Iterable[Object],
    resource_version: str,
    include_object: str = "Metadata",
) -> dict[str, Any]:
    """A Table of these objects with the resource's columns."""
    columns = _columns(info)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [_NAME_COLUMN, *(_definition(column) for column in columns)],
        "rows": [_row(obj, columns, include_object) for obj in objects],
    }


def _columns(info: ResourceInfo) -> Sequence[PrinterColumn]:
    return info.printer_columns or (_AGE_COLUMN,)


def _definition(column: PrinterColumn) -> dict[str, Any]:
    return {
        "name": column.name,
        "type": column.type,
        "format": column.format,
        "description": column.description,
        "priority": column.priority,
    }


def _row(obj: Object, columns: Sequence[PrinterColumn], include_object: str) -> dict[str, Any]:
    cells = [obj["metadata"]["name"], *(_cell(obj, column) for column in columns)]
    return {"cells": cells, "object": _row_object(obj, include_object)}


def _row_object(obj: Object, include_object: str) -> Any:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def _cell(obj: Object, column: PrinterColumn) -> Any:
    values = evaluate(column.json_path, obj)
    if not values:
        return None
    value = values[0]
    if column.type == "date" and isinstance(value, str):
        moment = parse_rfc3339(value)
        return human_age(moment) if moment else value
    if column.type in ("integer", "number", "boolean") and len(values) == 1:
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return ",".join(str(v) for v in values) if len(values) > 1 else value
