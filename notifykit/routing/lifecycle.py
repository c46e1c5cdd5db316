"""An alert group's life by Alertmanager's rules, as pure functions over epoch seconds.

Alertmanager keeps each alert *firing* from when it is raised until it is resolved, or until
``resolve_timeout`` passes without it being raised again; a group of alerts (one receiver, one
group key) runs its own timer: the first notification ``group_wait`` after the group appears, then
a flush every ``group_interval`` for as long as the group has alerts (``dispatch/dispatch.go``,
``aggrGroup``). At each flush the notification log decides whether the receiver is told
(``notify/notify.go``, ``DedupStage.needsUpdate``): when an alert newly fires, when (with
``send_resolved``) an alert newly resolves, when every alert it was told about has resolved, or
when ``repeat_interval`` has passed. Resolved alerts leave the group after the flush that saw
them; a group with no alerts left stops its timer.

What notifykit adds: an alert whose group is escalating stays firing until the escalation is
acknowledged or resolved, whatever ``resolve_timeout`` says (a page must not stop because the
application raised the alert only once).

Times are epoch seconds (the ledger's unit), so no round trip through ``datetime`` moves a due
time by a microsecond.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from notifykit.routing.alert import Alert
from notifykit.routing.receiver import Receiver
from notifykit.routing.tree import RouteSettings, format_duration

__all__ = [
    "DEFAULT_RESOLVE_TIMEOUT",
    "GroupRoute",
    "LogEntry",
    "Member",
    "Update",
    "first_flush",
    "needs_update",
    "next_tick",
]

#: Alertmanager's default ``resolve_timeout``: an alert not raised again for this long is resolved
DEFAULT_RESOLVE_TIMEOUT = 300.0


@dataclass(frozen=True)
class Member:
    """One alert of a group, as the ledger remembers it.

    ``digest`` is the digest of the alert's full key (its identity in the group and in the
    notification log); ``resolved_at`` is set when the alert was resolved explicitly
    (``resolved=True``, Alertmanager's ``resolved`` status).
    """

    alert: Alert
    digest: str
    starts_at: float
    last_raised: float
    resolved_at: float | None = None

    def ends_at(self, resolve_timeout: float) -> float:
        """When the alert stops firing unless raised again (its resolution, if explicit): its
        own ``timeout`` after it was last raised, else ``resolve_timeout``."""
        if self.resolved_at is not None:
            return self.resolved_at
        timeout = self.alert.timeout if self.alert.timeout is not None else resolve_timeout
        return self.last_raised + timeout

    def resolved(self, now: float, resolve_timeout: float, *, held_open: bool = False) -> bool:
        """Whether the alert is over at ``now``. ``held_open``: its group is escalating, so only
        an explicit resolution ends it."""
        if self.resolved_at is not None:
            return True
        if held_open:
            return False
        return self.ends_at(resolve_timeout) <= now


@dataclass(frozen=True)
class GroupRoute:
    """What a group keeps of the route that made it: its effective settings and time
    intervals, where it is in the config (for explanations), and the receiver itself when the
    config does not have it (``NotifyHandler(to=...)``'s own)."""

    settings: RouteSettings
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    path: str = "route"
    receiver: Receiver | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": {
                "receiver": self.settings.receiver,
                "group_by": list(self.settings.group_by)
                if self.settings.group_by is not None
                else None,
                "group_wait": self.settings.group_wait,
                "group_interval": self.settings.group_interval,
                "repeat_interval": self.settings.repeat_interval,
                "send_resolved": self.settings.send_resolved,
                "priority": self.settings.priority,
            },
            "mute_time_intervals": list(self.mute_time_intervals),
            "active_time_intervals": list(self.active_time_intervals),
            "path": self.path,
            **(
                {
                    "receiver": {
                        "name": self.receiver.name,
                        "channels": list(self.receiver.channels),
                        "to": list(self.receiver.to),
                        "template": self.receiver.template,
                        "priority": self.receiver.priority,
                    }
                }
                if self.receiver is not None
                else {}
            ),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> GroupRoute:
        s = value.get("settings", value)
        group_by = s.get("group_by")
        settings = RouteSettings(
            receiver=s["receiver"],
            group_by=tuple(group_by) if group_by is not None else None,
            group_wait=s["group_wait"],
            group_interval=s["group_interval"],
            repeat_interval=s["repeat_interval"],
            send_resolved=bool(s["send_resolved"]),
            priority=s.get("priority"),
        )
        own = value.get("receiver")
        receiver = (
            Receiver(
                own["name"],
                tuple(own.get("channels") or ()),
                tuple(own.get("to") or ()),
                template=own.get("template"),
                priority=own.get("priority"),
            )
            if own
            else None
        )
        return cls(
            settings,
            tuple(value.get("mute_time_intervals") or ()),
            tuple(value.get("active_time_intervals") or ()),
            value.get("path") or "route",
            receiver,
        )


@dataclass(frozen=True)
class LogEntry:
    """The notification log's entry for one receiver and group: the alerts the last
    notification told about (digests of their full keys) and when it was made."""

    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float


@dataclass(frozen=True)
class Update:
    """Whether a flush tells the receiver, and why (for reports and ``routes test``)."""

    send: bool
    reason: str


def needs_update(
    entry: LogEntry | None,
    firing: Iterable[str],
    resolved: Iterable[str],
    *,
    send_resolved: bool,
    repeat_interval: float,
    now: float,
) -> Update:
    """Alertmanager's ``DedupStage.needsUpdate``: whether a group whose (not muted) alerts are
    ``firing`` and ``resolved`` (digests) must be notified again, given the last ``entry``.

    An update that only resolves alerts is still an update when the receiver does not
    ``send_resolved``: no message goes out then, but the log forgets the alerts it was told
    about, so the same alert firing again later is news.
    """
    firing_set = frozenset(firing)
    resolved_set = frozenset(resolved)
    if entry is None:
        if firing_set:
            return Update(True, "a new group")
        return Update(False, "every alert resolved before the group's first notification")
    if not firing_set <= entry.firing:
        return Update(True, "an alert newly fires")
    if not firing_set:
        if entry.firing:
            return Update(True, "every alert of the group resolved")
        return Update(False, "nothing fires and the receiver was told of nothing firing")
    if send_resolved and not resolved_set <= entry.resolved:
        return Update(True, "an alert resolved")
    if repeat_interval > 0 and entry.sent_at + repeat_interval <= now:
        return Update(True, f"repeat_interval {format_duration(repeat_interval)} passed")
    return Update(
        False,
        f"already sent at {_iso(entry.sent_at)}, unchanged; repeat_interval "
        f"{format_duration(repeat_interval)}",
    )


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def first_flush(first_seen: float, starts_at: float, group_wait: float, now: float) -> float:
    """When a group that has not been notified yet flushes: ``group_wait`` after it appeared,
    or at once when an alert of it started ``group_wait`` ago already (an alert Alertmanager
    forwards late, a group whose timer a restart lost)."""
    if starts_at + group_wait <= now:
        return now
    return first_seen + group_wait


def next_tick(scheduled: float, interval: float, now: float) -> float:
    """The next run of a recurring timer that was due at ``scheduled``: the first
    ``scheduled + k * interval`` after ``now`` (a flush that ran late keeps the group's rhythm
    instead of drifting, and a worker that was down does not flush a backlog of ticks)."""
    if interval <= 0:
        raise ValueError("a recurring timer needs a positive interval")
    if scheduled > now:
        return scheduled
    return scheduled + (math.floor((now - scheduled) / interval) + 1) * interval
