"""What ``notifykit alerts`` and :meth:`Notifier.alerts() <notifykit.Notifier.alerts>` show:
each open alert once per receiver it reaches, with its state and its escalation (as
``amtool alert query`` lists Alertmanager's alerts).

An open alert is one routed and not resolved. Its state for a receiver is ``acknowledged`` (the
receiver's escalation for its group was acknowledged), ``held`` (nothing goes out for it there
now: inhibited, muted by a time interval, waiting for ``group_wait``/``group_interval``, or never
sent there because it was muted when it fired; ``reason`` says which) or ``firing``. Built from the
groups the ledger keeps (:class:`GroupView`: :meth:`RoutingState.snapshot
<notifykit.ledger.state.RoutingState.snapshot>` reads them) and the config's inhibit rules and
time intervals; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from notifykit.routing.alert import Alert, AlertKey
from notifykit.routing.tree import format_duration

if TYPE_CHECKING:
    from notifykit.routing.lifecycle import GroupRoute, LogEntry, Member
    from notifykit.routing.model import RoutingConfig
    from notifykit.routing.silences import Silence

__all__ = ["ALERT_STATES", "EscalationStatus", "GroupView", "OpenAlert", "open_alerts"]

#: the states of an open alert at a receiver
ALERT_STATES = ("firing", "acknowledged", "held")


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


@dataclass(frozen=True)
class EscalationStatus:
    """Where an escalation stands.

    ``state`` is ``active`` or ``acked``; ``step`` the last step that went out
    (``"<round>.<index>"``: ``"0.1"`` is the second step of the first round; ``None``: none
    yet); ``next_step`` and ``next_at`` (epoch seconds) the step due next and when (``None``:
    none is pending, as after an acknowledgement); ``acked_by`` who acknowledged it.
    """

    id: str
    policy: str
    state: str
    step: str | None
    next_step: str | None
    next_at: float | None
    acked_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``next_at`` in ISO 8601 (UTC)."""
        return {
            "id": self.id,
            "policy": self.policy,
            "state": self.state,
            "step": self.step,
            "next_step": self.next_step,
            "next_at": _iso(self.next_at),
            "acked_by": self.acked_by,
        }


@dataclass(frozen=True)
class OpenAlert:
    """One open alert at one receiver it reaches.

    ``key`` is the alert's own key and ``group`` the key of its group at this receiver (what
    reports show; ``ack`` and ``resolve`` take either). ``state`` is one of
    :data:`ALERT_STATES`; ``reason`` says why it is ``held`` (or when an acknowledged one re-opens).
    ``escalation``: the receiver's escalation for the group (``None``: the receiver does not
    escalate, or no escalation is running). ``first_seen``/``last_seen``: epoch seconds.
    """

    key: str
    event: str
    severity: str
    labels: Mapping[str, str]
    receiver: str
    group: str
    state: str
    reason: str | None
    escalation: EscalationStatus | None
    first_seen: float
    last_seen: float
    alert: Alert = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``notifykit alerts --json``); times in ISO 8601 (UTC)."""
        return {
            "key": self.key,
            "event": self.event,
            "severity": self.severity,
            "labels": dict(self.labels),
            "receiver": self.receiver,
            "group": self.group,
            "state": self.state,
            "reason": self.reason,
            "escalation": self.escalation.to_dict() if self.escalation else None,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
        }


class _Escalation(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def policy(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def acked_by(self) -> str | None: ...
    @property
    def wake_at(self) -> float | None: ...


class _Step(Protocol):
    @property
    def loop(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def due_at(self) -> float: ...
    @property
    def state(self) -> str: ...


class GroupView(Protocol):
    """What the listing reads of one alert group
    (:class:`~notifykit.ledger.state.GroupSnapshot` has it)."""

    @property
    def receiver(self) -> str: ...
    @property
    def key(self) -> AlertKey: ...
    @property
    def route(self) -> GroupRoute: ...
    @property
    def flush_due(self) -> float | None: ...
    @property
    def entry(self) -> LogEntry | None: ...
    @property
    def members(self) -> Sequence[Member]: ...
    @property
    def escalation(self) -> _Escalation | None: ...
    @property
    def steps(self) -> Sequence[_Step]: ...


def _open(group: GroupView) -> bool:
    """Whether the group's escalation holds its alerts open (running, or out of steps with
    nobody having answered)."""
    escalation = group.escalation
    if escalation is None:
        return False
    return escalation.state in ("active", "done", "snoozed") or (
        escalation.state == "acked" and escalation.wake_at is not None
    )


def open_alerts(
    routing: RoutingConfig,
    groups: Sequence[GroupView],
    now: float,
    resolve_timeout: float,
    *,
    silences: Sequence[Silence] = (),
) -> list[OpenAlert]:
    """The alerts firing at ``now`` in ``groups``, newest first, each once per group (one per
    receiver it reaches) with its state: ``acknowledged`` (its group's escalation was), ``held``
    (muted now, or waiting for its group's timer: ``reason`` says which and when) or
    ``firing`` (its receiver was told). Alerts of routes that keep no state (``group_wait``
    and ``repeat_interval`` both ``0s``) are not kept, so not listed. ``silences``: those in
    force at ``now`` (an alert one mutes is ``held``, ``silenced by <id>...``)."""
    from notifykit.routing.silences import silencing
    from notifykit.routing.tree import interval_mute

    at = datetime.fromtimestamp(now, timezone.utc)
    firing = [
        m.alert
        for g in groups
        for m in g.members
        if not m.resolved(now, resolve_timeout, held_open=_open(g))
    ]
    rows: list[OpenAlert] = []
    for group in groups:
        escalation = _status(group.escalation, group.steps) if group.escalation else None
        for member in group.members:
            if member.resolved(now, resolve_timeout, held_open=_open(group)):
                continue
            alert = member.alert
            state, reason = "firing", None
            inhibition = routing.inhibition(alert, firing)
            muted = interval_mute(
                group.route.active_time_intervals,
                group.route.mute_time_intervals,
                at,
                routing.time_intervals,
            )
            if group.escalation is not None and group.escalation.state == "acked":
                state = "acknowledged"
                if group.escalation.wake_at is not None:
                    reason = f"re-opens at {_iso(group.escalation.wake_at)} unless resolved"
            elif group.escalation is not None and group.escalation.state == "snoozed":
                state = "acknowledged"
                reason = f"snoozed until {_iso(group.escalation.wake_at)}"
            elif inhibition is not None:
                state, reason = "held", inhibition.reason
            elif muted is not None:
                state, reason = "held", f"muted: {muted}"
            elif (silence := silencing(silences, alert, now)) is not None:
                state, reason = "held", silence.reason()
            elif group.entry is None or member.digest not in group.entry.firing:
                settings = group.route.settings
                timer = (
                    f"group_wait {format_duration(settings.group_wait)}"
                    if group.entry is None
                    else f"group_interval {format_duration(settings.group_interval)}"
                )
                when = f": goes out at {_iso(group.flush_due)}" if group.flush_due else ""
                state, reason = "held", f"waiting for {timer}{when}"
            rows.append(
                OpenAlert(
                    key=str(alert.key_for()),
                    event=alert.event,
                    severity=alert.severity,
                    labels=dict(alert.labels),
                    receiver=group.receiver,
                    group=str(group.key),
                    state=state,
                    reason=reason,
                    escalation=escalation,
                    first_seen=member.starts_at,
                    last_seen=member.last_raised,
                    alert=alert,
                )
            )
    rows.sort(key=lambda r: (-r.last_seen, r.receiver, r.key))
    return rows


def _status(record: _Escalation, steps: Sequence[_Step]) -> EscalationStatus:
    order = sorted(steps, key=lambda s: (s.due_at, s.loop, s.index))
    sent = [s for s in order if s.state == "sent"]
    pending = [s for s in order if s.state == "pending"] if record.state == "active" else []
    last = sent[-1] if sent else None
    upcoming = pending[0] if pending else None
    return EscalationStatus(
        id=record.id,
        policy=record.policy,
        state=record.state,
        step=f"{last.loop}.{last.index}" if last else None,
        next_step=f"{upcoming.loop}.{upcoming.index}" if upcoming else None,
        next_at=upcoming.due_at if upcoming else None,
        acked_by=record.acked_by,
    )
