"""What to do on one scheduler: compare the plugins it should hold with what it holds.

The scheduler hands stored plugins to a joining worker in the order they were first
registered, and replacing a plugin under the same name keeps its place. So the plan
keeps every plugin that is current and in order, replaces in place a plugin whose content
changed, and moves to the end (unregister, then register) whatever sits out of order,
which keeps workers' setup order equal to (priority, name) without touching the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from .scheduler import PluginRecord
from .spec import PluginKind

KINDS: tuple[PluginKind, ...] = ("scheduler", "nanny", "worker")


@dataclass(frozen=True)
class Wanted:
    """A plugin that should be on the scheduler, with the content it should have."""

    name: str
    kind: PluginKind
    content_hash: str
    generation: int


@dataclass(frozen=True)
class Register:
    plugin: Wanted
    why: Literal["new", "changed", "reordered"]


@dataclass(frozen=True)
class Unregister:
    name: str
    kind: PluginKind


Step: TypeAlias = Register | Unregister


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    in_place: tuple[Wanted, ...]

    @property
    def is_empty(self) -> bool:
        return not self.steps


def plan_scheduler(
    wanted: Sequence[Wanted],
    unwanted: Collection[str],
    records: Mapping[str, PluginRecord],
) -> Plan:
    """Steps that bring ``records`` in line with ``wanted``, given in registration order.

    ``unwanted`` names plugins this operator manages that must go (deleted, or no longer
    selecting the cluster); records of plugins it does not know about are left alone.
    """
    steps: list[Step] = [
        Unregister(name, records[name].kind) for name in sorted(unwanted) if name in records
    ]
    in_place: list[Wanted] = []
    for kind in KINDS:
        of_kind = [plugin for plugin in wanted if plugin.kind == kind]
        kind_steps, kind_in_place = _plan_kind(of_kind, records)
        steps.extend(kind_steps)
        in_place.extend(kind_in_place)
    return Plan(tuple(steps), tuple(in_place))


def _plan_kind(
    wanted: Sequence[Wanted], records: Mapping[str, PluginRecord]
) -> tuple[list[Step], list[Wanted]]:
    steps: list[Step] = []
    in_place: list[Wanted] = []
    last_seq = -1
    order_broken = False

    for plugin in wanted:
        record = records.get(plugin.name)
        if record is None:
            steps.append(Register(plugin, "new"))
            order_broken = True  # everything after it must now come after it
            continue

        if record.kind != plugin.kind:
            steps += [Unregister(plugin.name, record.kind), Register(plugin, "changed")]
            order_broken = True
            continue

        if order_broken or record.seq <= last_seq:
            steps += [Unregister(plugin.name, record.kind), Register(plugin, "reordered")]
            order_broken = True
            continue

        last_seq = record.seq
        if record.content_hash == plugin.content_hash:
            in_place.append(plugin)
        else:
            steps.append(Register(plugin, "changed"))
    return steps, in_place
