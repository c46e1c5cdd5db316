"""The stages a group goes through at each flush, in Alertmanager's order: inhibit, time
intervals, silences, dedup (``notify/notify.go``: MuteStage, TimeActiveStage, TimeMuteStage,
MuteStage for silences, DedupStage).

A :class:`Flush` carries one group's alerts at one moment through the stages. Each stage is an
object with one method (``__call__``) and the collaborators it was built with; it takes the
alerts it mutes out of the flush and notes why, or stops the flush. Mute decisions are made here,
at flush time, from the group's current alerts: an alert muted now stays in its group, and goes
out at a later flush if it still fires when the mute is over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

from notifykit.routing.lifecycle import LogEntry, Member, Update, needs_update
from notifykit.routing.tree import interval_mute

if TYPE_CHECKING:
    from notifykit.ledger.state import Unit
    from notifykit.routing.alert import Alert, AlertKey
    from notifykit.routing.inhibit import InhibitRule
    from notifykit.routing.lifecycle import GroupRoute
    from notifykit.routing.silences import Silence
    from notifykit.routing.timeintervals import TimeInterval

_logger = logging.getLogger("notifykit.routing")

__all__ = [
    "DedupStage",
    "Flush",
    "InhibitStage",
    "SilenceCache",
    "SilenceStage",
    "Stage",
    "TimeIntervalStage",
]


@dataclass
class Flush:
    """One group at one flush: its alerts that fire and that resolved (what the stages have
    not muted), the notification log's entry, and what the stages found."""

    receiver: str
    key: AlertKey
    route: GroupRoute
    now: float
    firing: list[Member]
    resolved: list[Member]
    entry: LogEntry | None
    notes: list[str] = field(default_factory=list)
    #: why nothing goes out at this flush (``None``: go on)
    stopped: str | None = None
    #: the dedup stage's answer
    update: Update | None = None
    #: the unit of work the flush runs in (``None``: a dry run, an explanation)
    unit: Unit | None = None

    def stop(self, reason: str, *, muted: bool = True) -> None:
        """Nothing goes out at this flush: a mute stage's ``reason`` (the alerts stay in their
        group, sent at a later flush if they still fire then), or the dedup stage's."""
        self.stopped = reason
        self.notes.append(
            f"muted: {self.receiver}: {reason}" if muted else f"{self.receiver}: {reason}"
        )

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, timezone.utc)


class Stage(Protocol):
    """A flush stage: mutes alerts of the flush, or stops it."""

    def __call__(self, flush: Flush) -> None: ...


class InhibitStage:
    """Alertmanager's inhibition: an alert is muted while a firing *source* alert matches an
    inhibit rule with it (``notifykit.routing.inhibit``). The firing alerts are read when a
    flush needs them, so an inhibiting alert that arrived while the group waited counts."""

    def __init__(
        self, rules: Sequence[InhibitRule], firing: Callable[[Flush], Sequence[Alert]]
    ) -> None:
        self._rules = tuple(rules)
        self._firing = firing

    def __call__(self, flush: Flush) -> None:
        if not self._rules or not (flush.firing or flush.resolved):
            return
        from notifykit.routing.inhibit import inhibited_by

        sources = self._firing(flush)
        reasons: list[str] = []

        def kept(members: list[Member]) -> list[Member]:
            out = []
            for member in members:
                inhibition = inhibited_by(self._rules, member.alert, sources)
                if inhibition is None:
                    out.append(member)
                else:
                    reasons.append(inhibition.reason)
            return out

        flush.firing = kept(flush.firing)
        flush.resolved = kept(flush.resolved)
        if reasons and not (flush.firing or flush.resolved):
            flush.stop(reasons[0] if len(reasons) == 1 else "; ".join(dict.fromkeys(reasons)))
        elif reasons:
            flush.notes.extend(f"{flush.receiver}: {r}" for r in dict.fromkeys(reasons))


class TimeIntervalStage:
    """``active_time_intervals`` and ``mute_time_intervals``: outside the one, or inside the
    other, the route sends nothing at this flush; its alerts wait for the next."""

    def __init__(self, intervals: Mapping[str, TimeInterval]) -> None:
        self._intervals = intervals

    def __call__(self, flush: Flush) -> None:
        route = flush.route
        if not (route.active_time_intervals or route.mute_time_intervals):
            return
        reason = interval_mute(
            route.active_time_intervals, route.mute_time_intervals, flush.at, self._intervals
        )
        if reason is not None:
            flush.stop(reason)


#: ``silences(flush)``: the silences active at the flush's moment
Silences = Callable[["Flush"], "Sequence[Silence]"]


class SilenceStage:
    """Silences, as Alertmanager's (:mod:`notifykit.routing.silences`): an alert an active
    silence's matchers match is muted at this flush, and stays in its group: sent at a later
    flush if it still fires when the silence is over. The silences are read once per flush
    (inside its unit of work when it has one). Without silences it mutes nothing."""

    def __init__(self, silences: Silences | None = None) -> None:
        self._silences = silences

    def __call__(self, flush: Flush) -> None:
        if self._silences is None or not (flush.firing or flush.resolved):
            return
        active = self._silences(flush)
        if not active:
            return
        from notifykit.routing.silences import silencing

        reasons: list[str] = []

        def kept(members: list[Member]) -> list[Member]:
            out = []
            for member in members:
                silence = silencing(active, member.alert, flush.now)
                if silence is None:
                    out.append(member)
                else:
                    reasons.append(silence.reason())
            return out

        flush.firing = kept(flush.firing)
        flush.resolved = kept(flush.resolved)
        if reasons and not (flush.firing or flush.resolved):
            flush.stop("; ".join(dict.fromkeys(reasons)))
        elif reasons:
            flush.notes.extend(f"muted: {flush.receiver}: {r}" for r in dict.fromkeys(reasons))
        if reasons and flush.unit is not None:
            _logger.info(
                "group %s of receiver %s: %d alert(s) muted: %s",
                flush.key,
                flush.receiver,
                len(reasons),
                "; ".join(dict.fromkeys(reasons)),
            )


class SilenceCache:
    """The silences not yet over, read at most once per ``ttl`` seconds, for the mute decisions
    made outside a unit of work (the sends of routes that keep no state: an ``events:``-only
    config's ``notify()`` and ``submit()``), so those add no read of the ledger to each send. A
    silence made or expired through this process is seen at once (:meth:`forget`), one made by
    another process within ``ttl``."""

    def __init__(self, read: Callable[[float], Sequence[Silence]], ttl: float = 1.0) -> None:
        self._read = read
        self._ttl = ttl
        self._cached: tuple[float, tuple[Silence, ...]] | None = None

    def __call__(self, now: float) -> Sequence[Silence]:
        import time

        at = time.monotonic()
        cached = self._cached
        if cached is None or not 0 <= at - cached[0] < self._ttl:
            cached = (at, tuple(self._read(now)))
            self._cached = cached
        return [s for s in cached[1] if s.active(now)]

    def forget(self) -> None:
        self._cached = None


class DedupStage:
    """The notification log decides whether the receiver is told again
    (:func:`notifykit.routing.lifecycle.needs_update`)."""

    def __call__(self, flush: Flush) -> None:
        settings = flush.route.settings
        flush.update = needs_update(
            flush.entry,
            (m.digest for m in flush.firing),
            (m.digest for m in flush.resolved),
            send_resolved=settings.send_resolved,
            repeat_interval=settings.repeat_interval,
            now=flush.now,
        )
        if not flush.update.send:
            flush.stop(f"skip: {flush.update.reason}", muted=False)
