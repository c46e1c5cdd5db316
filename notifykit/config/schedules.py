"""The ``schedules:`` section: on-call schedules, declared as settings and converted into the
engine's :class:`~notifykit.oncall.Schedule` objects (docs/oncall.md)::

    schedules:
      primary:
        timezone: Asia/Kolkata            # IANA; default Asia/Kolkata
        layers:                           # a later layer wins wherever it has someone on call
          - rotation: weekly              # daily | weekly | a duration (12h, 3d)
            start: "2026-12-07T10:00"     # local time: members[0]'s first shift starts here
            members: [alice, bob, carol]  # recipients (names from recipients:)
          - {rotation: daily, start: "2026-12-07T20:00", members: [dave, erin], restrict: [nights]}
        overrides:                        # later overrides win; [from, to) in the schedule's zone
          - {who: bob, from: "2026-12-24T18:00", to: "2026-12-26T10:00"}

Reading happens in two steps, because a layer's ``restrict`` names time intervals, which the
routing sections define: :func:`read_schedules` converts the section (members and override
people are checked against ``recipients:`` with the other references), then
:func:`build_schedules` checks the interval names and builds the schedules, every problem at its
own key and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import yaml

from notifykit.config.convert import convert, named_items
from notifykit.config.schema import INVALID, Checker, did_you_mean, join
from notifykit.config.settings import NAME_PATTERN, Settings, setting
from notifykit.oncall import (
    DEFAULT_ZONE,
    Layer,
    Override,
    Schedule,
    ScheduleError,
    parse_local,
    parse_rotation,
    parse_zone,
)

if TYPE_CHECKING:
    from notifykit.oncall import Restriction

__all__ = [
    "SCHEDULE_PREFIX",
    "LayerSettings",
    "OverrideSettings",
    "ReadSchedule",
    "ScheduleSettings",
    "build_schedules",
    "read_schedules",
]

#: a target naming a schedule: ``schedule:primary`` (whoever is on call when it is sent)
SCHEDULE_PREFIX = "schedule:"

_NAME = "a name (letters, digits, _ . -, starting with a letter or _)"
_NAME_RE = re.compile(NAME_PATTERN)


def _rotation(text: str) -> str:
    """The rotation as written, once :func:`parse_rotation` reads it (its ScheduleError, a
    ValueError, is the problem)."""
    parse_rotation(text)
    return text.strip().lower()


def _local(text: str) -> datetime:
    return parse_local(text)


def _zone(text: str) -> str:
    """An IANA zone name, with a "did you mean" when it is not one."""
    try:
        parse_zone(text)
    except ScheduleError as err:
        import zoneinfo

        hint = did_you_mean(text.strip(), zoneinfo.available_timezones())
        if not hint:
            raise
        raise ValueError(f"timezone {text!r} is not an IANA time zone{hint}") from err
    return text.strip()


class LayerSettings(Settings):
    """One layer of a schedule: a rotation of members."""

    rotation: str = setting(
        parse=_rotation,
        expected="daily, weekly or a duration such as 12h or 3d",
        doc="daily | weekly (calendar days on the wall clock) | a duration (12h, 3d: exact time)",
    )
    start: datetime = setting(
        parse=_local,
        expected="a local time, YYYY-MM-DDTHH:MM",
        doc="local time in the schedule's zone, without an offset: members[0]'s first shift "
        "starts here",
    )
    members: tuple[str, ...] = setting(
        ref="recipient",
        pattern=NAME_PATTERN,
        expected="a recipient's name",
        min_items=1,
        unique=False,
        one_or_many=True,
        doc="recipients (names from recipients:), in rotation order",
    )
    restrict: tuple[str, ...] = setting(
        default=(),
        pattern=NAME_PATTERN,
        expected=_NAME,
        doc="names of time_intervals: the layer has someone on call only inside them",
    )


class OverrideSettings(Settings):
    """One override: ``who`` is on call over ``[from, to)``, local times in the schedule's zone."""

    who: str = setting(
        ref="recipient", pattern=NAME_PATTERN, expected="a recipient's name", doc="a recipient"
    )
    from_: datetime = setting(
        parse=_local, expected="a local time, YYYY-MM-DDTHH:MM", doc="local time it starts"
    )
    to: datetime = setting(
        parse=_local,
        expected="a local time, YYYY-MM-DDTHH:MM",
        doc="local time it ends (exclusive)",
    )

    def __post_init__(self) -> None:
        if self.to <= self.from_:
            raise ValueError(
                f"the override for {self.who} ends ({self.to.isoformat(timespec='minutes')}) "
                f"before it starts ({self.from_.isoformat(timespec='minutes')}): make to later "
                "than from"
            )


class ScheduleSettings(Settings):
    """A ``schedules:`` entry: who is on call, by layers of rotations and overrides
    (docs/oncall.md)."""

    timezone: str = setting(
        default=DEFAULT_ZONE,
        parse=_zone,
        expected="an IANA time zone (Asia/Kolkata)",
        doc="the IANA zone its local times are read in",
    )
    layers: tuple[LayerSettings, ...] = setting(
        min_items=1, unique=False, doc="rotations; a later layer wins wherever it has someone"
    )
    overrides: tuple[OverrideSettings, ...] = setting(
        default=(), unique=False, doc="who is on call over [from, to); a later one wins"
    )


@dataclass(frozen=True)
class ReadSchedule:
    """A ``schedules:`` entry as read, before its intervals are looked up."""

    #: ``None`` when the entry has problems (its ``restrict`` names are still checked)
    settings: ScheduleSettings | None
    node: yaml.Node


def read_schedules(node: yaml.Node | None, ctx: Checker) -> dict[str, ReadSchedule]:
    """The section's entries converted (their references recorded in ``ctx``)."""
    read: dict[str, ReadSchedule] = {}
    for name, _key_node, value_node in named_items(node, "schedules", ctx):
        value = convert(value_node, ScheduleSettings, join("schedules", name), ctx)
        read[name] = ReadSchedule(None if value is INVALID else value, value_node)
    return read


def build_schedules(
    read: Mapping[str, ReadSchedule],
    ctx: Checker,
    intervals: Mapping[str, Restriction] | None,
    interval_names: Iterable[str] = (),
) -> dict[str, Schedule]:
    """The schedules, with each layer's ``restrict`` names looked up in ``intervals`` (``None``:
    the routing sections have problems of their own, so only the names are checked, against
    ``interval_names``)."""
    known = set(intervals or ()) | set(interval_names)
    result: dict[str, Schedule] = {}
    for name, entry in read.items():
        path = join("schedules", name)
        # The names are checked as written, so an entry with other problems still has its
        # unknown intervals reported with them.
        ok = True
        for index, n, interval, node in _restrict_names(entry.node):
            if interval not in known:
                defined = ", ".join(sorted(known)) or "none"
                ctx.problem(
                    node,
                    f"{path}.layers[{index}].restrict[{n}]",
                    f"no time interval named {interval!r} in time_intervals"
                    f"{did_you_mean(interval, known)}; defined: {defined}",
                )
                ok = False
        settings = entry.settings
        if settings is None or not ok or intervals is None:
            continue
        layers = tuple(
            Layer(
                parse_rotation(layer.rotation),
                layer.start,
                layer.members,
                tuple(intervals[i] for i in layer.restrict),
            )
            for layer in settings.layers
        )
        overrides = tuple(Override(o.who, o.from_, o.to) for o in settings.overrides)
        try:
            result[name] = Schedule(name, layers, overrides, zone=parse_zone(settings.timezone))
        except ScheduleError as err:  # the settings checked what it checks: a backstop
            ctx.problem(entry.node, path, str(err))
    return result


def _restrict_names(node: yaml.Node) -> Iterator[tuple[int, int, str, yaml.Node]]:
    """``(layer index, item index, name, node)`` of every name in the layers' ``restrict``
    lists as written (what is not a name is the converter's problem)."""
    layers = _value(node, "layers")
    if not isinstance(layers, yaml.SequenceNode):
        return
    for index, layer in enumerate(layers.value):
        restrict = _value(layer, "restrict")
        if not isinstance(restrict, yaml.SequenceNode):
            continue
        for n, item in enumerate(restrict.value):
            if isinstance(item, yaml.ScalarNode) and _NAME_RE.fullmatch(str(item.value)):
                yield index, n, str(item.value), item


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                return value_node  # type: ignore[no-any-return]
    return None
