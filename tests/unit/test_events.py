"""Reports about clusters become one Event per plugin and reason, naming the clusters."""

from __future__ import annotations

from dask_plugin_operator.events import MESSAGE_LIMIT, PendingEvents, Report, group_message
from dask_plugin_operator.inventory import PluginEntry

LOGGER = PluginEntry("analytics", "errorlogger", "uid-1", 1, None, None)
TRACER = PluginEntry("analytics", "tracer", "uid-2", 1, None, None)


def pending(*reports: Report) -> list[list[Report]]:
    """Every group that waits after ``reports``, oldest first."""
    waiting = PendingEvents()
    for each in reports:
        waiting.add(each)
    return [waiting.pop() for _ in range(len(waiting))]


def report(cluster: str, message: str = "Registered (new) on 2 workers.",
           reason: str = "Registered", plugin: PluginEntry = LOGGER) -> Report:
    return Report(plugin, "Normal", reason, message, cluster=cluster)


def test_reports_are_grouped_by_plugin_and_reason_in_order_of_arrival() -> None:
    reports = [report("a"), report("b", reason="SetupFailed"), report("c"),
               report("a", plugin=TRACER)]

    groups = pending(*reports)

    assert [[r.cluster for r in group] for group in groups] == [["a", "c"], ["b"], ["a"]]
    assert [group[0].plugin.name for group in groups] == ["errorlogger", "errorlogger",
                                                           "tracer"]


def test_a_cluster_reported_twice_counts_once_with_its_latest_report() -> None:
    (group,) = pending(report("a", "first"), report("b"), report("a", "second"))

    assert [(r.cluster, r.message) for r in group] == [("b", report("b").message),
                                                        ("a", "second")]


def test_one_cluster_is_named_before_its_message() -> None:
    assert group_message([report("prod")]) == "Cluster prod: Registered (new) on 2 workers."


def test_clusters_with_the_same_message_share_it() -> None:
    message = group_message([report("a"), report("b"), report("c")])

    assert message == "Clusters a, b and c: Registered (new) on 2 workers."


def test_clusters_with_different_messages_each_get_their_own() -> None:
    message = group_message([report("a", "Setup failed on 1 of 2 workers."),
                             report("b", "Setup failed on 2 of 2 workers.")])

    assert message == ("Cluster a: Setup failed on 1 of 2 workers.; "
                       "Cluster b: Setup failed on 2 of 2 workers.")


def test_a_group_too_long_for_one_event_counts_the_clusters_left_out() -> None:
    different = [report(f"dask-{n:03d}", f"The scheduler tcp://10.0.0.{n}:8786 does not "
                        "answer.") for n in range(50)]
    same = [report(f"dask-{n:03d}") for n in range(200)]

    for reports in (different, same):
        message = group_message(reports)
        assert len(message) <= MESSAGE_LIMIT
        shown = sum(1 for n in range(len(reports)) if f"dask-{n:03d}" in message)
        assert 1 < shown < len(reports)
        assert f"{len(reports) - shown} more" in message
