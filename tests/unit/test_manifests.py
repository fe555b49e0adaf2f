"""The manifests we ship: CRDs that a real API server accepts, examples that validate.

A real API server is not at hand in unit tests, so the structural-schema rules it applies
to a CustomResourceDefinition are checked here by hand, custom objects are validated with
``jsonschema`` against the CRD schemas by our API emulator's own validation, and the CEL
rules, which the emulator ignores, are evaluated with cel-python.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import celpy
import dask_kubernetes  # type: ignore[import-untyped]
import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from celpy.adapter import json_to_cel
from celpy.celtypes import BoolType
from celpy.evaluation import CELEvalError

from dask_plugin_operator.sandbox.validation import schema_causes, to_json_schema
from dask_plugin_operator.spec import PluginSpec, SpecError, parse_spec

ROOT = Path(__file__).resolve().parents[2]
CRD_FILES = sorted((ROOT / "crds").glob("*.yaml"))
EXAMPLE_FILES = sorted((ROOT / "examples").rglob("*.yaml"))
DASKCLUSTER_CRD = (
    Path(dask_kubernetes.__file__).parent
    / "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
)

JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
# Keywords that apiextensions.k8s.io/v1 rejects anywhere in a schema.
FORBIDDEN_KEYWORDS = (
    "$ref", "$schema", "definitions", "id", "patternProperties",
    "dependencies", "additionalItems",
)
# Keywords a structural schema must not set inside allOf, anyOf, oneOf or not.
FORBIDDEN_IN_JUNCTORS = ("type", "description", "default", "additionalProperties", "nullable")


# The structural-schema checker ------------------------------------------------------------


def structural_violations(schema: Mapping[str, Any]) -> list[str]:
    """Every way a CRD's openAPIV3Schema breaks the Kubernetes structural-schema rules."""
    problems = list(_check_node(schema, "openAPIV3Schema", outer=None))
    if schema.get("type") != "object":
        problems.append("openAPIV3Schema: the root must have type object")

    # Of metadata, a schema may only restrict name and generateName.
    metadata = schema.get("properties", {}).get("metadata", {})
    extra = set(metadata) - {"type", "description", "properties"}
    extra |= set(metadata.get("properties", {})) - {"name", "generateName"}
    if extra:
        problems.append(f"openAPIV3Schema.metadata: restricts {sorted(extra)}")
    return problems


def _check_node(
    node: Mapping[str, Any], path: str, outer: Mapping[str, Any] | None
) -> Iterator[str]:
    """Check one schema node; ``outer`` is the node it constrains when inside a junctor."""
    in_junctor = outer is not None
    for keyword in FORBIDDEN_KEYWORDS:
        if keyword in node:
            yield f"{path}: uses {keyword}, which CRD schemas forbid"
    if node.get("uniqueItems") is True:
        yield f"{path}: sets uniqueItems, which CRD schemas forbid"
    if node.get("additionalProperties") is False:
        yield f"{path}: sets additionalProperties false; pruning drops unknown fields already"
    if "properties" in node and "additionalProperties" in node:
        yield f"{path}: sets both properties and additionalProperties"
    if node.get("x-kubernetes-preserve-unknown-fields", True) is not True:
        yield f"{path}: x-kubernetes-preserve-unknown-fields must be true or absent"
    if "items" in node and not isinstance(node["items"], Mapping):
        yield f"{path}: items must be one schema, not a list"

    if in_junctor:
        for keyword in FORBIDDEN_IN_JUNCTORS:
            if keyword in node:
                yield f"{path}: sets {keyword} inside a junctor"
    else:
        untyped_ok = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
            "x-kubernetes-int-or-string"
        )
        if "type" not in node and not untyped_ok:
            yield f"{path}: has no type"
        if not node.get("description"):
            yield f"{path}: has no description"
        yield from _check_list_map(node, path)
        yield from _check_default(node, path)

    yield from _check_children(node, path, outer)


def _check_children(
    node: Mapping[str, Any], path: str, outer: Mapping[str, Any] | None
) -> Iterator[str]:
    in_junctor = outer is not None
    outer_properties = (outer or {}).get("properties", {})
    for name, child in node.get("properties", {}).items():
        if in_junctor and name not in outer_properties:
            yield f"{path}.{name}: appears in a junctor but not in the schema around it"
            continue
        yield from _check_node(child, f"{path}.{name}", outer_properties.get(name))
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from _check_node(
            node["additionalProperties"], f"{path}.additionalProperties",
            (outer or {}).get("additionalProperties"),
        )
    if isinstance(node.get("items"), Mapping):
        if in_junctor and "items" not in (outer or {}):
            yield f"{path}.items: appears in a junctor but not in the schema around it"
        else:
            yield from _check_node(node["items"], f"{path}.items", (outer or {}).get("items"))

    # A junctor's branches constrain the node they sit in (or, nested, that node's outer).
    for junctor in JUNCTORS:
        if junctor not in node:
            continue
        branches = [node[junctor]] if junctor == "not" else node[junctor]
        for index, branch in enumerate(branches):
            yield from _check_node(branch, f"{path}.{junctor}[{index}]", outer or node)


def _check_list_map(node: Mapping[str, Any], path: str) -> Iterator[str]:
    keys = node.get("x-kubernetes-list-map-keys")
    if keys is None:
        return
    if node.get("x-kubernetes-list-type") != "map":
        yield f"{path}: has list-map-keys but is not x-kubernetes-list-type map"
    items = node.get("items", {})
    for key in keys:
        property_schema = items.get("properties", {}).get(key, {})
        if key not in items.get("required", []) and "default" not in property_schema:
            yield f"{path}: list-map key {key} is neither required nor defaulted"


def _check_default(node: Mapping[str, Any], path: str) -> Iterator[str]:
    if "default" not in node:
        return
    try:
        jsonschema.validate(node["default"], to_json_schema(node))
    except jsonschema.ValidationError as error:
        yield f"{path}: its default does not validate: {error.message}"


def described_fields_missing(schema: Mapping[str, Any]) -> list[str]:
    """Paths of the fields (not junctor branches) that have no description."""
    return [
        problem.split(":")[0]
        for problem in _check_node(schema, "openAPIV3Schema", outer=None)
        if problem.endswith("has no description")
    ]


# Custom objects against their CRDs -----------------------------------------------------


def load_crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The openAPIV3Schema of every kind we know, by (apiVersion, kind)."""
    schemas = {}
    for path in [*CRD_FILES, DASKCLUSTER_CRD]:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


SCHEMAS = load_crd_schemas()
WORKERPLUGIN_SCHEMA = SCHEMAS[("plugins.dask.org/v1alpha1", "WorkerPlugin")]


def unknown_fields(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Fields the API server would prune, which kubectl's strict validation rejects."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if not path:
        # The API server keeps the type and object metadata whatever the schema says.
        value = {k: v for k, v in value.items() if k not in ("apiVersion", "kind", "metadata")}
    found = []
    if isinstance(value, Mapping) and "properties" in schema:
        for name, child in value.items():
            if name not in schema["properties"]:
                found.append(f"{path}.{name}")
            else:
                found += unknown_fields(child, schema["properties"][name], f"{path}.{name}")
    elif isinstance(value, Mapping) and isinstance(schema.get("additionalProperties"), Mapping):
        for name, child in value.items():
            found += unknown_fields(child, schema["additionalProperties"], f"{path}.{name}")
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, child in enumerate(value):
            found += unknown_fields(child, schema["items"], f"{path}[{index}]")
    return found


def workerplugin(spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "plugins.dask.org/v1alpha1",
        "kind": "WorkerPlugin",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": copy.deepcopy(spec),
    }


def schema_violations(document: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Why a custom object breaks its schema, CEL aside: what our API emulator's jsonschema
    validation says, then the fields that pruning would drop, which kubectl's strict field
    validation rejects."""
    causes = [f"{field}: {message}" for _, field, message in schema_causes(document, schema)]
    return causes + [f"{path}: unknown field" for path in unknown_fields(document, schema)]


def schema_rejects(spec: Any) -> bool:
    """Whether an API server that ignores CEL (like our emulator) refuses this spec."""
    return bool(schema_violations(workerplugin(spec), WORKERPLUGIN_SCHEMA))


# CEL rules, evaluated as an API server evaluates them: at every node that declares them.

_CEL = celpy.Environment()


@functools.cache
def _cel_program(rule: str) -> Any:
    return _CEL.program(_CEL.compile(rule))


def cel_violations(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """The messages of the CEL rules that ``value`` breaks, at any depth."""
    found = []
    for validation in schema.get("x-kubernetes-validations", ()):
        try:
            activation = {"self": json_to_cel(value)}
            holds = _cel_program(validation["rule"]).evaluate(activation)
        except CELEvalError:
            holds = False  # e.g. a required field is missing; the schema reports that too
        # A rule holds only if it gives a boolean true; errors may come back as values.
        if not (isinstance(holds, BoolType) and bool(holds)):
            found.append(f"{path}: {validation['message']}")

    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        for name, child in value.items():
            child_schema = properties.get(name, additional)
            if isinstance(child_schema, Mapping):
                found += cel_violations(child, child_schema, f"{path}.{name}")
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            found += cel_violations(item, schema["items"], f"{path}[{index}]")
    return found


def cel_rules(schema: Mapping[str, Any]) -> Iterator[str]:
    """Every CEL rule declared anywhere in a schema."""
    for validation in schema.get("x-kubernetes-validations", ()):
        yield validation["rule"]
    for child in schema.get("properties", {}).values():
        yield from cel_rules(child)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), Mapping):
            yield from cel_rules(schema[key])


# The CRDs --------------------------------------------------------------------------------


def _schemas_of(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    crd = yaml.safe_load(path.read_text())
    for version in crd["spec"]["versions"]:
        yield version["name"], version["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda path: path.name)
def test_every_crd_is_a_valid_custom_resource_definition(path: Path) -> None:
    crd = yaml.safe_load(path.read_text())
    kubernetes_validate.validate(crd, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda path: path.name)
def test_every_crd_schema_is_structural(path: Path) -> None:
    for version, schema in _schemas_of(path):
        problems = [p for p in structural_violations(schema) if "has no description" not in p]
        assert problems == [], f"{path.name} {version}"


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda path: path.name)
def test_every_crd_field_has_a_description(path: Path) -> None:
    for version, schema in _schemas_of(path):
        assert described_fields_missing(schema) == [], f"{path.name} {version}"


def test_the_structural_checker_finds_each_kind_of_violation() -> None:
    schema = {
        "type": "object",
        "description": "root",
        "properties": {
            "untyped": {"description": "no type"},
            "undescribed": {"type": "string"},
            "spec": {
                "type": "object",
                "description": "spec",
                "properties": {"a": {"type": "string", "description": "a"}},
                "oneOf": [
                    {"required": ["a"], "description": "described in a junctor"},
                    {"properties": {"a": {"type": "string"}}},
                    {"properties": {"elsewhere": {"enum": [1]}}},
                ],
                "additionalProperties": False,
            },
            "listy": {
                "type": "array", "description": "a list", "items": [{"type": "string"}],
                "uniqueItems": True,
            },
            "defaulted": {"type": "integer", "description": "d", "default": "zero"},
        },
    }

    problems = "\n".join(structural_violations(schema))

    assert "untyped: has no type" in problems
    assert "undescribed: has no description" in problems
    assert "oneOf[0]: sets description inside a junctor" in problems
    assert "oneOf[1].a: sets type inside a junctor" in problems
    assert "oneOf[2].elsewhere: appears in a junctor but not in the schema" in problems
    assert "spec: sets both properties and additionalProperties" in problems
    assert "listy: items must be one schema" in problems
    assert "listy: sets uniqueItems" in problems
    assert "defaulted: its default does not validate" in problems


def test_the_workerplugin_crd_names_and_columns_are_as_documented() -> None:
    crd = yaml.safe_load((ROOT / "crds/workerplugins.yaml").read_text())
    names = crd["spec"]["names"]
    (version,) = crd["spec"]["versions"]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}

    assert crd["metadata"]["name"] == "workerplugins.plugins.dask.org"
    assert crd["spec"]["scope"] == "Namespaced"
    assert (names["kind"], names["plural"], names["singular"]) == (
        "WorkerPlugin", "workerplugins", "workerplugin",
    )
    assert names["shortNames"] == ["wp"] and names["categories"] == ["dask"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    assert columns == {
        "Type": ".status.pluginType",
        "Source": ".status.source",
        "Matched": ".status.matched",
        "Registered": ".status.registered",
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Priority": ".spec.priority",
        "Age": ".metadata.creationTimestamp",
    }


def test_the_type_field_has_no_default_so_the_parser_can_tell_it_was_left_out() -> None:
    spec_schema = WORKERPLUGIN_SCHEMA["properties"]["spec"]
    assert "default" not in spec_schema["properties"]["type"]


# The examples ----------------------------------------------------------------------------


def _documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in EXAMPLE_FILES:
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if isinstance(document, dict) and document.get("kind"):
                name = f"{path.relative_to(ROOT / 'examples')}#{index}"
                yield name, document


KNOWN_DOCUMENTS = [
    pytest.param(document, id=name)
    for name, document in _documents()
    if (document.get("apiVersion"), document.get("kind")) in SCHEMAS
]


def test_the_examples_include_a_workerplugin_and_a_daskcluster() -> None:
    kinds = {param.values[0]["kind"] for param in KNOWN_DOCUMENTS}  # type: ignore[index]
    assert {"WorkerPlugin", "DaskCluster"} <= kinds


@pytest.mark.parametrize("document", KNOWN_DOCUMENTS)
def test_every_example_validates_against_its_crd(document: dict[str, Any]) -> None:
    schema = SCHEMAS[(document["apiVersion"], document["kind"])]
    assert schema_violations(document, schema) == []
    assert cel_violations(document, schema) == []


@pytest.mark.parametrize(
    "document", [p for p in KNOWN_DOCUMENTS if p.values[0]["kind"] == "WorkerPlugin"]  # type: ignore[index]
)
def test_every_example_workerplugin_parses(document: dict[str, Any]) -> None:
    assert isinstance(parse_spec(document["spec"]), PluginSpec)


def test_the_errorlogger_example_selects_its_daskcluster() -> None:
    folder = ROOT / "examples/errorlogger"
    plugin = yaml.safe_load((folder / "errorlogger-plugin.yaml").read_text())
    cluster = yaml.safe_load((folder / "daskcluster.yaml").read_text())

    spec = parse_spec(plugin["spec"])

    assert plugin["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    assert spec.selector.matches(cluster["metadata"]["labels"])
    assert spec.source.reference == "errorlogger.plugins:ErrorLogger"  # type: ignore[union-attr]


# The schema and the parser agree -----------------------------------------------------------

VALID_SPECS = [
    {"module": {"name": "a.b:C"}},
    {"type": "nanny", "module": {"name": "a:C", "args": [1, None, {"x": [True]}]}},
    {"type": "scheduler", "module": {"name": "a:C", "kwargs": {"x": {"y": None}}}},
    {"environ": {"OMP_NUM_THREADS": "1"}, "type": "nanny"},
    {"pipInstall": {"packages": ["scipy"], "options": ["--upgrade"], "restartWorkers": True}},
    {"pipInstall": {"packages": ["scipy"]}, "type": "scheduler", "priority": -3},
    {
        "module": {"name": "a:C"},
        "clusterSelector": {
            "matchLabels": {"app": "demo", "example.com/tier": ""},
            "matchExpressions": [
                {"key": "team", "operator": "In", "values": ["a", "b"]},
                {"key": "team", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists", "values": []},
            ],
        },
    },
    {"module": {"name": "a:C"}, "clusterSelector": {}},
]

INVALID_SPECS = [
    {},
    {"module": {"name": "a:C"}, "environ": {"A": "1"}},
    {"module": {"name": "a:C"}, "pipInstall": {"packages": ["x"]}},
    {"module": {"name": "foo"}},
    {"module": {"name": "a.b"}},
    {"module": {"name": "1a:C"}},
    {"module": {"name": "a:C"}, "bogus": 1},
    {"module": {"name": "a:C", "kwarg": {}}},
    {"module": {"args": []}},
    {"module": {"name": "a:C", "args": {"x": 1}}},
    {"module": {"name": "a:C", "kwargs": [1]}},
    {"module": {"name": "a:C"}, "type": "everywhere"},
    {"module": {"name": "a:C"}, "priority": "high"},
    {"module": {"name": "a:C"}, "priority": 2**40},
    {"environ": {"A": "1"}, "type": "worker"},
    {"environ": {"A": "1"}, "type": "scheduler"},
    {"environ": {"A": 1}},
    {"environ": {}},
    {"environ": "A=1"},
    {"pipInstall": {"packages": ["x"]}, "type": "worker"},
    {"pipInstall": {"packages": []}},
    {"pipInstall": {"packages": [""]}},
    {"pipInstall": {}},
    {"pipInstall": {"packages": ["x"], "restartWorkers": "yes"}},
    {"pipInstall": {"packages": ["x"], "options": [1]}},
    {"pipInstall": {"packages": ["x"], "upgrade": True}},
    {"module": {"name": "a:C"}, "clusterSelector": {"matchLabels": {"a": 1}}},
    {"module": {"name": "a:C"}, "clusterSelector": {"matchLabels": {"a": "-x-"}}},
    {"module": {"name": "a:C"}, "clusterSelector": {"matchLabel": {"a": "b"}}},
    {"module": {"name": "a:C"}, "clusterSelector": {"matchExpressions": [{"key": "a"}]}},
    {
        "module": {"name": "a:C"},
        "clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]},
    },
    {
        "module": {"name": "a:C"},
        "clusterSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]},
    },
    {
        "module": {"name": "a:C"},
        "clusterSelector": {
            "matchExpressions": [{"key": "a", "operator": "In", "values": []}]
        },
    },
    {
        "module": {"name": "a:C"},
        "clusterSelector": {
            "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
        },
    },
    {
        "module": {"name": "a:C"},
        "clusterSelector": {
            "matchExpressions": [{"key": "Bad_Prefix.com/a", "operator": "Exists"}]
        },
    },
    {
        "module": {"name": "a:C"},
        "clusterSelector": {
            "matchExpressions": [{"key": "a", "operator": "Exists", "value": "x"}]
        },
    },
]


@pytest.mark.parametrize("spec", VALID_SPECS)
def test_the_schema_and_the_parser_both_accept_valid_specs(spec: dict[str, Any]) -> None:
    assert not schema_rejects(copy.deepcopy(spec))
    assert isinstance(parse_spec(spec), PluginSpec)


@pytest.mark.parametrize("spec", INVALID_SPECS)
def test_the_schema_and_the_parser_both_reject_invalid_specs(spec: dict[str, Any]) -> None:
    assert schema_rejects(copy.deepcopy(spec))
    with pytest.raises(SpecError):
        parse_spec(spec)


# The CEL rules a real API server applies ------------------------------------------------


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda path: path.name)
def test_every_cel_rule_compiles(path: Path) -> None:
    for _, schema in _schemas_of(path):
        for rule in cel_rules(schema):
            _cel_program(rule)


@pytest.mark.parametrize("spec", VALID_SPECS)
def test_the_cel_rules_accept_valid_specs(spec: dict[str, Any]) -> None:
    assert cel_violations(workerplugin(spec), WORKERPLUGIN_SCHEMA) == []


CEL_INVALID = [
    ({}, "exactly one of spec.module, spec.pipInstall and spec.environ"),
    (
        {"module": {"name": "a:C"}, "environ": {"A": "1"}},
        "exactly one of spec.module, spec.pipInstall and spec.environ",
    ),
    ({"environ": {"A": "1"}, "type": "worker"}, "spec.type applies to module sources only"),
    ({"pipInstall": {"packages": ["x"]}, "type": "nanny"}, "remove spec.type"),
    (
        {
            "module": {"name": "a:C"},
            "clusterSelector": {"matchExpressions": [{"key": "a", "operator": "NotIn"}]},
        },
        "In and NotIn need a non-empty values list",
    ),
    (
        {
            "module": {"name": "a:C"},
            "clusterSelector": {
                "matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]
            },
        },
        "Exists and DoesNotExist take no values",
    ),
]


@pytest.mark.parametrize(("spec", "message"), CEL_INVALID)
def test_the_cel_rules_reject_what_the_plain_schema_and_the_parser_reject(
    spec: dict[str, Any], message: str
) -> None:
    violations = cel_violations(workerplugin(spec), WORKERPLUGIN_SCHEMA)

    assert any(message in violation for violation in violations), violations
    assert schema_rejects(spec)
    with pytest.raises(SpecError):
        parse_spec(spec)
