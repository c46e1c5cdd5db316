"""When a group of alerts is notified: Alertmanager's group_wait / group_interval / repeat_interval
rules as one pure decision over what the ledger remembers.

The ledger keeps one :class:`NotificationLog` per (receiver, group key), as Alertmanager's
notification log does per group key + receiver. :func:`decide` says, for an alert arriving (or a
group flush coming due) at ``now``, whether to send now, wait until a time (so later alerts join
the same message), or skip (nothing changed and ``repeat_interval`` has not passed):

* a **new** group is sent ``group_wait`` after its first alert (``0s``: at once);
* a group whose content **changed** since the last message (an alert joined, resolved, or changed
  severity) is sent again, but not sooner than ``group_interval`` after the last message;
* an **unchanged** group is sent again only once ``repeat_interval`` has passed since the last
  message (``0s``: every time, no dedup).

In-app alerting has no periodic re-send from a monitoring system, so a repeat happens when the
alert is raised again after ``repeat_interval``, not on a timer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from notifykit.routing.alert import Alert
from notifykit.routing.tree import RouteSettings, format_duration

__all__ = ["Decision", "NotificationLog", "content_digest", "decide"]


@dataclass(frozen=True)
class NotificationLog:
    """What the ledger remembers of one (receiver, group key).

    ``first_seen``: when the group's first alert arrived; ``last_sent``: when its last message
    went out (``None``: not yet); ``digest``: :func:`content_digest` of what that message carried.
    """

    receiver: str
    key: str
    first_seen: datetime
    last_sent: datetime | None = None
    digest: str | None = None


@dataclass(frozen=True)
class Decision:
    """``send`` now, ``wait`` until ``due`` (then decide again, with the alerts that joined), or
    ``skip``; ``reason`` says why, for reports and ``routes test``."""

    action: Literal["send", "wait", "skip"]
    due: datetime | None
    reason: str


def content_digest(alerts: Iterable[Alert]) -> str:
    """A digest of a group's content: each alert's key, severity and firing/resolved state.
    Data is not part of it (a changed message text alone is not a change)."""
    parts = sorted(
        f"{a.key_for().text}\x00{a.severity}\x00{'resolved' if a.resolved else 'firing'}"
        for a in alerts
    )
    return hashlib.sha256("\x01".join(parts).encode("utf-8")).hexdigest()[:32]


def decide(
    log: NotificationLog | None, settings: RouteSettings, digest: str, now: datetime
) -> Decision:
    """What to do with a group at ``now`` (aware), given what the ledger remembers of it."""
    if now.tzinfo is None:
        raise ValueError("decide() needs an aware time (with a tzinfo), not a naive one")
    if log is None or log.last_sent is None:
        first = log.first_seen if log is not None else now
        due = first + timedelta(seconds=settings.group_wait)
        if due <= now:
            return Decision("send", now, "a new group")
        return Decision(
            "wait", due, f"a new group: group_wait {format_duration(settings.group_wait)}"
        )
    if digest != log.digest:
        due = log.last_sent + timedelta(seconds=settings.group_interval)
        if due <= now:
            return Decision("send", now, "the group changed")
        return Decision(
            "wait",
            due,
            f"the group changed: group_interval {format_duration(settings.group_interval)} "
            "after the last message",
        )
    if settings.repeat_interval == 0:
        return Decision("send", now, "repeat_interval 0s: every alert is sent")
    due = log.last_sent + timedelta(seconds=settings.repeat_interval)
    if due <= now:
        return Decision("send", now, "repeat_interval passed")
    return Decision(
        "skip",
        due,
        f"already sent at {log.last_sent.isoformat()}, unchanged; repeat_interval "
        f"{format_duration(settings.repeat_interval)}",
    )
