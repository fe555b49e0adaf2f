"""The JSONPath subset of printer columns: ``.a.b``, ``.a[0]``, ``.a[*].b`` and filters
like ``.status.conditions[?(@.type=="Ready")].status``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$/]+)"""
    r"""|\[(?P<index>-?\d+|\*)\]"""
    r"""|\[\?\(@\.(?P<filter_path>[A-Za-z0-9_.\-]+)\s*(?P<op>==|!=)\s*"""
    r"""(?P<quote>["']?)(?P<value>[^"'\]]*)(?P=quote)\)\]"""
    r"""|\[['"](?P<quoted>[^'"]+)['"]\]"""
)


def evaluate(path: str, obj: Any) -> list[Any]:
    """Every value the path selects in the object, in order; empty if none."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = text.removeprefix("$")
    values = [obj]
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            return []
        values = [result for value in values for result in _step(match, value)]
        position = match.end()
    return values


def _step(match: re.Match[str], value: Any) -> list[Any]:
    field = match.group("field") or match.group("quoted")
    if field is not None:
        return [value[field]] if isinstance(value, Mapping) and field in value else []
    index = match.group("index")
    if index == "*":
        return list(value.values() if isinstance(value, Mapping) else value or [])
    if index is not None:
        if isinstance(value, list) and -len(value) <= int(index) < len(value):
            return [value[int(index)]]
        return []
    if not isinstance(value, list):
        return []
    wanted, equal = match.group("value"), match.group("op") == "=="
    inner = match.group("filter_path")
    return [item for item in value if (_as_text(evaluate("." + inner, item)) == wanted) == equal]


def _as_text(values: list[Any]) -> str | None:
    if not values:
        return None
    value = values[0]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
