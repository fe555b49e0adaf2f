"""Composing a WorkerPlugin's status from what happened on each matching cluster."""

from __future__ import annotations

from typing import Any

import pytest

from dask_plugin_operator.errors import SpecError
from dask_plugin_operator.inventory import PluginEntry
from dask_plugin_operator.spec import parse_spec
from dask_plugin_operator.status import ClusterOutcome, ClusterState, compose_status

EARLIER = "2026-01-01T00:00:00Z"
NOW = "2026-01-01T00:05:00Z"
SPEC = {"module": {"name": "errorlogger.plugins:ErrorLogger"}}


def plugin(generation: int = 2) -> PluginEntry:
    return PluginEntry("analytics", "errorlogger", "uid-1", generation, parse_spec(SPEC), None)


def invalid_plugin(generation: int = 3) -> PluginEntry:
    error = SpecError("type", "'gpu' is not a plugin type; use worker, nanny or scheduler")
    return PluginEntry("analytics", "errorlogger", "uid-1", generation, None, error)


def outcome(
    cluster: str, state: ClusterState = "Registered", generation: int = 2, **more: Any
) -> ClusterOutcome:
    return ClusterOutcome(cluster, state, generation, f"{cluster} is {state}.", **more)


def compose(
    entry: PluginEntry,
    outcomes: list[ClusterOutcome],
    matched: list[str] | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    names = matched if matched is not None else [o.cluster for o in outcomes]
    return compose_status(entry, names, {o.cluster: o for o in outcomes}, previous or {}, NOW)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    (found,) = [c for c in status["conditions"] if c["type"] == type_]
    return dict(found)


def test_a_plugin_registered_everywhere_is_ready() -> None:
    status = compose(plugin(), [outcome("prod"), outcome("dev")])

    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Registered")
    assert ready["message"] == "Registered on 2 of 2 matching clusters."
    assert (status["matched"], status["registered"], status["failed"]) == (2, 2, 0)
    assert condition(status, "Invalid")["status"] == "False"


def test_a_plugin_that_matches_no_cluster_is_not_ready_and_says_why() -> None:
    status = compose(plugin(), [])

    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NoMatchingClusters")
    assert "namespace analytics" in ready["message"]
    assert (status["matched"], status["clusters"]) == (0, [])


@pytest.mark.parametrize(
    ("state", "reason", "words"),
    [
        ("Failed", "SetupFailed", "failed"),
        ("Error", "RegistrationFailed", "refused"),
        ("NotApplied", "NotApplied", "not applied"),
        ("Unreachable", "SchedulerUnreachable", "unreachable"),
        ("Pending", "Pending", "pending"),
    ],
)
def test_each_troubled_cluster_state_gives_its_own_ready_reason(
    state: ClusterState, reason: str, words: str
) -> None:
    status = compose(plugin(), [outcome("a-ok"), outcome("b-bad", state)])

    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", reason)
    assert ready["message"] == (
        f"Registered on 1 of 2 matching clusters; 1 {words}, first b-bad: b-bad is {state}."
    )


def test_the_most_serious_problem_is_the_reason_when_clusters_differ() -> None:
    outcomes = [
        outcome("a", "Pending"), outcome("b", "Unreachable"), outcome("c", "NotApplied"),
        outcome("d", "Error"), outcome("e", "Failed"), outcome("f", "Failed"),
    ]

    ready = condition(compose(plugin(), outcomes), "Ready")

    assert ready["reason"] == "SetupFailed"
    assert "2 failed, first e:" in ready["message"]


def test_failed_counts_setup_failures_and_refused_registrations() -> None:
    outcomes = [outcome("a", "Failed"), outcome("b", "Error"), outcome("c", "Unreachable")]

    status = compose(plugin(), outcomes)

    assert (status["matched"], status["registered"], status["failed"]) == (3, 0, 2)


def test_a_matched_cluster_without_an_outcome_is_pending() -> None:
    status = compose(plugin(), [outcome("prod")], matched=["prod", "dev"])

    assert status["clusters"][0] == {
        "name": "dev", "state": "Pending",
        "message": "Waiting for the operator to reach the scheduler.",
    }
    assert condition(status, "Ready")["reason"] == "Pending"


def test_clusters_are_listed_by_name_and_only_while_they_match() -> None:
    outcomes = [outcome("zeta"), outcome("alpha"), outcome("left-behind")]

    status = compose(plugin(), outcomes, matched=["zeta", "alpha"])

    assert [entry["name"] for entry in status["clusters"]] == ["alpha", "zeta"]
    assert status["matched"] == 2


def test_an_invalid_spec_sets_both_conditions_and_omits_type_and_source() -> None:
    status = compose(invalid_plugin(), [outcome("prod", generation=2)])

    ready, invalid = condition(status, "Ready"), condition(status, "Invalid")
    assert (ready["status"], ready["reason"]) == ("False", "Invalid")
    assert (invalid["status"], invalid["reason"]) == ("True", "SpecInvalid")
    assert "spec.type: 'gpu' is not a plugin type" in invalid["message"]
    assert invalid["message"] == ready["message"]
    assert "pluginType" not in status and "source" not in status


def test_a_valid_spec_reports_its_type_and_source() -> None:
    status = compose(plugin(), [])

    assert status["pluginType"] == "worker"
    assert status["source"] == "errorlogger.plugins:ErrorLogger"
    invalid = condition(status, "Invalid")
    assert (invalid["status"], invalid["reason"]) == ("False", "SpecValid")


def test_a_generation_is_observed_once_every_cluster_was_worked_on_for_it() -> None:
    done = compose(plugin(generation=4), [outcome("a", generation=4), outcome("b", generation=4)])
    behind = compose(plugin(generation=4), [outcome("a", generation=4), outcome("b", generation=3)])

    assert done["observedGeneration"] == 4
    assert behind["observedGeneration"] == 3
    assert condition(behind, "Ready")["observedGeneration"] == 3


def test_a_cluster_nobody_worked_on_holds_observed_generation_back() -> None:
    status = compose(plugin(generation=4), [outcome("a", generation=4)], matched=["a", "b"])

    assert status["observedGeneration"] == 0


def test_a_plugin_matching_no_cluster_has_observed_its_generation() -> None:
    assert compose(plugin(generation=5), [])["observedGeneration"] == 5


def test_an_invalid_spec_is_observed_at_once_whatever_the_clusters_say() -> None:
    status = compose(invalid_plugin(generation=7), [outcome("prod", generation=2)])

    assert status["observedGeneration"] == 7


def test_an_outcome_ahead_of_the_plugin_does_not_raise_observed_generation() -> None:
    status = compose(plugin(generation=2), [outcome("a", generation=3)])

    assert status["observedGeneration"] == 2


def test_transition_times_are_kept_while_condition_statuses_stay_the_same() -> None:
    first = compose(plugin(), [outcome("a", "Pending")])
    first["conditions"] = [c | {"lastTransitionTime": EARLIER} for c in first["conditions"]]

    # Still not ready, for another reason: the status of Ready did not change.
    again = compose(plugin(), [outcome("a", "Failed")], previous=first)

    assert condition(again, "Ready")["reason"] == "SetupFailed"
    assert condition(again, "Ready")["lastTransitionTime"] == EARLIER
    assert condition(again, "Invalid")["lastTransitionTime"] == EARLIER


def test_transition_time_moves_when_a_condition_status_changes() -> None:
    first = compose(plugin(), [outcome("a", "Pending")])
    first["conditions"] = [c | {"lastTransitionTime": EARLIER} for c in first["conditions"]]

    later = compose(plugin(), [outcome("a")], previous=first)

    assert condition(later, "Ready")["lastTransitionTime"] == NOW
    assert condition(later, "Invalid")["lastTransitionTime"] == EARLIER


def test_composing_the_same_facts_twice_gives_the_same_status() -> None:
    facts = [outcome("a"), outcome("b", "Failed", workers_failed=1, first_error="boom")]
    first = compose(plugin(), facts)

    second = compose_status(
        plugin(), ["a", "b"], {o.cluster: o for o in facts}, first, "2026-02-02T00:00:00Z"
    )

    assert second == first


def test_conditions_without_a_previous_status_start_now() -> None:
    status = compose(plugin(), [outcome("a")])

    assert {c["lastTransitionTime"] for c in status["conditions"]} == {NOW}


def test_a_cluster_entry_omits_what_is_unknown() -> None:
    status = compose(plugin(), [outcome("a", "Unreachable")])

    assert status["clusters"] == [
        {"name": "a", "state": "Unreachable", "message": "a is Unreachable."}
    ]


def test_a_cluster_entry_carries_everything_known_under_kubernetes_names() -> None:
    full = outcome(
        "a", "Failed", address="tcp://10.0.0.1:8786", scheduler_id="Scheduler-1",
        workers_ok=0, workers_failed=2, first_error="ImportError: no errorlogger",
        last_registered=EARLIER,
    )

    (entry,) = compose(plugin(), [full])["clusters"]

    assert entry == {
        "name": "a", "state": "Failed", "message": "a is Failed.",
        "schedulerAddress": "tcp://10.0.0.1:8786", "schedulerId": "Scheduler-1",
        "workersOk": 0, "workersFailed": 2, "firstError": "ImportError: no errorlogger",
        "lastRegistered": EARLIER,
    }


def test_an_invalid_spec_keeps_reporting_the_clusters_an_earlier_generation_is_on() -> None:
    before = compose(plugin(), [outcome("prod")])

    status = compose(invalid_plugin(), [], matched=[], previous=before)

    assert status["clusters"] == before["clusters"]
    assert (status["matched"], status["registered"]) == (1, 1)
    assert status["source"] == "errorlogger.plugins:ErrorLogger"
    assert "stays in place until the spec is fixed" in condition(status, "Ready")["message"]


def test_a_plugin_being_deleted_is_not_ready_and_says_so() -> None:
    entry = plugin()
    entry.deleting = True

    ready = condition(compose(entry, [outcome("prod")]), "Ready")

    assert (ready["status"], ready["reason"]) == ("False", "Deleting")


def test_the_plugin_type_is_the_kind_the_plugin_is_registered_as() -> None:
    spec = parse_spec({"pipInstall": {"packages": ["toolz"]}})
    entry = PluginEntry("analytics", "pip", "uid-2", 1, spec, None, kind="worker")

    assert compose(entry, [outcome("prod", generation=1)])["pluginType"] == "worker"
