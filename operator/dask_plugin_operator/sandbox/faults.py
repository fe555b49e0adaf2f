"""Fault injection and the request log, for tests of how a client copes with the API.

A fault rule makes matching requests fail with a given status, a set number of times; the
request log keeps the most recent requests, parsed into the words of RBAC (verb, resource,
namespace, subresource), so a test can check the calls a client made. Both are reachable
over HTTP under ``/_sandbox/`` and from Python; either may be used from another thread.
"""

from __future__ import annotations

import collections
import itertools
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FaultRule:
    """Answer requests whose method and path match with an error status, ``count`` times.

    ``count`` None means for ever. ``path`` is a regular expression searched in the URL path.
    A 410 for a watch request is sent the way Kubernetes sends it: an ERROR event in a 200.
    """

    path: str
    status: int
    method: str | None = None
    count: int | None = 1
    reason: str = ""
    message: str = ""
    id: int = 0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request (and still has answers left)."""
        if self.count is not None and self.hits >= self.count:
            return False
        if self.method and self.method.upper() not in ("*", method.upper()):
            return False
        return re.search(self.path, path) is not None


@dataclass
class RequestRecord:
    """One request as the sandbox understood it; ``verb`` uses the RBAC words."""

    id: int
    method: str
    path: str
    query: dict[str, str]
    verb: str
    group: str | None = None
    resource: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    user_agent: str = ""  # tells an operator's calls from a test's own
    status: int = 0  # filled in once answered; a watch counts as answered when it starts
    fault: int | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return asdict(self)


class FaultInjector:
    """The fault rules in force; thread-safe."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        """Put a rule in force; earlier rules take precedence."""
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        """The rules, including used-up ones, with their hit counts."""
        with self._lock:
            return list(self._rules)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule that applies to this request, counting the hit."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None


class RequestLog:
    """The most recent requests, bounded so that a long run stays fast; thread-safe."""

    def __init__(self, limit: int = 5000) -> None:
        self._records: collections.deque[RequestRecord] = collections.deque(maxlen=limit)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def next_id(self) -> int:
        """An id for the next record; ids keep growing when old records are dropped."""
        with self._lock:
            return next(self._ids)

    def add(self, record: RequestRecord) -> None:
        """Keep a record, dropping the oldest one if the log is full."""
        with self._lock:
            self._records.append(record)

    def records(self, since: int = 0) -> list[RequestRecord]:
        """Records with an id above ``since``, oldest first."""
        with self._lock:
            return [record for record in self._records if record.id > since]

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
