"""The sandbox's own endpoints under ``/_sandbox/``, a prefix no Kubernetes API uses.

* ``GET /_sandbox/requests?since=N``: recent requests (``DELETE`` forgets them);
* ``POST /_sandbox/faults`` with ``{"path": regex, "status": 409, "method": "PATCH",
  "count": 1}``: make matching requests fail; ``GET`` lists, ``DELETE`` clears the rules.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request
from .faults import FaultInjector, FaultRule, RequestLog
from .watch import send_error_event

PREFIX = "/_sandbox/"

_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


async def respond(
    raw: web.BaseRequest, body: bytes, faults: FaultInjector, requests: RequestLog
) -> web.StreamResponse:
    """Serve one admin request."""
    what = raw.path[len(PREFIX):].strip("/")
    if what == "requests" and raw.method == "GET":
        since = int(raw.query.get("since", "0"))
        return web.json_response({"items": [r.as_dict() for r in requests.records(since)]})
    if what == "requests" and raw.method == "DELETE":
        requests.clear()
        return web.json_response({})
    if what == "faults" and raw.method == "POST":
        rule = faults.add(_rule_from(body))
        return web.json_response(dataclasses.asdict(rule), status=201)
    if what == "faults" and raw.method == "GET":
        return web.json_response({"items": [dataclasses.asdict(r) for r in faults.rules()]})
    if what == "faults" and raw.method == "DELETE":
        faults.clear()
        return web.json_response({})
    raise ApiError(404, "NotFound", f"no sandbox endpoint {raw.method} {raw.path}")


def _rule_from(body: bytes) -> FaultRule:
    try:
        data: Any = json.loads(body or b"{}")
        return FaultRule(
            path=str(data["path"]),
            status=int(data["status"]),
            method=data.get("method"),
            count=None if data.get("count", 1) is None else int(data.get("count", 1)),
            reason=str(data.get("reason", "")),
            message=str(data.get("message", "")),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise bad_request(f"a fault needs at least a path and a status: {error!r}") from None


def fault_error(rule: FaultRule) -> ApiError:
    """The error an injected fault answers with."""
    reason = rule.reason or _REASONS.get(rule.status, "InternalError")
    message = rule.message or f"injected by the sandbox (fault {rule.id})"
    return ApiError(rule.status, reason, message)


async def fault_response(
    raw: web.BaseRequest, rule: FaultRule, watching: bool
) -> web.StreamResponse:
    """Answer a request with an injected fault; a watch's 410 comes as an ERROR event."""
    error = fault_error(rule)
    if watching and rule.status == 410:
        return await send_error_event(raw, error)
    headers = {"Retry-After": "1"} if rule.status in (429, 503) else {}
    return web.json_response(error.status(), status=rule.status, headers=headers)
