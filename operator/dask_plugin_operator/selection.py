"""Which DaskClusters a plugin selects: Kubernetes label selectors, evaluated locally."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

Operator: TypeAlias = Literal["In", "NotIn", "Exists", "DoesNotExist"]


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LabelSelector:
    """A standard LabelSelector; an empty one selects everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = field(default=())
