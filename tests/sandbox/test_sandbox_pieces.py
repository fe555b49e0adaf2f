"""The sandbox's pure pieces: paths, selectors, patches, JSONPath, schemas, pruning, ages."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from dask_plugin_operator.sandbox.clock import human_age
from dask_plugin_operator.sandbox.discovery import version_priority
from dask_plugin_operator.sandbox.errors import ApiError
from dask_plugin_operator.sandbox.jsonpath import evaluate
from dask_plugin_operator.sandbox.patches import json_patch, merge_patch, strategic_merge_patch
from dask_plugin_operator.sandbox.routing import Target, parse_path
from dask_plugin_operator.sandbox.selectors import FieldSelector, LabelSelector
from dask_plugin_operator.sandbox.structural import prune_and_default
from dask_plugin_operator.sandbox.validation import name_causes, schema_causes


@pytest.mark.parametrize(("path", "target"), [
    ("/api/v1/namespaces", Target("", "v1", "namespaces")),
    ("/api/v1/namespaces/ns", Target("", "v1", "namespaces", name="ns")),
    ("/api/v1/namespaces/ns/status", Target("", "v1", "namespaces", name="ns",
                                            subresource="status")),
    ("/api/v1/namespaces/ns/pods", Target("", "v1", "pods", namespace="ns")),
    ("/apis/g.io/v1/namespaces/ns/things/t/status",
     Target("g.io", "v1", "things", "ns", "t", "status")),
    ("/apis/g.io/v1/things", Target("g.io", "v1", "things")),
    ("/apis/g.io", Target("g.io")),
    ("/apis", Target("*")),
    ("/version", None),
])
def test_api_paths_split_into_what_they_address(path: str, target: Target | None) -> None:
    assert parse_path(path) == target


def test_label_selectors_reject_what_they_cannot_parse() -> None:
    with pytest.raises(ApiError) as parsing:
        LabelSelector.parse("a in b")
    assert parsing.value.code == 400


def test_field_selectors_read_nested_fields_and_inequality() -> None:
    event = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}}
    assert FieldSelector.parse("involvedObject.kind=Pod,involvedObject.name=p").matches(event)
    assert not FieldSelector.parse("involvedObject.kind!=Pod").matches(event)
    assert FieldSelector.parse("spec.nodeName=").matches(event)  # absent reads as empty


def test_merge_patch_deletes_with_null_and_replaces_lists() -> None:
    original = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(original, {"a": {"b": None}, "l": [3]}) == {"a": {"c": 2}, "l": [3]}
    assert original == {"a": {"b": 1, "c": 2}, "l": [1, 2]}


def test_json_patch_applies_every_operation_kind() -> None:
    operations = [
        {"op": "add", "path": "/l/-", "value": 3},
        {"op": "replace", "path": "/a", "value": 2},
        {"op": "copy", "from": "/a", "path": "/b"},
        {"op": "move", "from": "/b", "path": "/c~1d"},
        {"op": "remove", "path": "/l/0"},
        {"op": "test", "path": "/a", "value": 2},
    ]
    assert json_patch({"a": 1, "l": [1, 2]}, operations) == {"a": 2, "l": [2, 3], "c/d": 2}


def test_json_patch_of_a_missing_path_is_unprocessable() -> None:
    with pytest.raises(ApiError) as patching:
        json_patch({}, [{"op": "remove", "path": "/metadata/finalizers"}])
    assert patching.value.code == 422


def test_strategic_merge_patch_merges_by_key_and_obeys_directives() -> None:
    service = {"spec": {"ports": [{"name": "a", "port": 1, "protocol": "TCP"},
                                  {"name": "b", "port": 2}]}}
    patch = {"spec": {"$setElementOrder/ports": [{"name": "a"}],
                      "ports": [{"name": "a", "port": 10}, {"name": "b", "$patch": "delete"}]}}
    assert strategic_merge_patch(service, patch) == {
        "spec": {"ports": [{"name": "a", "port": 10, "protocol": "TCP"}]}
    }


@pytest.mark.parametrize(("path", "expected"), [
    (".spec.size", [3]),
    ("{.spec.items[1]}", ["y"]),
    (".spec.items[*]", ["x", "y"]),
    ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
    (".status.conditions[?(@.type=='Missing')].status", []),
    (".metadata.labels['dask.org/cluster-name']", ["prod"]),
    (".spec.absent.deeper", []),
])
def test_jsonpath_selects_what_printer_columns_name(path: str, expected: list[Any]) -> None:
    obj = {
        "metadata": {"labels": {"dask.org/cluster-name": "prod"}},
        "spec": {"size": 3, "items": ["x", "y"]},
        "status": {"conditions": [{"type": "Other", "status": "False"},
                                  {"type": "Ready", "status": "True"}]},
    }
    assert evaluate(path, obj) == expected


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"spec": {"type": "object"}}},
                "mode": {"type": "string", "default": "fast"},
            },
            "oneOf": [{"required": ["port"]}, {"required": ["note"]}],
        },
    },
}


def test_pruning_keeps_declared_and_embedded_metadata_and_fills_defaults() -> None:
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "labels": {"a": "b"}},
           "spec": {"port": 1, "bogus": 1, "labels": {"any": "thing"},
                    "template": {"metadata": {"name": "t"}, "spec": {"gone": 1}, "extra": 1}}}
    assert prune_and_default(obj, SCHEMA) == {
        "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {"port": 1, "labels": {"any": "thing"}, "mode": "fast",
                 "template": {"metadata": {"name": "t"}, "spec": {}}},
    }


def test_schemas_take_int_or_string_and_nullable_and_check_one_of() -> None:
    assert schema_causes({"metadata": {}, "spec": {"port": "http"}}, SCHEMA) == []
    assert schema_causes({"metadata": {}, "spec": {"note": None}}, SCHEMA) == []
    (cause,) = schema_causes({"metadata": {}, "spec": {"port": 1, "note": "x"}}, SCHEMA)
    assert cause[1] == "spec" and "oneOf" in cause[2]
    (typed,) = schema_causes({"metadata": {}, "spec": {"port": 1.5}}, SCHEMA)
    assert typed[1] == "spec.port"


def test_names_follow_dns_rules() -> None:
    assert name_causes("prod-1.analytics") == []
    assert name_causes("Prod") != []
    assert name_causes("a.b", dns_label=True) != []


def test_ages_read_like_kubectl_prints_them() -> None:
    now = datetime.datetime(2026, 1, 10, tzinfo=datetime.timezone.utc)
    ago = {seconds: human_age(now - datetime.timedelta(seconds=seconds), now)
           for seconds in (5, 185, 1500, 4 * 3600 + 600, 30 * 3600, 3 * 86400, 40 * 86400)}
    assert list(ago.values()) == ["5s", "3m5s", "25m", "4h10m", "30h", "3d", "40d"]


def test_api_versions_are_preferred_stable_first() -> None:
    versions = ["v1alpha1", "v2", "v1beta2", "v1", "v1beta1"]
    ordered = sorted(versions, key=version_priority, reverse=True)
    assert ordered == ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1"]
