"""What ``notifykit alerts`` and :meth:`Notifier.alerts() <notifykit.Notifier.alerts>` show:
each open alert once per receiver it reaches, with its state and its escalation (as
``amtool alert query`` lists Alertmanager's alerts).

An open alert is one routed and not resolved. Its state for a receiver is ``acknowledged`` (the
receiver's escalation for its group was acknowledged), ``held`` (nothing goes out for it there
now: inhibited, muted by a time interval, waiting for ``group_wait``/``group_interval``, or never
sent there because it was muted when it fired; ``reason`` says which) or ``firing``. Built from the
routes of the current config and what the ledger remembers
(:class:`~notifykit.ledger.routing.RoutingSnapshot`); nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from notifykit.routing.alert import Alert, AlertKey
from notifykit.routing.tree import format_duration

if TYPE_CHECKING:
    from notifykit.ledger.routing import (
        EscalationRecord,
        GroupRecord,
        RoutingSnapshot,
        StepRecord,
    )
    from notifykit.routing.inhibit import Inhibition
    from notifykit.routing.model import RoutingConfig
    from notifykit.routing.tree import RouteMatch

__all__ = ["ALERT_STATES", "EscalationStatus", "OpenAlert", "open_alerts"]

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
    :data:`ALERT_STATES`; ``reason`` says why it is ``held`` (``None`` otherwise).
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


def open_alerts(
    routing: RoutingConfig, snapshot: RoutingSnapshot, now: float, *, window: float
) -> list[OpenAlert]:
    """The open alerts of ``snapshot`` (newest first), each once per receiver it reaches by
    the current routes, in route order; then the running escalations of groups the routes no
    longer reach (the config changed under them). ``window``: how long an unresolved alert
    keeps inhibiting others (as when routing)."""
    at = datetime.fromtimestamp(now, timezone.utc)
    firing = [r.alert for r in snapshot.alerts if r.last_seen >= now - window]
    rows: list[OpenAlert] = []
    shown: set[tuple[str, str]] = set()  # (receiver, group digest)
    for record in snapshot.alerts:
        alert = record.alert
        inhibition = routing.inhibition(alert, firing)
        reached: list[str] = []
        for match in routing.route(alert):
            if match.receiver in reached:
                continue
            reached.append(match.receiver)
            pair = (match.receiver, match.key.digest)
            shown.add(pair)
            found = snapshot.escalations.get(pair)
            escalation = _status(*found) if found else None
            state, reason = _state(
                routing, match, at, alert, inhibition, snapshot.groups.get(pair), escalation
            )
            seen = (record.first_seen, record.last_seen)
            rows.append(
                _row(alert, match.receiver, str(match.key), state, reason, escalation, seen)
            )
    for pair, (escalation_record, steps) in snapshot.escalations.items():
        if pair in shown:
            continue
        receiver = pair[0]
        escalation = _status(escalation_record, steps)
        state = "acknowledged" if escalation.state == "acked" else "firing"
        started = escalation_record.started_at
        alert = escalation_record.alert
        group = str(AlertKey(escalation_record.key))
        rows.append(_row(alert, receiver, group, state, None, escalation, (started, started)))
    return rows


def _row(
    alert: Alert,
    receiver: str,
    group: str,
    state: str,
    reason: str | None,
    escalation: EscalationStatus | None,
    seen: tuple[float, float],
) -> OpenAlert:
    return OpenAlert(
        key=str(alert.key_for()),
        event=alert.event,
        severity=alert.severity,
        labels=dict(alert.labels),
        receiver=receiver,
        group=group,
        state=state,
        reason=reason,
        escalation=escalation,
        first_seen=seen[0],
        last_seen=seen[1],
        alert=alert,
    )


def _state(
    routing: RoutingConfig,
    match: RouteMatch,
    at: datetime,
    alert: Alert,
    inhibition: Inhibition | None,
    group: GroupRecord | None,
    escalation: EscalationStatus | None,
) -> tuple[str, str | None]:
    if escalation is not None and escalation.state == "acked":
        return "acknowledged", None
    if inhibition is not None:
        return "held", inhibition.reason
    muted = routing.tree.mute_reason(match, at)
    if muted is not None:
        return "held", f"muted: {muted}"
    settings = match.settings
    digest = alert.key_for().digest
    if group is not None and digest in group.members:
        joined = group.members[digest]
        if group.flush_due is not None and (group.last_sent is None or joined > group.last_sent):
            if group.last_sent is None:
                timer = f"group_wait {format_duration(settings.group_wait)}"
            else:
                timer = f"group_interval {format_duration(settings.group_interval)}"
            return "held", f"waiting for {timer}: goes out at {_iso(group.flush_due)}"
        return "firing", None
    policy = routing.escalation_of(routing.receivers[match.receiver])
    stateless = policy is None and settings.group_wait == 0 and settings.repeat_interval == 0
    if stateless:
        return "firing", None  # a route that keeps no state sends every alert at once
    return "held", "never sent to this receiver (muted or inhibited when it fired, or refused)"


def _status(record: EscalationRecord, steps: Sequence[StepRecord]) -> EscalationStatus:
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
