"""Label selectors over DaskClusters: parsing, matching and selectors that cannot match."""

from __future__ import annotations

from typing import Any

import pytest

from dask_plugin_operator.selection import LabelSelector, Requirement, parse_selector
from dask_plugin_operator.spec import SpecError


def selector(**raw: Any) -> LabelSelector:
    return parse_selector(raw)


def expression(key: str, operator: str, *values: str) -> dict[str, Any]:
    raw: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        raw["values"] = list(values)
    return raw


# Matching -------------------------------------------------------------------------------


def test_an_absent_or_empty_selector_selects_every_cluster() -> None:
    for empty in (parse_selector(None), parse_selector({}), selector(matchLabels={})):
        assert empty.is_empty
        assert empty.matches({})
        assert empty.matches({"team": "analytics"})


def test_match_labels_require_every_label_with_its_exact_value() -> None:
    chosen = selector(matchLabels={"team": "analytics", "tier": "prod"})

    assert not chosen.is_empty
    assert chosen.matches({"team": "analytics", "tier": "prod", "other": "x"})
    assert not chosen.matches({"team": "analytics"})
    assert not chosen.matches({"team": "analytics", "tier": "dev"})


def test_in_matches_a_label_set_to_one_of_the_values() -> None:
    chosen = selector(matchExpressions=[expression("tier", "In", "prod", "staging")])

    assert chosen.matches({"tier": "prod"})
    assert chosen.matches({"tier": "staging"})
    assert not chosen.matches({"tier": "dev"})
    assert not chosen.matches({})


def test_not_in_matches_a_label_set_otherwise_or_absent() -> None:
    chosen = selector(matchExpressions=[expression("tier", "NotIn", "dev")])

    assert chosen.matches({"tier": "prod"})
    assert chosen.matches({})
    assert not chosen.matches({"tier": "dev"})


def test_exists_matches_a_label_with_any_value() -> None:
    chosen = selector(matchExpressions=[expression("gpu", "Exists")])

    assert chosen.matches({"gpu": ""})
    assert chosen.matches({"gpu": "a100"})
    assert not chosen.matches({"cpu": "x"})


def test_does_not_exist_matches_only_where_the_label_is_absent() -> None:
    chosen = selector(matchExpressions=[expression("gpu", "DoesNotExist")])

    assert chosen.matches({})
    assert not chosen.matches({"gpu": ""})


def test_labels_and_expressions_must_all_hold() -> None:
    chosen = selector(
        matchLabels={"team": "analytics"},
        matchExpressions=[expression("tier", "In", "prod"), expression("gpu", "DoesNotExist")],
    )

    assert chosen.matches({"team": "analytics", "tier": "prod"})
    assert not chosen.matches({"team": "analytics", "tier": "prod", "gpu": "1"})
    assert not chosen.matches({"team": "data", "tier": "prod"})


def test_parsed_selectors_are_plain_values() -> None:
    parsed = selector(
        matchLabels={"b": "2", "a": "1"},
        matchExpressions=[expression("c", "In", "y", "x")],
    )

    assert parsed == LabelSelector(
        match_labels=(("a", "1"), ("b", "2")),
        requirements=(Requirement("c", "In", frozenset({"x", "y"})),),
    )


# Selectors that are valid but cannot match ---------------------------------------------

CONTRADICTIONS = {
    "required and absent": {
        "matchLabels": {"team": "a"},
        "matchExpressions": [expression("team", "DoesNotExist")],
    },
    "exists and absent": {
        "matchExpressions": [expression("gpu", "Exists"), expression("gpu", "DoesNotExist")],
    },
    "label outside In": {
        "matchLabels": {"team": "a"},
        "matchExpressions": [expression("team", "In", "b", "c")],
    },
    "label inside NotIn": {
        "matchLabels": {"team": "a"},
        "matchExpressions": [expression("team", "NotIn", "a")],
    },
    "disjoint Ins": {
        "matchExpressions": [expression("tier", "In", "a"), expression("tier", "In", "b")],
    },
    "In covered by NotIn": {
        "matchExpressions": [
            expression("tier", "In", "a", "b"), expression("tier", "NotIn", "b", "a"),
        ],
    },
    "In and absent": {
        "matchExpressions": [expression("tier", "In", "a"), expression("tier", "DoesNotExist")],
    },
}


@pytest.mark.parametrize("raw", CONTRADICTIONS.values(), ids=CONTRADICTIONS.keys())
def test_a_contradictory_selector_is_named_with_its_label(raw: dict[str, Any]) -> None:
    contradiction = parse_selector(raw).contradiction()

    # Every case above contradicts itself on the key of its last expression.
    key = raw["matchExpressions"][-1]["key"]
    assert contradiction is not None
    assert f"no DaskCluster can match: the requirements on label {key!r}" in contradiction


def test_a_contradiction_lists_the_requirements_that_clash() -> None:
    contradiction = selector(
        matchLabels={"team": "a"}, matchExpressions=[expression("team", "NotIn", "a", "b")]
    ).contradiction()

    assert contradiction is not None
    assert "matchLabels requires 'a'; team notin (a,b)" in contradiction


SATISFIABLE = {
    "NotIn with absent": {
        "matchExpressions": [expression("t", "NotIn", "a"), expression("t", "DoesNotExist")],
    },
    "overlapping Ins": {
        "matchExpressions": [expression("t", "In", "a", "b"), expression("t", "In", "b", "c")],
    },
    "In with a partial NotIn": {
        "matchExpressions": [expression("t", "In", "a", "b"), expression("t", "NotIn", "a")],
    },
    "Exists with NotIn": {
        "matchExpressions": [expression("t", "Exists"), expression("t", "NotIn", "a")],
    },
    "label agreeing with In": {
        "matchLabels": {"t": "a"}, "matchExpressions": [expression("t", "In", "a", "b")],
    },
    "different keys": {
        "matchLabels": {"t": "a"}, "matchExpressions": [expression("u", "DoesNotExist")],
    },
}


@pytest.mark.parametrize("raw", SATISFIABLE.values(), ids=SATISFIABLE.keys())
def test_a_selector_that_some_labels_satisfy_is_no_contradiction(raw: dict[str, Any]) -> None:
    assert parse_selector(raw).contradiction() is None


# Invalid selectors ----------------------------------------------------------------------

INVALID = [
    ("clusterSelector", "not an object", "must be an object"),
    ("clusterSelector.matchLabel", {"matchLabel": {}}, "not a selector field"),
    ("clusterSelector.matchLabels", {"matchLabels": ["a"]}, "must be an object"),
    ("clusterSelector.matchLabels.a", {"matchLabels": {"a": 1}}, "quote numbers"),
    ("clusterSelector.matchLabels.a", {"matchLabels": {"a": "x y"}}, "not a label value"),
    ("clusterSelector.matchLabels.a", {"matchLabels": {"a": "x" * 64}}, "not a label value"),
    ("clusterSelector.matchLabels", {"matchLabels": {"-a": "x"}}, "not a label key"),
    ("clusterSelector.matchLabels", {"matchLabels": {"a" * 64: "x"}}, "not a label key"),
    ("clusterSelector.matchLabels", {"matchLabels": {"UP.com/a": "x"}}, "DNS subdomain"),
    ("clusterSelector.matchLabels", {"matchLabels": {"/a": "x"}}, "DNS subdomain"),
    ("clusterSelector.matchLabels", {"matchLabels": {"a/": "x"}}, "not a label key"),
    ("clusterSelector.matchExpressions", {"matchExpressions": {}}, "must be a list"),
    ("clusterSelector.matchExpressions[0]", {"matchExpressions": ["a"]}, "must be an object"),
    (
        "clusterSelector.matchExpressions[0].key",
        {"matchExpressions": [{"operator": "Exists"}]},
        "is required",
    ),
    (
        "clusterSelector.matchExpressions[0].key",
        {"matchExpressions": [expression("a b", "Exists")]},
        "not a label key",
    ),
    (
        "clusterSelector.matchExpressions[0].operator",
        {"matchExpressions": [expression("a", "Equals", "x")]},
        "use one of In, NotIn, Exists, DoesNotExist",
    ),
    (
        "clusterSelector.matchExpressions[0].values",
        {"matchExpressions": [expression("a", "In")]},
        "at least one value for In",
    ),
    (
        "clusterSelector.matchExpressions[0].values",
        {"matchExpressions": [expression("a", "NotIn")]},
        "at least one value for NotIn",
    ),
    (
        "clusterSelector.matchExpressions[0].values",
        {"matchExpressions": [expression("a", "Exists", "x")]},
        "empty or absent for Exists",
    ),
    (
        "clusterSelector.matchExpressions[0].values",
        {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
        "must be a list",
    ),
    (
        "clusterSelector.matchExpressions[0].values[1]",
        {"matchExpressions": [expression("a", "In", "x", "not valid")]},
        "not a label value",
    ),
    (
        "clusterSelector.matchExpressions[0].value",
        {"matchExpressions": [{"key": "a", "operator": "In", "value": "x"}]},
        "not a requirement field",
    ),
    (
        "clusterSelector.matchExpressions",
        {"matchExpressions": [expression("a", "Exists")] * 65},
        "at most 64",
    ),
]


@pytest.mark.parametrize(("path", "raw", "message"), INVALID)
def test_an_invalid_selector_is_rejected_at_its_path(path: str, raw: Any, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_selector(raw)

    assert caught.value.path == path
    assert message in caught.value.reason
    assert str(caught.value).startswith(f"spec.{path}: ")


def test_label_keys_and_values_at_the_kubernetes_limits_are_accepted() -> None:
    key = "a" * 63 + "." + "b" * 189 + "/" + "n" * 63
    chosen = selector(matchLabels={key: "v" * 63, "empty": ""})

    assert chosen.matches({key: "v" * 63, "empty": ""})
