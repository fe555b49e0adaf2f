"""API errors of the sandbox, rendered as Kubernetes ``Status`` objects.

Clients (kubectl, Kopf, the kubernetes client) read the ``reason`` and ``code`` of a Status
to decide what happened, so every error here mirrors the wording real Kubernetes uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .resources import ResourceInfo


class ApiError(Exception):
    """A failed API call: an HTTP code, a machine-readable reason and a message for people."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> dict[str, Any]:
        """The error as a ``v1 Status`` object, the body real Kubernetes sends."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(info: ResourceInfo, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": info.plural}
    if info.group:
        details["group"] = info.group
    return details


def not_found(info: ResourceInfo, name: str) -> ApiError:
    """The object does not exist."""
    message = f'{info.qualified_plural} "{name}" not found'
    return ApiError(404, "NotFound", message, _details(info, name))


def already_exists(info: ResourceInfo, name: str) -> ApiError:
    """An object with this name exists already."""
    message = f'{info.qualified_plural} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, _details(info, name))


def conflict(info: ResourceInfo, name: str) -> ApiError:
    """The client wrote on top of a resourceVersion that is no longer current."""
    message = (
        f'Operation cannot be fulfilled on {info.qualified_plural} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(info, name))


def precondition_failed(info: ResourceInfo, name: str, what: str) -> ApiError:
    """A delete precondition (uid or resourceVersion) does not hold."""
    message = f'Operation cannot be fulfilled on {info.qualified_plural} "{name}": {what}'
    return ApiError(409, "Conflict", message, _details(info, name))


def invalid(info: ResourceInfo, name: str, causes: Sequence[tuple[str, str, str]]) -> ApiError:
    """The object breaks its schema; causes are (reason, field, message) triples."""
    texts = [f"{field}: {message}" if field else message for _, field, message in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details = _details(info, name)
    details["kind"] = info.kind
    details["causes"] = [
        {"reason": reason, "message": message, "field": field}
        for reason, field, message in causes
    ]
    message = f'{info.kind_group} "{name}" is invalid: {summary}'
    return ApiError(422, "Invalid", message, details)


def unprocessable(message: str) -> ApiError:
    """The request is well-formed but cannot be applied, e.g. a failed JSON patch test."""
    return ApiError(422, "UnprocessableEntity", message)


def bad_request(message: str) -> ApiError:
    """The request itself is malformed."""
    return ApiError(400, "BadRequest", message)


def forbidden(info: ResourceInfo, name: str, why: str) -> ApiError:
    """The request is refused for a reason that retrying will not fix."""
    message = f'{info.qualified_plural} "{name}" is forbidden: {why}'
    return ApiError(403, "Forbidden", message, _details(info, name))


def namespace_not_found(namespace: str) -> ApiError:
    """The namespace of a new object does not exist."""
    details = {"name": namespace, "kind": "namespaces"}
    return ApiError(404, "NotFound", f'namespaces "{namespace}" not found', details)


def resource_not_found(path: str) -> ApiError:
    """No resource (or no API) is served at this path."""
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def method_not_allowed(method: str, path: str) -> ApiError:
    """The resource exists but does not take this verb."""
    message = f"the server does not allow this method on the requested resource ({method} {path})"
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    """The patch type is not one the resource takes."""
    message = "the body of the request was in an unknown format - accepted media types include: "
    message += "application/json-patch+json, application/merge-patch+json, "
    message += f"application/apply-patch+yaml (got {content_type!r})"
    return ApiError(415, "UnsupportedMediaType", message)


def expired(requested: int, oldest: int) -> ApiError:
    """A watch asked for history the sandbox no longer keeps: 410 Gone."""
    message = f"too old resource version: {requested} ({oldest})"
    return ApiError(410, "Expired", message)
