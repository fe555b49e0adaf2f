"""Planning what to do on one scheduler, from the plugins it should hold and its records."""

from __future__ import annotations

from dask_plugin_operator.plan import Plan, Register, Unregister, Wanted, plan_scheduler
from dask_plugin_operator.scheduler import PluginRecord
from dask_plugin_operator.spec import PluginKind


def wanted(name: str, kind: PluginKind = "worker", content: str = "v1") -> Wanted:
    return Wanted(name=name, kind=kind, content_hash=content, generation=1)


def record(
    name: str, seq: int, kind: PluginKind = "worker", content: str = "v1"
) -> PluginRecord:
    return PluginRecord(
        name=name, kind=kind, content_hash=content, generation=1, seq=seq,
        registered_at="2026-01-01T00:00:00Z",
    )


def records(*entries: PluginRecord) -> dict[str, PluginRecord]:
    return {entry.name: entry for entry in entries}


def test_an_empty_scheduler_gets_every_wanted_plugin_in_the_given_order() -> None:
    plan = plan_scheduler([wanted("a"), wanted("b")], (), {})

    assert plan.steps == (Register(wanted("a"), "new"), Register(wanted("b"), "new"))
    assert plan.in_place == ()
    assert not plan.is_empty


def test_a_scheduler_holding_everything_in_order_needs_nothing() -> None:
    plan = plan_scheduler([wanted("a"), wanted("b")], (), records(record("a", 1), record("b", 2)))

    assert plan.is_empty
    assert plan.in_place == (wanted("a"), wanted("b"))


def test_sequence_numbers_need_only_increase_not_be_consecutive() -> None:
    plan = plan_scheduler([wanted("a"), wanted("b")], (), records(record("a", 3), record("b", 9)))

    assert plan.is_empty


def test_a_plugin_whose_content_changed_is_replaced_in_place() -> None:
    held = records(record("a", 1), record("b", 2, content="old"), record("c", 3))

    plan = plan_scheduler([wanted("a"), wanted("b"), wanted("c")], (), held)

    assert plan.steps == (Register(wanted("b"), "changed"),)
    assert plan.in_place == (wanted("a"), wanted("c"))


def test_a_new_plugin_that_sorts_last_is_appended_without_moving_the_others() -> None:
    plan = plan_scheduler([wanted("a"), wanted("b")], (), records(record("a", 1)))

    assert plan.steps == (Register(wanted("b"), "new"),)
    assert plan.in_place == (wanted("a"),)


def test_a_new_plugin_that_sorts_earlier_moves_every_later_plugin_behind_it() -> None:
    held = records(record("a", 1), record("c", 2), record("d", 3))

    plan = plan_scheduler([wanted("a"), wanted("b"), wanted("c"), wanted("d")], (), held)

    assert plan.steps == (
        Register(wanted("b"), "new"),
        Unregister("c", "worker"), Register(wanted("c"), "reordered"),
        Unregister("d", "worker"), Register(wanted("d"), "reordered"),
    )
    assert plan.in_place == (wanted("a"),)


def test_a_plugin_registered_out_of_order_is_moved_to_its_place() -> None:
    # c was registered before b, but sorts after it: c moves behind b.
    held = records(record("a", 1), record("c", 2), record("b", 3))

    plan = plan_scheduler([wanted("a"), wanted("b"), wanted("c")], (), held)

    assert plan.steps == (Unregister("c", "worker"), Register(wanted("c"), "reordered"))
    assert plan.in_place == (wanted("a"), wanted("b"))


def test_a_plugin_moved_for_order_is_registered_with_its_new_content() -> None:
    held = records(record("b", 1, content="old"), record("a", 2, content="old"))

    plan = plan_scheduler([wanted("a"), wanted("b")], (), held)

    assert plan.steps == (
        Register(wanted("a"), "changed"),
        Unregister("b", "worker"), Register(wanted("b"), "reordered"),
    )
    assert plan.in_place == ()


def test_a_plugin_whose_kind_changed_leaves_its_old_kind_and_joins_the_new_one() -> None:
    held = records(record("a", 1, kind="nanny"), record("b", 2))

    plan = plan_scheduler([wanted("a"), wanted("b")], (), held)

    assert plan.steps == (
        Unregister("a", "nanny"), Register(wanted("a"), "changed"),
        Unregister("b", "worker"), Register(wanted("b"), "reordered"),
    )


def test_order_is_kept_per_kind_because_each_kind_is_stored_apart() -> None:
    # A worker plugin registered after a nanny plugin is still in order among workers.
    held = records(record("w", 1), record("n", 2, kind="nanny"), record("s", 3, "scheduler"))

    plan = plan_scheduler(
        [wanted("w"), wanted("s", "scheduler"), wanted("n", "nanny")], (), held
    )

    assert plan.is_empty


def test_kinds_are_planned_scheduler_first_then_nanny_then_worker() -> None:
    plan = plan_scheduler(
        [wanted("w"), wanted("n", "nanny"), wanted("s", "scheduler")], (), {}
    )

    assert [step.plugin.name for step in plan.steps if isinstance(step, Register)] == [
        "s", "n", "w",
    ]


def test_unwanted_plugins_the_scheduler_holds_are_unregistered_first() -> None:
    held = records(record("gone", 1, kind="nanny"), record("old", 2), record("a", 3))

    plan = plan_scheduler([wanted("a"), wanted("new")], {"old", "gone"}, held)

    assert plan.steps == (
        Unregister("gone", "nanny"), Unregister("old", "worker"), Register(wanted("new"), "new"),
    )
    assert plan.in_place == (wanted("a"),)


def test_unwanted_plugins_the_scheduler_does_not_hold_need_nothing() -> None:
    plan = plan_scheduler([], {"never-registered"}, {})

    assert plan == Plan(steps=(), in_place=())


def test_records_of_plugins_the_operator_does_not_know_are_left_alone() -> None:
    held = records(record("by-hand", 1), record("a", 2))

    plan = plan_scheduler([wanted("a")], (), held)

    assert plan.is_empty
    assert plan.in_place == (wanted("a"),)


def test_an_unknown_record_does_not_count_for_the_order_of_known_plugins() -> None:
    # "a" sorts first but was registered after a hand-made plugin: that is no reason
    # to move it, since only the operator's plugins are ordered.
    held = records(record("by-hand", 5), record("a", 6), record("b", 7))

    plan = plan_scheduler([wanted("a"), wanted("b")], (), held)

    assert plan.is_empty
