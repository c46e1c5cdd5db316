"""On-call schedules: who is on call at a moment, and the shifts over a range.

Pure domain: no I/O, no clock (every question names its moment) and no config format. The rules
(docs/oncall.md): shift ``k`` of a layer covers ``[start + k·period, start + (k+1)·period)`` and
belongs to ``members[k mod n]``; ``daily`` and ``weekly`` periods are calendar days on the
schedule's wall clock, a :class:`~datetime.timedelta` period is exact elapsed time; a layer has
nobody outside its ``restrict`` intervals; a later layer wins wherever it has someone, and an
override wins over every layer (a later override over an earlier one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Literal, Protocol, TypeAlias
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_ZONE",
    "Layer",
    "OnCall",
    "Override",
    "Restriction",
    "Rotation",
    "Schedule",
    "ScheduleError",
    "Shift",
    "local_instant",
]

#: the zone of a schedule that names none
DEFAULT_ZONE = "Asia/Kolkata"

UTC = timezone.utc

#: ``"daily"`` or ``"weekly"`` (calendar days on the wall clock) or an exact elapsed time
Rotation: TypeAlias = Literal["daily", "weekly"] | timedelta

_CALENDAR_DAYS: dict[str, int] = {"daily": 1, "weekly": 7}


class ScheduleError(ValueError):
    """A schedule, layer or override that cannot work; the message names the problem and the
    fix. Raised when the object is built, never when it is asked who is on call."""


class Restriction(Protocol):
    """When a restricted layer has someone on call: routing's
    :class:`~notifykit.routing.TimeInterval` is one."""

    @property
    def name(self) -> str:
        """The interval's name, for messages."""
        ...

    def contains(self, at: datetime) -> bool:
        """Whether the aware instant ``at`` is inside."""
        ...

    def changes(self, start: datetime, end: datetime) -> list[datetime]:
        """The instants in ``(start, end)`` where :meth:`contains` changes value, in order."""
        ...


def local_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the naive wall-clock time ``local`` in ``zone``.

    A time the clock shows twice (the hour repeated when clocks go back) is its first occurrence;
    a time the clock skips (clocks going forward) is read with the offset before the change, so
    it lands as much later as the gap is long (02:30 in a one-hour gap is 03:30). These are RFC
    5545's rules, and ``fold=0``'s in Python.
    """
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ScheduleError(
            f"{what} {at.isoformat()} has no time zone: give an aware datetime "
            "(such as datetime.now(timezone.utc)) or an ISO time with an offset"
        )
    # Arithmetic and comparison between datetimes that share a ZoneInfo ignore the offset (and
    # fold), so every instant is taken to UTC before it is compared.
    return at.astimezone(UTC)


def _naive(at: datetime, what: str) -> datetime:
    if at.tzinfo is not None:
        raise ScheduleError(
            f"{what} {at.isoformat()} has a time zone: write it as local time in the schedule's "
            f"zone, without an offset ({at.replace(tzinfo=None).isoformat(timespec='minutes')})"
        )
    return at


@dataclass(frozen=True)
class Layer:
    """One rotation of members. ``start`` is the naive wall-clock time, in the schedule's zone,
    at which ``members[0]``'s shift 0 starts; shifts before it have negative numbers."""

    rotation: Rotation
    start: datetime
    members: tuple[str, ...]
    restrict: tuple[Restriction, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        object.__setattr__(self, "restrict", tuple(self.restrict))
        _naive(self.start, "layer start")
        if not self.members:
            raise ScheduleError("a layer has no members: list at least one recipient")
        if isinstance(self.rotation, timedelta):
            if self.rotation < timedelta(minutes=1):
                raise ScheduleError(
                    f"rotation {self.rotation} is shorter than a minute: use daily, weekly or a "
                    "duration such as 12h or 3d"
                )
        elif self.rotation not in _CALENDAR_DAYS:
            raise ScheduleError(
                f"rotation {self.rotation!r}: use daily, weekly or a duration such as 12h or 3d"
            )

    @property
    def calendar(self) -> bool:
        """Whether the period is calendar days on the wall clock (``daily``, ``weekly``)."""
        return not isinstance(self.rotation, timedelta)

    def shift_start(self, k: int, zone: ZoneInfo) -> datetime:
        """The UTC instant shift ``k`` starts (it ends where shift ``k + 1`` starts)."""
        if isinstance(self.rotation, timedelta):
            return local_instant(self.start, zone) + k * self.rotation
        days = _CALENDAR_DAYS[self.rotation]
        return local_instant(self.start + timedelta(days=k * days), zone)

    def shift_index(self, at: datetime, zone: ZoneInfo) -> int:
        """The number of the shift covering the aware instant ``at``: arithmetic, not a walk,
        so a question about 2030 for a layer started in 2020 costs what one about today does."""
        at = _aware(at, "at")
        if isinstance(self.rotation, timedelta):
            return (at - local_instant(self.start, zone)) // self.rotation
        days = _CALENDAR_DAYS[self.rotation]
        # The wall-clock estimate is off by at most one shift near an offset change (a period is
        # at least a day, an offset change a few hours), which the instants then settle.
        wall = at.astimezone(zone).replace(tzinfo=None)
        k = (wall - self.start).days // days
        while self.shift_start(k, zone) > at:
            k -= 1
        while self.shift_start(k + 1, zone) <= at:
            k += 1
        return k

    def member(self, k: int) -> str:
        """Who has shift ``k`` (``members[k mod n]``; Python's modulo is never negative)."""
        return self.members[k % len(self.members)]

    def has_someone(self, at: datetime) -> bool:
        """Whether the layer has anyone on call at ``at``: always, unless it is restricted and
        ``at`` is in none of its intervals."""
        return not self.restrict or any(r.contains(at) for r in self.restrict)


@dataclass(frozen=True)
class Override:
    """``who`` is on call over ``[start, end)``, naive wall-clock times in the schedule's zone."""

    who: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _naive(self.start, f"override for {self.who}: from")
        _naive(self.end, f"override for {self.who}: to")
        if self.end <= self.start:
            raise ScheduleError(
                f"override for {self.who} ends ({self.end.isoformat(timespec='minutes')}) "
                f"before it starts ({self.start.isoformat(timespec='minutes')}): make to later "
                "than from"
            )
        if not self.who:
            raise ScheduleError("an override names nobody: set who to a recipient")


@dataclass(frozen=True)
class OnCall:
    """The answer to "who is on call": ``who`` is ``None`` when nobody is; ``layer`` is the index
    in :attr:`Schedule.layers` of the layer that decided (``None`` for an override or nobody);
    ``at`` is the moment asked about, in the schedule's zone."""

    schedule: str
    at: datetime
    who: str | None
    layer: int | None
    override: bool


@dataclass(frozen=True)
class Shift:
    """``who`` is on call over ``[start, end)`` (aware, in the schedule's zone)."""

    who: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Schedule:
    """A named schedule: its layers (a later one wins wherever it has someone on call) and
    overrides (a later one wins), read on ``zone``'s wall clock."""

    name: str
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_ZONE))
    #: each override's [start, end) in UTC, in the overrides' order
    _windows: tuple[tuple[datetime, datetime, str], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        if not isinstance(self.zone, ZoneInfo):
            raise ScheduleError(
                f"schedule {self.name!r}: zone must be a zoneinfo.ZoneInfo, such as "
                f"ZoneInfo({DEFAULT_ZONE!r})"
            )
        if not self.layers:
            raise ScheduleError(
                f"schedule {self.name!r} has no layers: add one with a rotation, a start and "
                "members"
            )
        windows = tuple(
            (local_instant(o.start, self.zone), local_instant(o.end, self.zone), o.who)
            for o in self.overrides
        )
        object.__setattr__(self, "_windows", windows)

    def who_is_on_call(self, at: datetime) -> OnCall:
        """Who is on call at the aware instant ``at``, and what decided it."""
        instant = _aware(at, "at")
        who, layer, override = self._decide(instant)
        return OnCall(self.name, instant.astimezone(self.zone), who, layer, override)

    def shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """Who is on call over ``[start, end)``, as shifts clipped to the range, in order; two
        adjacent shifts of the same person are one, and times when nobody is on call are left
        out (a gap between shifts). The cost grows with the shifts, restriction edges and
        overrides in the range, not with the distance from the layers' starts."""
        low, high = _aware(start, "start"), _aware(end, "end")
        if high < low:
            raise ScheduleError(
                f"the range ends ({end.isoformat()}) before it starts ({start.isoformat()}): "
                "give the earlier time first"
            )
        # Every instant where the answer may change: the layers' handoffs, their restrictions'
        # edges and the overrides' ends. Between two of them the answer is constant.
        edges = {low, high}
        for layer in self.layers:
            k = layer.shift_index(low, self.zone) + 1
            handoff = layer.shift_start(k, self.zone)
            while handoff < high:
                edges.add(handoff)
                k += 1
                handoff = layer.shift_start(k, self.zone)
            for restriction in layer.restrict:
                edges.update(at.astimezone(UTC) for at in restriction.changes(low, high))
        for window_start, window_end, _who in self._windows:
            edges.update(at for at in (window_start, window_end) if low < at < high)
        ordered = sorted(edges)
        merged: list[tuple[str, datetime, datetime]] = []
        for begin, finish in pairwise(ordered):
            who = self._decide(begin)[0]
            if who is None:
                continue
            if merged and merged[-1][0] == who and merged[-1][2] == begin:
                merged[-1] = (who, merged[-1][1], finish)
            else:
                merged.append((who, begin, finish))
        return [
            Shift(who, a.astimezone(self.zone), b.astimezone(self.zone)) for who, a, b in merged
        ]

    def _decide(self, at: datetime) -> tuple[str | None, int | None, bool]:
        """(who, layer index, override?) at the UTC instant ``at``."""
        for window_start, window_end, who in reversed(self._windows):
            if window_start <= at < window_end:
                return who, None, True
        for index in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[index]
            if layer.has_someone(at):
                return layer.member(layer.shift_index(at, self.zone)), index, False
        return None, None, False

    def members(self) -> Sequence[str]:
        """Every recipient the schedule names (layers' members, then overrides'), once each, in
        order: what a config check validates against the recipients."""
        seen: dict[str, None] = {}
        for layer in self.layers:
            seen.update(dict.fromkeys(layer.members))
        seen.update(dict.fromkeys(o.who for o in self.overrides))
        return tuple(seen)
