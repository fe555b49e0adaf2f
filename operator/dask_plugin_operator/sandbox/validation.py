"""Validation of objects: object names, labels, and custom objects against their CRD schema.

A CRD's ``openAPIV3Schema`` is converted to JSON Schema draft 4 (the draft OpenAPI 3.0
builds on: boolean ``exclusiveMinimum``) with ``nullable`` and
``x-kubernetes-int-or-string`` spelled out, and checked with ``jsonschema``. Failures
become the (reason, field, message) causes of a 422 Invalid, worded like real Kubernetes.
CEL rules (``x-kubernetes-validations``) and ``format`` are not checked.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

Cause = tuple[str, str, str]  # (reason, field, message), as in a Status's details.causes
Schema = Mapping[str, Any]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def name_causes(name: str, *, dns_label: bool = False) -> list[Cause]:
    """Why a ``metadata.name`` is not a valid DNS subdomain (or label, for namespaces)."""
    if dns_label:
        if len(name) <= 63 and _DNS_LABEL.match(name):
            return []
        rule = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters"
        rule += " or '-', and must start and end with an alphanumeric character"
    else:
        if len(name) <= 253 and _DNS_SUBDOMAIN.match(name):
            return []
        rule = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric"
        rule += " characters, '-' or '.', and must start and end with an alphanumeric character"
    return [("FieldValueInvalid", "metadata.name", f"Invalid value: {json.dumps(name)}: {rule}")]


def label_causes(labels: object) -> list[Cause]:
    """Why ``metadata.labels`` are not valid label keys and values."""
    if not isinstance(labels, Mapping):
        return []
    causes: list[Cause] = []
    for key, value in labels.items():
        prefix, _, name = str(key).rpartition("/")
        if not (_LABEL_NAME.match(name) and len(name) <= 63) or (
            prefix and not _DNS_SUBDOMAIN.match(prefix)
        ):
            message = f"Invalid value: {json.dumps(key)}: a label key must be a name of at "
            message += "most 63 alphanumeric characters, '-', '_' or '.', with an optional "
            message += "DNS subdomain prefix and '/'"
            causes.append(("FieldValueInvalid", "metadata.labels", message))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            message = f"Invalid value: {json.dumps(value)}: a valid label must be an empty "
            message += "string or consist of alphanumeric characters, '-', '_' or '.'"
            causes.append(("FieldValueInvalid", "metadata.labels", message))
    return causes


def schema_causes(obj: Mapping[str, Any], schema: Schema) -> list[Cause]:
    """Why a custom object breaks its schema; empty when it is valid."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    causes: list[Cause] = []
    for error in errors:
        causes.extend(_causes_of(error))
    return causes


@functools.lru_cache(maxsize=64)
def _validator(schema_text: str) -> jsonschema.Draft4Validator:
    # Keyed by the schema's text: a CRD updated in place gets a fresh validator.
    converted = to_json_schema(json.loads(schema_text))
    return jsonschema.Draft4Validator(converted)


def to_json_schema(schema: Any) -> Any:
    """Convert an OpenAPI v3 (Kubernetes structural) schema into JSON Schema draft 4."""
    if not isinstance(schema, Mapping):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            result[key] = {name: to_json_schema(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            result[key] = to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = [to_json_schema(branch) for branch in value]
        elif not key.startswith("x-") and key not in ("nullable", "default", "example"):
            result[key] = value
    if schema.get("nullable"):
        _allow_null(result)
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        int_or_string = {"type": ["integer", "string"]}
        result["allOf"] = [*result.get("allOf", []), int_or_string]
    return result


def _allow_null(result: dict[str, Any]) -> None:
    kind = result.get("type")
    if isinstance(kind, str):
        result["type"] = [kind, "null"]
    if isinstance(result.get("enum"), list) and None not in result["enum"]:
        result["enum"] = [*result["enum"], None]


def _field(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _causes_of(error: jsonschema.ValidationError) -> list[Cause]:
    field = _field(error.absolute_path)
    shown = field or "<root>"
    value = json.dumps(error.instance)
    limit = error.validator_value
    match error.validator:
        case "required":
            missing = [key for key in limit if key not in (error.instance or {})]
            return [
                ("FieldValueRequired", f"{field}.{key}" if field else key, "Required value")
                for key in missing
            ]
        case "enum":
            allowed = ", ".join(json.dumps(option) for option in limit)
            message = f"Unsupported value: {value}: supported values: {allowed}"
            return [("FieldValueNotSupported", field, message)]
        case "type":
            wanted = limit if isinstance(limit, str) else " or ".join(limit)
            message = f"Invalid value: {json.dumps(_type_name(error.instance))}: "
            message += f"{shown} in body must be of type {wanted}: {value}"
            return [("FieldValueTypeInvalid", field, message)]
        case "maxLength":
            return [("FieldValueTooLong", field, f"Too long: may not be more than {limit} bytes")]
        case "maxItems" | "maxProperties":
            count = len(error.instance)
            message = f"Too many: {count}: must have at most {limit} items"
            return [("FieldValueTooMany", field, message)]
    return [("FieldValueInvalid", field, f"Invalid value: {value}: {_sentence(error, shown)}")]


def _sentence(error: jsonschema.ValidationError, shown: str) -> str:
    limit = error.validator_value
    match error.validator:
        case "pattern":
            return f"{shown} in body should match '{limit}'"
        case "minimum":
            return f"{shown} in body should be greater than or equal to {limit}"
        case "maximum":
            return f"{shown} in body should be less than or equal to {limit}"
        case "minLength":
            return f"{shown} in body should be at least {limit} chars long"
        case "minItems":
            return f"{shown} in body should have at least {limit} items"
        case "minProperties":
            return f"{shown} in body should have at least {limit} properties"
        case "oneOf":
            return f"{shown} in body must validate one and only one schema (oneOf)"
        case "anyOf":
            return f"{shown} in body must validate at least one schema (anyOf)"
        case "not":
            return f"{shown} in body must not validate the schema (not)"
    return f"{shown} in body: {error.message}"


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else "object"
