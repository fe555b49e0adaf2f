"""Which DaskClusters a plugin selects: Kubernetes label selectors, evaluated locally.

``parse_selector`` checks a ``clusterSelector`` the way the Kubernetes API server checks
label selectors (label key and value syntax, values only where the operator takes them),
and ``LabelSelector.contradiction`` finds the selectors that are valid but can never match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

from .errors import SpecError, expected

Operator: TypeAlias = Literal["In", "NotIn", "Exists", "DoesNotExist"]

OPERATORS: tuple[Operator, ...] = ("In", "NotIn", "Exists", "DoesNotExist")

# Bounds that keep a selector cheap to store and to evaluate; the CRD states the same.
MAX_MATCH_LABELS = 64
MAX_EXPRESSIONS = 64
MAX_VALUES = 256

_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether labels satisfy this requirement; NotIn holds where the label is absent."""
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        return labels.get(self.key) not in self.values

    def describe(self) -> str:
        """The requirement in the syntax of ``kubectl get -l``."""
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(sorted(self.values))})"


@dataclass(frozen=True)
class LabelSelector:
    """A standard LabelSelector; an empty one selects everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    requirements: tuple[Requirement, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        """Whether this selector selects every DaskCluster in the namespace."""
        return not self.match_labels and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a DaskCluster with these labels is selected."""
        if any(labels.get(key) != value for key, value in self.match_labels):
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    def contradiction(self) -> str | None:
        """Why no set of labels can satisfy this selector, or None when some set can."""
        constraints: dict[str, _KeyConstraint] = {}
        for key, value in self.match_labels:
            constraints.setdefault(key, _KeyConstraint()).add_equals(value)
        for requirement in self.requirements:
            constraints.setdefault(requirement.key, _KeyConstraint()).add(requirement)

        for key, constraint in sorted(constraints.items()):
            if not constraint.satisfiable():
                terms = "; ".join(constraint.terms)
                return (
                    f"no DaskCluster can match: the requirements on label {key!r} "
                    f"contradict each other ({terms}); remove or correct one of them"
                )
        return None


@dataclass
class _KeyConstraint:
    """What the requirements on one label key allow, gathered to find contradictions."""

    must_exist: bool = False
    must_not_exist: bool = False
    allowed: frozenset[str] | None = None  # None: any value
    forbidden: set[str] = field(default_factory=set)
    terms: list[str] = field(default_factory=list)

    def add_equals(self, value: str) -> None:
        self._restrict(frozenset({value}))
        self.terms.append(f"matchLabels requires {value!r}")

    def add(self, requirement: Requirement) -> None:
        if requirement.operator == "In":
            self._restrict(requirement.values)
        elif requirement.operator == "NotIn":
            self.forbidden |= requirement.values
        elif requirement.operator == "Exists":
            self.must_exist = True
        else:
            self.must_not_exist = True
        self.terms.append(requirement.describe())

    def _restrict(self, values: frozenset[str]) -> None:
        self.must_exist = True
        self.allowed = values if self.allowed is None else self.allowed & values

    def satisfiable(self) -> bool:
        # An absent label satisfies NotIn and DoesNotExist; a present one needs a value
        # that is allowed and not forbidden. The set of possible values is infinite.
        absent_possible = not self.must_exist
        present_possible = not self.must_not_exist and (
            self.allowed is None or bool(self.allowed - self.forbidden)
        )
        return absent_possible or present_possible


def parse_selector(raw: Mapping[str, Any] | None) -> LabelSelector:
    """Parse a ``clusterSelector``; raise SpecError with a path under ``clusterSelector``."""
    if raw is None:
        return LabelSelector()
    if not isinstance(raw, Mapping):
        raise SpecError("clusterSelector", expected("an object", raw))
    unknown = sorted(str(key) for key in raw if key not in ("matchLabels", "matchExpressions"))
    if unknown:
        raise SpecError(
            f"clusterSelector.{unknown[0]}",
            "is not a selector field; a clusterSelector has matchLabels and matchExpressions",
        )

    match_labels = _parse_match_labels(raw.get("matchLabels"))
    requirements = _parse_expressions(raw.get("matchExpressions"))
    return LabelSelector(match_labels=match_labels, requirements=requirements)


def _parse_match_labels(raw: object) -> tuple[tuple[str, str], ...]:
    path = "clusterSelector.matchLabels"
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise SpecError(path, expected("an object of label keys to values", raw))
    if len(raw) > MAX_MATCH_LABELS:
        raise SpecError(path, f"has {len(raw)} labels; at most {MAX_MATCH_LABELS} are allowed")

    pairs = []
    for key, value in raw.items():
        check_label_key(path, key)
        check_label_value(f"{path}.{key}", value)
        pairs.append((cast(str, key), cast(str, value)))
    return tuple(sorted(pairs))


def _parse_expressions(raw: object) -> tuple[Requirement, ...]:
    path = "clusterSelector.matchExpressions"
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise SpecError(path, expected("a list of requirements", raw))
    if len(raw) > MAX_EXPRESSIONS:
        raise SpecError(
            path, f"has {len(raw)} requirements; at most {MAX_EXPRESSIONS} are allowed"
        )
    return tuple(_parse_requirement(f"{path}[{index}]", item) for index, item in enumerate(raw))


def _parse_requirement(path: str, raw: object) -> Requirement:
    if not isinstance(raw, Mapping):
        raise SpecError(path, expected("an object with key, operator and values", raw))
    unknown = sorted(str(key) for key in raw if key not in ("key", "operator", "values"))
    if unknown:
        raise SpecError(
            f"{path}.{unknown[0]}",
            "is not a requirement field; a requirement has key, operator and values",
        )
    if "key" not in raw:
        raise SpecError(f"{path}.key", "is required; name the label the requirement tests")
    check_label_key(f"{path}.key", raw["key"], as_value=True)

    operator = raw.get("operator")
    if operator not in OPERATORS:
        raise SpecError(
            f"{path}.operator",
            f"{operator!r} is not an operator; use one of {', '.join(OPERATORS)}",
        )
    values = _parse_values(f"{path}.values", raw.get("values"))

    # Kubernetes requires values for In and NotIn and forbids them otherwise; an In with no
    # values could never match, which is almost certainly not what the author meant.
    if operator in ("In", "NotIn") and not values:
        raise SpecError(f"{path}.values", f"must list at least one value for {operator}")
    if operator in ("Exists", "DoesNotExist") and values:
        raise SpecError(f"{path}.values", f"must be empty or absent for {operator}")
    return Requirement(key=raw["key"], operator=operator, values=frozenset(values))


def _parse_values(path: str, raw: object) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise SpecError(path, expected("a list of label values", raw))
    if len(raw) > MAX_VALUES:
        raise SpecError(path, f"has {len(raw)} values; at most {MAX_VALUES} are allowed")
    for index, value in enumerate(raw):
        check_label_value(f"{path}[{index}]", value)
    return list(raw)


def check_label_key(path: str, key: object, *, as_value: bool = False) -> None:
    """Raise SpecError unless ``key`` is a Kubernetes label key (``[prefix/]name``).

    With ``as_value`` the path names the key itself; otherwise the path is the map that
    holds it, and the message quotes the key.
    """
    where = "" if as_value else f"key {key!r}: "
    if not isinstance(key, str):
        raise SpecError(path, where + expected("a string", key))
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise SpecError(
            path,
            f"{where}{key!r} has a prefix that is not a DNS subdomain (lower-case letters, "
            "digits, '-' and '.', at most 253 characters), e.g. example.com/team",
        )
    if len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        raise SpecError(
            path,
            f"{where}{key!r} is not a label key: its name part must be 1 to 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit",
        )


def check_label_value(path: str, value: object) -> None:
    """Raise SpecError unless ``value`` is a Kubernetes label value."""
    if not isinstance(value, str):
        raise SpecError(path, expected("a string (quote numbers and booleans in YAML)", value))
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        raise SpecError(
            path,
            f"{value!r} is not a label value: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit",
        )
