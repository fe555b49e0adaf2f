"""WorkerPlugins that are wrong: refused by the API server, or judged by the operator.

What the schema can state, the API server refuses with a message naming the field. What
only the operator can judge (label keys, selectors that cannot match, sizes) becomes an
Invalid condition and one Event per generation, with no retries and nothing else touched.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from e2e.harness import (
    Kube,
    OperatorProcess,
    condition,
    dask_cluster,
    eventually,
    is_ready,
    worker_plugin,
)

from .conftest import StartDask
from .observe import events_about, lines, wait_for_periodic_checks, wait_for_reason, wait_for_state

pytestmark = pytest.mark.timeout(150)

MODULE = {"name": "dpo_test_plugins:WorkerRecorder", "kwargs": {"tag": "t"}}


def recorder(tag: str, **more: Any) -> dict[str, Any]:
    return {"module": {"name": "dpo_test_plugins:WorkerRecorder", "kwargs": {"tag": tag}},
            **more}


# A spec the schema refuses, and the words the refusal must contain.
SCHEMA_VIOLATIONS = {
    "an unknown type": ({"type": "gpu", "module": MODULE}, ["spec.type", '"gpu"']),
    "a priority that is no integer": (
        {"priority": "high", "module": MODULE}, ["spec.priority", "integer"]),
    "a class reference without a colon": (
        {"module": {"name": "errorlogger.plugins.ErrorLogger"}}, ["spec.module.name"]),
    "a label value with spaces": (
        {"module": MODULE, "clusterSelector": {"matchLabels": {"team": "data science"}}},
        ["spec.clusterSelector.matchLabels.team"]),
    "an unknown selector operator": (
        {"module": MODULE, "clusterSelector": {
            "matchExpressions": [{"key": "team", "operator": "Is", "values": ["a"]}]}},
        ["spec.clusterSelector.matchExpressions[0].operator", '"Is"']),
    "no package to install": ({"pipInstall": {"packages": []}}, ["spec.pipInstall.packages"]),
    "a misspelt field": ({"module": MODULE, "prority": 1}, ['unknown field "spec.prority"']),
    "two sources": ({"module": MODULE, "environ": {"A": "1"}}, ["spec", "one and only one"]),
}


@pytest.mark.parametrize("case", list(SCHEMA_VIOLATIONS))
def test_the_api_server_refuses_a_schema_violation_naming_the_field(
    kube: Kube, namespace: str, case: str
) -> None:
    spec, words = SCHEMA_VIOLATIONS[case]
    document = yaml.safe_dump(worker_plugin("wrong", namespace, spec))

    output = kube.kubectl("apply", "-f", "-", stdin=document, check=False)

    assert "is invalid" in output or "strict decoding error" in output, output
    for word in words:
        assert word in output, output
    assert kube.plugin(namespace, "wrong") is None


# Specs that pass the schema but that the operator cannot use, and what the message says.
OPERATOR_JUDGED = {
    "c-contradiction": (
        recorder("c", clusterSelector={
            "matchLabels": {"team": "a"},
            "matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}),
        "spec.clusterSelector: no DaskCluster can match"),
    "d-label-key": (
        recorder("d", clusterSelector={"matchLabels": {"team name": "a"}}),
        "'team name' is not a label key"),
    "e-too-large": (
        recorder("e", clusterSelector={}) | {"module": {
            "name": "dpo_test_plugins:WorkerRecorder",
            "kwargs": {"tag": "e", "ballast": "x" * 300_000}}},
        "spec.module: holds 293 KiB of data; at most 256 KiB"),
    "f-variable": ({"environ": {"1ST": "a"}}, "'1ST' is not a variable name"),
}


@pytest.mark.e2e
def test_a_spec_only_the_operator_can_judge_is_invalid_once_per_generation(
    kube: Kube, namespace: str, operator: OperatorProcess, start_dask: StartDask
) -> None:
    dask = start_dask(workers=1)
    kube.apply(dask_cluster("prod", namespace, dask.address, {"team": "a"}))
    kube.apply(worker_plugin("a-valid", namespace, recorder("valid")),
               worker_plugin("b-broken-later", namespace, recorder("first")))
    for name in ("a-valid", "b-broken-later"):
        eventually(f"{name} is ready", lambda n=name: is_ready(kube.plugin(namespace, n)))

    kube.apply(*(worker_plugin(name, namespace, spec)
                 for name, (spec, _) in OPERATOR_JUDGED.items()))
    kube.apply(worker_plugin("b-broken-later", namespace, OPERATOR_JUDGED["d-label-key"][0]))

    for name, (_, text) in OPERATOR_JUDGED.items():
        plugin = wait_for_reason(kube, namespace, name, "Invalid")
        invalid = condition(plugin, "Invalid")
        assert invalid["status"] == "True" and text in invalid["message"], invalid
        assert plugin["status"]["observedGeneration"] == plugin["metadata"]["generation"]
    broken = wait_for_reason(kube, namespace, "b-broken-later", "Invalid")
    assert broken["metadata"]["generation"] == 2

    # One warning and one Event per generation, however long nothing changes.
    wait_for_periodic_checks(operator, 3)
    for name, (_, text) in [*OPERATOR_JUDGED.items(), ("b-broken-later", ("", "team name"))]:
        warnings = lines(operator.log(), rf"WARNING.*Plugin {namespace}/{name} \(generation")
        assert len(warnings) == 1 and text in warnings[0], warnings
        (event,) = events_about(kube, namespace, name, "Invalid")
        assert text in event and "fix the spec" in event

    # Nothing else was disturbed: the old version of the broken plugin stays registered.
    worker = dask.workers[0]
    assert worker.count(r"WorkerRecorder valid setup on") == 1
    assert worker.count(r"WorkerRecorder first setup on") == 1
    assert worker.count(r"teardown on") == 0
    assert not any(tag in worker.log() for tag in ("Recorder c ", "Recorder d ", "Recorder e "))

    # A fixed spec is a new generation, used at once.
    kube.apply(worker_plugin("b-broken-later", namespace, recorder("fixed")))
    eventually("the fixed plugin is ready",
               lambda: is_ready(kube.plugin(namespace, "b-broken-later"), registered=1))
    worker.wait_for_log(r"WorkerRecorder fixed setup on", timeout=10)
    assert worker.count(r"WorkerRecorder first teardown on") == 1
    assert worker.count(r"WorkerRecorder valid setup on") == 1


# Scheduler addresses an annotation can give that the operator cannot use.
UNUSABLE_ADDRESSES = {
    "tls": ("tls://127.0.0.1:8786", "tls:// is not supported yet"),
    "dashboard-url": ("http://127.0.0.1:8787", "the scheme is http://"),
    "no-port": ("scheduler.example.org", "'scheduler.example.org' is not host:port"),
}


@pytest.mark.e2e
def test_a_scheduler_address_the_operator_cannot_use_names_the_annotation_to_fix(
    kube: Kube, namespace: str, operator: OperatorProcess
) -> None:
    kube.apply(*(dask_cluster(name, namespace, address, {})
                 for name, (address, _) in UNUSABLE_ADDRESSES.items()))
    kube.apply(worker_plugin("recorder", namespace, recorder("r")))

    for name, (_, words) in UNUSABLE_ADDRESSES.items():
        entry = wait_for_state(kube, namespace, "recorder", name, "Error", timeout=20)
        assert words in entry["message"], entry
        assert "plugins.dask.org/scheduler-address" in entry["message"], entry
    assert not is_ready(kube.plugin(namespace, "recorder"))
