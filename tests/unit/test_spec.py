"""Parsing WorkerPlugin specs: every valid shape, and a message naming the field for the rest."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dask_plugin_operator.selection import LabelSelector
from dask_plugin_operator.spec import (
    MAX_DATA_BYTES,
    MAX_NESTING,
    EnvironSource,
    ModuleSource,
    PipInstallSource,
    PluginSpec,
    SpecError,
    parse_spec,
    plugin_name,
)

MODULE = {"name": "errorlogger.plugins:ErrorLogger"}


def with_module(**fields: Any) -> dict[str, Any]:
    return {"module": dict(MODULE), **fields}


def reject(spec: Any) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    return caught.value


# Valid shapes ---------------------------------------------------------------------------


def test_a_module_plugin_defaults_to_a_worker_plugin_on_every_cluster() -> None:
    parsed = parse_spec({"module": {"name": "errorlogger.plugins:ErrorLogger"}})

    assert parsed == PluginSpec(
        kind="worker",
        selector=LabelSelector(),
        priority=0,
        source=ModuleSource(module="errorlogger.plugins", class_name="ErrorLogger"),
    )
    assert parsed.source_summary == "errorlogger.plugins:ErrorLogger"


@pytest.mark.parametrize("kind", ["worker", "nanny", "scheduler"])
def test_a_module_plugin_runs_where_its_type_says(kind: str) -> None:
    assert parse_spec(with_module(type=kind)).kind == kind


def test_module_arguments_are_kept_as_plain_json_data() -> None:
    args = [1, 2.5, "x", None, True, [1, [2]], {"nested": {"deep": []}}]
    kwargs = {"logger": "distributed.worker.errors", "levels": {"a": 1}, "none": None}

    source = parse_spec({"module": {"name": "a.b.c:D", "args": args, "kwargs": kwargs}}).source

    assert source == ModuleSource("a.b.c", "D", args=tuple(args), kwargs=kwargs)


def test_the_parsed_arguments_do_not_share_state_with_the_resource_body() -> None:
    body = {"module": {"name": "a:B", "args": [[1]], "kwargs": {"k": {"v": 1}}}}

    source = parse_spec(body).source
    body["module"]["args"][0].append(2)  # type: ignore[index]
    body["module"]["kwargs"]["k"]["v"] = 2  # type: ignore[index]

    assert isinstance(source, ModuleSource)
    assert source.args == ([1],) and source.kwargs == {"k": {"v": 1}}


def test_pip_install_is_a_scheduler_plugin_with_its_options() -> None:
    parsed = parse_spec(
        {"pipInstall": {"packages": ["scipy==1.14.1", "rich"], "options": ["--upgrade"],
                        "restartWorkers": True}}
    )

    assert parsed.kind == "scheduler"
    assert parsed.source == PipInstallSource(
        packages=("scipy==1.14.1", "rich"), options=("--upgrade",), restart_workers=True
    )
    assert parsed.source_summary == "pipInstall: scipy==1.14.1 rich"


def test_pip_install_does_not_restart_workers_unless_asked() -> None:
    source = parse_spec({"pipInstall": {"packages": ["rich"]}}).source

    assert source == PipInstallSource(packages=("rich",))


def test_environ_is_a_nanny_plugin() -> None:
    parsed = parse_spec({"environ": {"OMP_NUM_THREADS": "1", "_X": ""}})

    assert parsed.kind == "nanny"
    assert parsed.source == EnvironSource({"OMP_NUM_THREADS": "1", "_X": ""})
    assert parsed.source_summary == "environ: OMP_NUM_THREADS,_X"


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ({"environ": {"A": "1"}, "type": "nanny"}, "nanny"),
        ({"pipInstall": {"packages": ["x"]}, "type": "scheduler"}, "scheduler"),
    ],
)
def test_a_type_that_agrees_with_a_builtin_source_is_accepted(
    spec: dict[str, Any], kind: str
) -> None:
    assert parse_spec(spec).kind == kind


def test_priority_and_selector_are_parsed() -> None:
    parsed = parse_spec(
        with_module(priority=-5, clusterSelector={"matchLabels": {"team": "analytics"}})
    )

    assert parsed.priority == -5
    assert parsed.selector.matches({"team": "analytics"})
    assert not parsed.selector.matches({"team": "data"})


def test_null_fields_count_as_absent_as_kubernetes_drops_them() -> None:
    parsed = parse_spec(
        {"module": {"name": "a:B", "args": None, "kwargs": None}, "type": None,
         "priority": None, "clusterSelector": None, "environ": None, "pipInstall": None}
    )

    assert parsed == PluginSpec("worker", LabelSelector(), 0, ModuleSource("a", "B"))


def test_parsing_does_not_change_its_input() -> None:
    spec = with_module(
        clusterSelector={"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]},
        priority=3,
    )
    before = copy.deepcopy(spec)

    parse_spec(spec)

    assert spec == before


def test_data_just_under_the_limit_is_accepted() -> None:
    # {"args":["..."],"kwargs":{}} is 25 bytes around the text.
    text = "x" * (MAX_DATA_BYTES - 25)
    assert parse_spec({"module": {"name": "a:B", "args": [text]}}).source.args == (text,)  # type: ignore[union-attr]


def test_arguments_nested_to_the_limit_are_accepted() -> None:
    nested: Any = "leaf"
    for _ in range(MAX_NESTING - 1):
        nested = {"k": nested}

    source = parse_spec({"module": {"name": "a:B", "kwargs": {"k": nested}}}).source

    assert isinstance(source, ModuleSource) and source.kwargs == {"k": nested}


def test_the_scheduler_plugin_name_is_prefixed_by_the_operator() -> None:
    assert plugin_name("analytics", "errorlogger") == "dask-plugin-operator/analytics/errorlogger"


# Invalid specs: each rejected with its path and a message saying what to do ----------------

DEEP: Any = "leaf"
for _ in range(MAX_NESTING + 1):
    DEEP = [DEEP]

INVALID: list[tuple[str, Any, str]] = [
    # The whole spec
    ("", [], "spec must be an object, not a list"),
    ("", None, "spec must be an object, not null"),
    ("", {}, "set exactly one of spec.module, spec.pipInstall, spec.environ"),
    ("", {"module": MODULE, "environ": {"A": "1"}}, "sets module and environ"),
    (
        "",
        {"module": MODULE, "environ": {"A": "1"}, "pipInstall": {"packages": ["x"]}},
        "sets module and pipInstall and environ",
    ),
    ("bogus", with_module(bogus=1), "not a WorkerPlugin spec field"),
    ("Module", {"Module": MODULE}, "not a WorkerPlugin spec field"),
    ("1", {**with_module(), 1: "x"}, "not a WorkerPlugin spec field"),
    # type
    ("type", with_module(type="Worker"), "use worker, nanny or scheduler"),
    ("type", with_module(type=["worker"]), "use worker, nanny or scheduler"),
    ("type", {"environ": {"A": "1"}, "type": "worker"}, "environ plugins always run in the nanny"),
    ("type", {"environ": {"A": "1"}, "type": "scheduler"}, "remove spec.type"),
    (
        "type",
        {"pipInstall": {"packages": ["x"]}, "type": "nanny"},
        "pipInstall plugins are always registered on the scheduler",
    ),
    # priority
    ("priority", with_module(priority="1"), "must be an integer, not a string"),
    ("priority", with_module(priority=1.5), "must be an integer, not a number"),
    ("priority", with_module(priority=True), "must be an integer, not a boolean"),
    ("priority", with_module(priority=2**31), "out of range"),
    # clusterSelector
    ("clusterSelector", with_module(clusterSelector=[]), "must be an object"),
    (
        "clusterSelector",
        with_module(clusterSelector={
            "matchLabels": {"team": "a"},
            "matchExpressions": [{"key": "team", "operator": "DoesNotExist"}],
        }),
        "no DaskCluster can match",
    ),
    (
        "clusterSelector.matchExpressions[0].values",
        with_module(clusterSelector={
            "matchExpressions": [{"key": "team", "operator": "In", "values": []}]
        }),
        "at least one value",
    ),
    # module
    ("module", {"module": "a:B"}, "must be an object"),
    ("module.name", {"module": {}}, "is required"),
    ("module.name", {"module": {"name": 3}}, "must be a string"),
    (
        "module.name",
        {"module": {"name": "foo"}},
        "'foo' is not of the form package.module:ClassName; "
        "write e.g. errorlogger.plugins:ErrorLogger",
    ),
    ("module.name", {"module": {"name": "a.b.C"}}, "package.module:ClassName"),
    ("module.name", {"module": {"name": "a-b:C"}}, "package.module:ClassName"),
    ("module.name", {"module": {"name": "a:b.C"}}, "package.module:ClassName"),
    ("module.name", {"module": {"name": "a:B "}}, "package.module:ClassName"),
    ("module.name", {"module": {"name": "a" * 600 + ":B"}}, "package.module:ClassName"),
    ("module.kwarg", {"module": {**MODULE, "kwarg": {}}}, "not a module field"),
    ("module.args", {"module": {**MODULE, "args": "x"}}, "must be a list"),
    ("module.kwargs", {"module": {**MODULE, "kwargs": [1]}}, "must be an object"),
    ("module.args[0]", {"module": {**MODULE, "args": [float("nan")]}}, "JSON cannot"),
    ("module.args[1]", {"module": {**MODULE, "args": [1, float("inf")]}}, "JSON cannot"),
    ("module.args[0]", {"module": {**MODULE, "args": [{1, 2}]}}, "a JSON value"),
    ("module.kwargs.a", {"module": {**MODULE, "kwargs": {"a": {1: "x"}}}}, "keys must be"),
    ("module.args[0]" + "[0]" * MAX_NESTING, {"module": {**MODULE, "args": [DEEP]}}, "deeper"),
    (
        "module",
        {"module": {**MODULE, "kwargs": {"blob": "x" * MAX_DATA_BYTES}}},
        "at most 256 KiB",
    ),
    # pipInstall
    ("pipInstall", {"pipInstall": ["x"]}, "must be an object"),
    ("pipInstall.packages", {"pipInstall": {}}, "at least one package"),
    ("pipInstall.packages", {"pipInstall": {"packages": []}}, "at least one package"),
    ("pipInstall.packages", {"pipInstall": {"packages": "scipy"}}, "must be a list"),
    ("pipInstall.packages[0]", {"pipInstall": {"packages": [""]}}, "is empty"),
    ("pipInstall.packages[0]", {"pipInstall": {"packages": [1]}}, "must be a string"),
    ("pipInstall.packages[1]", {"pipInstall": {"packages": ["a", "-U"]}}, "options"),
    ("pipInstall.packages[0]", {"pipInstall": {"packages": ["a\x00"]}}, "NUL"),
    ("pipInstall.packages[0]", {"pipInstall": {"packages": ["a" * 2000]}}, "at most 1024"),
    ("pipInstall.packages", {"pipInstall": {"packages": ["a"] * 257}}, "at most 256"),
    ("pipInstall.options[0]", {"pipInstall": {"packages": ["a"], "options": [1]}}, "string"),
    ("pipInstall.options", {"pipInstall": {"packages": ["a"], "options": "-U"}}, "a list"),
    (
        "pipInstall.restartWorkers",
        {"pipInstall": {"packages": ["a"], "restartWorkers": "true"}},
        "must be true or false, not a string",
    ),
    ("pipInstall.upgrade", {"pipInstall": {"packages": ["a"], "upgrade": 1}}, "not a pipInstall"),
    # environ
    ("environ", {"environ": ["A=1"]}, "must be an object"),
    ("environ", {"environ": {}}, "sets no variable"),
    ("environ.A", {"environ": {"A": 1}}, "quote numbers and booleans"),
    ("environ.A", {"environ": {"A": None}}, "must be a string"),
    ("environ.A", {"environ": {"A": "a\x00b"}}, "NUL"),
    ("environ", {"environ": {"1A": "x"}}, "'1A' is not a variable name"),
    ("environ", {"environ": {"A=B": "x"}}, "not a variable name"),
    ("environ", {"environ": {"": "x"}}, "not a variable name"),
    ("environ", {"environ": {"A": "x" * MAX_DATA_BYTES}}, "at most 256 KiB"),
    ("environ", {"environ": {f"V{i}": "x" for i in range(1025)}}, "at most 1024"),
]


def test_hostile_nesting_is_rejected_without_exhausting_the_stack() -> None:
    nested: Any = []
    for _ in range(100_000):
        nested = [nested]

    error = reject({"module": {"name": "a:B", "args": nested}})

    assert "nests deeper than" in str(error)


@pytest.mark.parametrize(("path", "spec", "message"), INVALID)
def test_an_invalid_spec_is_rejected_with_a_message_naming_the_field(
    path: str, spec: Any, message: str
) -> None:
    error = reject(spec)

    assert error.path == path
    assert message in str(error)
    if path:
        assert str(error).startswith(f"spec.{path}: ")
