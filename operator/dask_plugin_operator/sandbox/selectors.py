"""Label and field selectors of list and watch requests (``labelSelector``, ``fieldSelector``).

The label syntax is the one ``kubectl get -l`` takes: ``a=b``, ``a==b``, ``a!=b``,
``a in (x,y)``, ``a notin (x,y)``, ``a`` and ``!a``, joined by commas. Field selectors
compare a dotted path (``metadata.name``, ``involvedObject.uid``) with ``=``/``==``/``!=``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

Test = Callable[[Mapping[str, str]], bool]

_SET_REQUIREMENT = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


@dataclass(frozen=True)
class LabelSelector:
    """A parsed ``labelSelector``: every requirement must hold."""

    tests: tuple[Test, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the query parameter; an empty or absent one selects everything."""
        if not text or not text.strip():
            return cls()
        return cls(tuple(_parse_requirement(part) for part in _split_outside_parens(text)))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        labels = labels or {}
        return all(test(labels) for test in self.tests)


def _split_outside_parens(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _parse_requirement(part: str) -> Test:
    if match := _SET_REQUIREMENT.match(part):
        key, word, raw_values = match.groups()
        values = frozenset(value.strip() for value in raw_values.split(","))
        if word == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQUALITY.match(part):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS.match(part):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: {part.strip()!r} in label selector")


@dataclass(frozen=True)
class FieldSelector:
    """A parsed ``fieldSelector``: (path, wanted value, equal?) triples, all must hold."""

    terms: tuple[tuple[tuple[str, ...], str, bool], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse the query parameter; an empty or absent one selects everything."""
        if not text or not text.strip():
            return cls()
        terms = []
        for part in text.split(","):
            match = _EQUALITY.match(part)
            if match is None:
                raise bad_request(f"invalid field selector: {part.strip()!r}")
            path, operator, value = match.groups()
            terms.append((tuple(path.split(".")), value, operator != "!="))
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether the object's fields have the wanted values (absent fields read as "")."""
        return all((_field_text(obj, path) == value) == equal for path, value, equal in self.terms)


def _field_text(obj: Mapping[str, Any], path: tuple[str, ...]) -> str:
    value: Any = obj
    for step in path:
        value = value.get(step) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
