"""The error a WorkerPlugin spec raises when it cannot be used, and its message helpers.

It lives apart from ``spec`` so that ``selection`` can raise it without importing ``spec``,
which imports ``selection``.
"""

from __future__ import annotations

from collections.abc import Mapping


class SpecError(ValueError):
    """A spec that cannot be used; the message says what to change."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"spec.{path}: {message}" if path else message)
        self.path = path
        self.reason = message


def expected(what: str, value: object) -> str:
    """A message for a value of the wrong type: "must be a list, not a string"."""
    return f"must be {what}, not {json_type(value)}"


def json_type(value: object) -> str:
    """The JSON name of a value's type, for people who wrote the value in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a Python {type(value).__name__}"
