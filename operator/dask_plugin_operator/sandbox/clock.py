"""Timestamps and generated names, the way the API server writes them."""

from __future__ import annotations

import datetime
import random

# The alphabet Kubernetes uses for generateName suffixes: no vowels, no look-alikes.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    """The current time at second precision, e.g. ``2026-01-02T03:04:05Z``."""
    moment = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime.datetime | None:
    """A timestamp from an object, or None if it is not one."""
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def generated_name(prefix: str) -> str:
    """A name from ``metadata.generateName``: the prefix and five random characters."""
    suffix = "".join(random.choices(_SUFFIX_ALPHABET, k=5))
    return f"{prefix[:58]}{suffix}"


def human_age(since: datetime.datetime, until: datetime.datetime | None = None) -> str:
    """An age the way kubectl prints it: 45s, 3m12s, 25m, 5h10m, 2d3h, 40d."""
    until = until or datetime.datetime.now(datetime.timezone.utc)
    seconds = int((until - since).total_seconds())
    if seconds < 0:
        return "0s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d" if days < 365 * 2 else f"{days // 365}y"


__all__ = ["generated_name", "human_age", "now_rfc3339", "parse_rfc3339"]
