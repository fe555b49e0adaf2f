"""Properties of spec parsing that must hold for any input a resource body could carry."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dask_plugin_operator.selection import parse_selector
from dask_plugin_operator.spec import ModuleSource, PluginSpec, SpecError, parse_spec

FIELDS = ["type", "clusterSelector", "priority", "module", "pipInstall", "environ",
          "name", "args", "kwargs", "packages", "options", "restartWorkers",
          "matchLabels", "matchExpressions", "key", "operator", "values"]
WORDS = ["worker", "nanny", "scheduler", "In", "NotIn", "Exists", "DoesNotExist",
         "a.b:C", "errorlogger.plugins:ErrorLogger", "app", "demo", "example.com/team", "A"]

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(WORDS)
)
keys = st.sampled_from(FIELDS) | st.sampled_from(WORDS) | st.text(max_size=6)
json_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=30,
)
# Anything Python code could hand the parser, not only what JSON can express.
anything = st.recursive(
    scalars | st.binary(max_size=4) | st.just(object()),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children)
        | st.dictionaries(keys | st.integers() | st.none(), children, max_size=3)
        | st.frozensets(st.integers(), max_size=2)
    ),
    max_leaves=20,
)

label_values = st.sampled_from(["", "a", "b", "c", "prod"])
label_keys = st.sampled_from(["team", "tier", "example.com/zone"])
requirements = st.one_of(
    st.fixed_dictionaries({
        "key": label_keys,
        "operator": st.sampled_from(["In", "NotIn"]),
        "values": st.lists(label_values, min_size=1, max_size=3),
    }),
    st.fixed_dictionaries({
        "key": label_keys, "operator": st.sampled_from(["Exists", "DoesNotExist"]),
    }),
)
selectors = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": st.dictionaries(label_keys, label_values, max_size=3),
        "matchExpressions": st.lists(requirements, max_size=4),
    },
)
label_sets = st.dictionaries(label_keys, label_values, max_size=3)

# Specs close to valid ones, so that the accepting paths are explored as well.
sources = st.one_of(
    st.fixed_dictionaries(
        {"module": st.fixed_dictionaries(
            {"name": st.sampled_from(["a.b:C", "errorlogger.plugins:ErrorLogger", "x:Y"])},
            optional={"args": st.lists(json_like, max_size=3),
                      "kwargs": st.dictionaries(st.text(max_size=5), json_like, max_size=3)},
        )}
    ),
    st.fixed_dictionaries(
        {"pipInstall": st.fixed_dictionaries(
            {"packages": st.lists(st.text(max_size=12), max_size=3)},
            optional={"options": st.lists(st.text(max_size=8), max_size=2),
                      "restartWorkers": st.booleans()},
        )}
    ),
    st.fixed_dictionaries(
        {"environ": st.dictionaries(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
            st.text(max_size=8), max_size=3,
        )}
    ),
)
near_valid_specs = st.builds(
    lambda source, extra: {**source, **extra},
    sources,
    st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["worker", "nanny", "scheduler"]),
        "priority": st.integers(min_value=-(2**32), max_value=2**32),
        "clusterSelector": selectors,
    }),
)


def parse_or_error(spec: Any) -> PluginSpec | SpecError:
    try:
        return parse_spec(spec)
    except SpecError as error:
        return error


@given(json_like)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_any_json_spec_parses_or_raises_a_spec_error(spec: Any) -> None:
    result = parse_or_error(spec)
    assert isinstance(result, PluginSpec | SpecError)


@given(st.dictionaries(st.sampled_from(FIELDS[:6]), json_like, max_size=4))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_any_spec_with_the_right_field_names_parses_or_raises_a_spec_error(
    spec: dict[str, Any],
) -> None:
    result = parse_or_error(spec)
    assert isinstance(result, PluginSpec | SpecError)


@given(near_valid_specs)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_a_parsed_spec_is_plain_data_the_operator_can_report_and_ship(
    spec: dict[str, Any],
) -> None:
    result = parse_or_error(spec)
    if isinstance(result, SpecError):
        assert str(result)
        return

    assert isinstance(result.source_summary, str)
    event("parsed")
    assert result.kind in ("worker", "nanny", "scheduler")
    assert parse_spec(spec) == result  # parsing is deterministic
    json.dumps(result.source.__dict__, default=list, allow_nan=False)


@given(anything)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_python_value_parses_or_raises_a_spec_error(spec: Any) -> None:
    result = parse_or_error(spec)
    assert isinstance(result, PluginSpec | SpecError)


@given(
    st.dictionaries(st.sampled_from(["name", "args", "kwargs"]), json_like, max_size=3),
    st.sampled_from([None, "worker", "nanny", "scheduler"]),
)
def test_a_module_spec_either_parses_to_its_own_arguments_or_is_rejected(
    module: dict[str, Any], kind: str | None
) -> None:
    spec: dict[str, Any] = {"module": {**module, "name": "a.b:C"}}
    if kind is not None:
        spec["type"] = kind
    before = copy.deepcopy(spec)

    result = parse_or_error(spec)

    assert spec == before
    if isinstance(result, PluginSpec):
        assert isinstance(result.source, ModuleSource)
        assert result.kind == (kind or "worker")
        assert list(result.source.args) == (module.get("args") or [])
        assert result.source.kwargs == (module.get("kwargs") or {})
        json.dumps([result.source.args, result.source.kwargs], allow_nan=False)


@given(selectors, label_sets)
def test_a_selector_that_matches_some_labels_is_never_called_a_contradiction(
    raw: dict[str, Any], labels: dict[str, str]
) -> None:
    selector = parse_selector(raw)
    if selector.matches(labels):
        assert selector.contradiction() is None


@given(selectors)
def test_a_selector_called_satisfiable_is_matched_by_some_labels(raw: dict[str, Any]) -> None:
    selector = parse_selector(raw)
    if selector.contradiction() is not None:
        return

    # Build labels that satisfy it: every key takes a value its requirements allow, or
    # stays absent where they allow that; "zz" stands for a value no requirement names.
    keys = {key for key, _ in selector.match_labels}
    keys |= {requirement.key for requirement in selector.requirements}
    candidates = ["", "a", "b", "c", "prod", "zz", None]
    labels: dict[str, str] = {}
    for key in sorted(keys):
        for value in candidates:
            trial = {k: v for k, v in {**labels, key: value}.items() if v is not None}
            if _satisfies_key(selector, key, trial):
                labels = trial
                break
    assert selector.matches(labels)


def _satisfies_key(selector: Any, key: str, labels: dict[str, str]) -> bool:
    if any(k == key and labels.get(k) != v for k, v in selector.match_labels):
        return False
    return all(r.matches(labels) for r in selector.requirements if r.key == key)
