"""The plan stage: what a receiver, or one step of an escalation, is sent for a group's alerts.

It chooses the template (the caller's, else the receiver's, else the event's, else
``defaults.template``), gives the template the routing variables (:func:`routing_variables`:
``labels``, ``alerts``, ``alert_key``, ``status``, ``receiver``, ``ack_url``) beside the caller's
data, never inside it, and lets the planner (:mod:`notifykit.plan`) render, check and prepare the notification. A route's or
receiver's ``priority`` then replaces the SMS priority the channel chose by severity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from notifykit.channels.base import severity_rank
from notifykit.routing.alert import Alert, AlertKey

if TYPE_CHECKING:
    from notifykit.plan.planner import Plan, Planner
    from notifykit.routing.escalation import Receiver

__all__ = ["Messages", "routing_variables"]


class Messages:
    """Plans the notification a receiver gets (``plan``)."""

    def __init__(
        self,
        planner: Planner,
        event_templates: Mapping[str, str | None],
        default_template: str | None,
        *,
        dry_run: bool = False,
        mark_receiver: bool = True,
    ) -> None:
        self._planner = planner
        self._event_templates = event_templates
        self._default_template = default_template
        self._dry_run = dry_run
        # an events:-only config's receivers are its defaults and events: not worth showing
        self._mark_receiver = mark_receiver

    def template_for(self, receiver: Receiver, event: str, template: str | None) -> str | None:
        return (
            template
            or receiver.template
            or self._event_templates.get(event)
            or self._default_template
        )

    def plan(
        self,
        receiver: Receiver,
        key: AlertKey,
        members: Sequence[Alert],
        alert: Alert,
        template: str | None = None,
        *,
        priority: str | None = None,
        ack_url: str | None = None,
        channels: Sequence[str] | None = None,
        to: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        due: float | None = None,
        fallback: Sequence[str] | None = None,
    ) -> Plan:
        """The notification ``receiver`` (or an escalation step: ``channels``/``to``) gets for
        ``members``, the group's alerts it tells of (``alert``: the one that made it go out).
        ``priority``: the route's, which wins over the receiver's. ``fallback``: an escalation
        step's alternatives (else the receiver's, else each channel's own)."""
        members = members or (alert,)
        severity = max((m.severity for m in members), key=severity_rank, default=alert.severity)
        result = self._planner.plan(
            alert.event,
            severity,
            alert.data,
            tuple(to if to is not None else receiver.to),
            tuple(channels if channels is not None else receiver.channels),
            self.template_for(receiver, alert.event, template),
            None,
            key=idempotency_key,
            dry_run=self._dry_run,
            due=due,
            routing=routing_variables(alert, members, key, receiver.name, ack_url),
            fallback=fallback if fallback is not None else receiver.fallback,
        )
        if self._mark_receiver:
            result = dataclasses.replace(result, receiver=receiver.name)
        chosen = priority or receiver.priority
        if chosen is None:
            return result
        # The route's (or receiver's) priority overrides what the channel chose by severity.
        jobs = tuple(
            dataclasses.replace(job, options={**job.options, "priority": chosen})
            if "priority" in job.options
            else job
            for job in result.jobs
        )
        return dataclasses.replace(result, jobs=jobs)


def routing_variables(
    alert: Alert, members: Sequence[Alert], key: AlertKey, receiver: str, ack_url: str | None
) -> dict[str, Any]:
    """What the templates of a routed notification see besides its data (which stays exactly
    what the caller passed): the one place these variables are made."""
    status = "resolved" if all(m.resolved for m in members) else "firing"
    return {
        "labels": dict(alert.labels),
        "alerts": [
            {
                "event": m.event,
                "severity": m.severity,
                "labels": dict(m.labels),
                "data": dict(m.data),
                "status": "resolved" if m.resolved else "firing",
                "key": str(m.key_for()),
            }
            for m in members
        ],
        "alert_key": str(key),
        "status": status,
        "alert_status": status,  # its first name, kept for the templates that use it
        "receiver": receiver,
        "ack_url": ack_url,
    }
