"""What routing would do with an alert, without sending: ``notifykit routes test`` and
``notifykit routes tree``.

:func:`explain` walks the tree, applies inhibition, time intervals and silences at a given moment, and lists
every delivery that would be made. :meth:`Explanation.to_dict` is the shape the CLI prints with
``--json`` (:meth:`Explanation.to_json` is the same as a JSON string)::

    {"key": "db.down{host=db1}",
     "receivers": ["dba", "page-primary"],            # each receiver reached, once, in order
     "routes": [{"path": "route.routes[0]", "receiver": "dba", "matchers": [...], ...}],
     "deliveries": [{"receiver": "dba", "channel": "sms", "to": "dba-team",
                     "from": "...", "priority": "high", ...}],
     "muted": [{"receiver": "oncall-sms", "reason": "outside its active_time_intervals (...)"}],
     "silenced_by": null}                             # or the silence that mutes it

Which sender (ExoPhone) and priority a channel picks for a severity is the channel layer's
business, so the caller passes ``describe_delivery``; without it deliveries carry ``from: null``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from notifykit.routing.alert import Alert
from notifykit.routing.escalation import Receiver, plan
from notifykit.routing.model import RoutingConfig
from notifykit.routing.silences import Silence, silencing
from notifykit.routing.tree import RouteMatch, format_duration

__all__ = ["DescribeDelivery", "Explanation", "explain", "render_tree"]

#: ``describe_delivery(receiver, channel, recipient, severity)``: what the channel layer would
#: send (``{"from": ..., "priority": ..., ...}``), or one such mapping per person when
#: ``recipient`` is a group. ``receiver.priority`` is already the effective priority (the
#: route's if it sets one, else the receiver's).
DescribeDelivery = Callable[
    [Receiver, str, str, str], Mapping[str, Any] | Sequence[Mapping[str, Any]]
]


@dataclass(frozen=True)
class Explanation:
    """Everything :func:`explain` found; :meth:`to_dict` is the ``routes test --json`` shape."""

    key: str
    receivers: tuple[str, ...]
    routes: tuple[Mapping[str, Any], ...]
    deliveries: tuple[Mapping[str, Any], ...]
    muted: tuple[Mapping[str, str], ...]
    alert: Alert
    at: datetime
    #: the silence that mutes the alert at ``at`` (Alertmanager's silences), if any
    silenced_by: Silence | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``routes test --json`` shape: plain JSON values (dicts, lists, strings, numbers)."""
        return {
            "key": self.key,
            "receivers": list(self.receivers),
            "routes": [dict(r) for r in self.routes],
            "deliveries": [dict(d) for d in self.deliveries],
            "muted": [dict(m) for m in self.muted],
            "silenced_by": None if self.silenced_by is None else self.silenced_by.to_dict(),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def text(self) -> str:
        """A readable report: which routes matched and why, what would be sent, what is muted."""
        alert = self.alert
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
        lines = [
            f"alert {alert.event} ({alert.severity}{', resolved' if alert.resolved else ''})"
            + (f" labels {labels}" if labels else ""),
            f"at {self.at.isoformat()}",
            f"key {self.key}",
            "routes:",
        ]
        for route in self.routes:
            why = ", ".join(route["matchers"]) or "the root (matches everything)"
            state = f" - muted: {route['muted']}" if route["muted"] else ""
            cont = " (continue)" if route["continue"] else ""
            lines.append(f"  {route['path']} -> {route['receiver']}{cont}: {why}{state}")
        lines.append("would send:" if self.deliveries else "would send nothing")
        for d in self.deliveries:
            when = f" after {format_duration(d['after'])}" if "after" in d else ""
            if "step" in d:
                step = f" [escalation {d['escalation']} step {d['step']}, round {d['loop']}]"
            elif "escalation" in d:  # a resolved alert: who the escalation may have reached
                step = f" [escalation {d['escalation']}: resolved]"
            else:
                step = ""
            sender = f" from {d['from']}" if d.get("from") else ""
            priority = f" priority {d['priority']}" if d.get("priority") else ""
            chain = d.get("fallback")
            fallback = f", falling over to {' then '.join(chain)}" if chain else ""
            lines.append(
                f"  {d['channel']} to {_to(d)}{sender}{priority}{when} "
                f"(receiver {d['receiver']}){step}{fallback}"
            )
        for m in self.muted:
            lines.append(f"muted: {m['receiver']}: {m['reason']}")
        if self.silenced_by is not None:
            silence = self.silenced_by
            lines.append(
                f"silenced by {silence.id}: {', '.join(str(m) for m in silence.matchers)} "
                f"(notifykit silence expire {silence.id} lifts it)"
            )
        return "\n".join(lines)


def _to(delivery: Mapping[str, Any]) -> str:
    """Whom a delivery goes to, as the report says it: a schedule with who is on call then
    (``schedule:primary → alice (layer 0)``, ``→ bob (override)``, ``→ nobody on call``)."""
    oncall = delivery.get("oncall")
    if not isinstance(oncall, Mapping):
        return str(delivery["to"])
    if "error" in oncall:
        return f"{delivery['to']} ({oncall['error']})"
    if oncall.get("who") is None:
        return f"{delivery['to']} → nobody on call (skipped)"
    why = "override" if oncall.get("override") else f"layer {oncall.get('layer')}"
    return f"{delivery['to']} → {oncall['who']} ({why})"


def _no_description(
    receiver: Receiver, channel: str, recipient: str, severity: str
) -> Mapping[str, Any]:
    return {"from": None, "priority": receiver.priority}


def explain(
    routing: RoutingConfig,
    alert: Alert,
    at: datetime,
    *,
    firing: Iterable[Alert] = (),
    describe_delivery: DescribeDelivery | None = None,
    silences: Sequence[Silence] = (),
) -> Explanation:
    """What routing does with ``alert`` at ``at`` (aware), given the ``firing`` alerts (for
    inhibition) and the ``silences`` in force. Pure: nothing is sent or stored.

    :raises ValueError: ``at`` is naive.
    """
    if at.tzinfo is None:
        raise ValueError("explain() needs an aware time (with a tzinfo), not a naive one")
    describe = describe_delivery or _no_description
    matches = routing.route(alert)
    inhibition = routing.inhibition(alert, firing)
    silence = silencing(silences, alert, at.timestamp())
    routes: list[dict[str, Any]] = []
    reasons: dict[int, str | None] = {}
    for index, match in enumerate(matches):
        reason = inhibition.reason if inhibition else routing.tree.mute_reason(match, at)
        if reason is None and silence is not None:
            reason = silence.reason()
        if reason is None and alert.resolved and not match.settings.send_resolved:
            reason = "the alert is resolved and the route does not send_resolved"
        reasons[index] = reason
        routes.append(_route_json(match, reason))
    receivers: list[str] = []
    first_match: dict[str, RouteMatch] = {}
    for index, match in enumerate(matches):
        if reasons[index] is None and match.receiver not in receivers:
            receivers.append(match.receiver)
            first_match[match.receiver] = match
    muted: list[dict[str, str]] = []
    for index, match in enumerate(matches):
        reason = reasons[index]
        if reason is None or match.receiver in receivers:
            continue
        if all(m["receiver"] != match.receiver for m in muted):
            muted.append({"receiver": match.receiver, "reason": reason})
    deliveries: list[dict[str, Any]] = []
    for name in receivers:
        match = first_match[name]
        receiver = routing.receivers[name]
        effective = replace(receiver, priority=match.settings.priority or receiver.priority)
        deliveries.extend(_deliveries(routing, effective, alert, at, describe))
    key = str(matches[0].key) if matches else str(alert.key_for())
    return Explanation(
        key=key,
        receivers=tuple(receivers),
        routes=tuple(routes),
        deliveries=tuple(deliveries),
        muted=tuple(muted),
        alert=alert,
        at=at,
        silenced_by=silence,
    )


def _route_json(match: RouteMatch, reason: str | None) -> dict[str, Any]:
    return {
        "path": match.path,
        "receiver": match.receiver,
        "matchers": [str(m) for m in match.matchers],
        "continue": match.continue_,
        "key": str(match.key),
        **{k: v for k, v in match.settings.to_dict().items() if k != "receiver"},
        "mute_time_intervals": list(match.mute_time_intervals),
        "active_time_intervals": list(match.active_time_intervals),
        "muted": reason,
    }


def _deliveries(
    routing: RoutingConfig,
    receiver: Receiver,
    alert: Alert,
    at: datetime,
    describe: DescribeDelivery,
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []

    def add(
        channel: str, recipient: str, extra: Mapping[str, Any], who: Receiver = receiver
    ) -> None:
        described = describe(who, channel, recipient, alert.severity)
        for item in [described] if isinstance(described, Mapping) else list(described):
            entry: dict[str, Any] = {
                "receiver": receiver.name,
                "channel": channel,
                "to": recipient,
                "from": None,
                "priority": receiver.priority,
                "template": receiver.template,
            }
            entry.update(item)
            entry.update(extra)
            result.append(entry)

    policy = routing.escalation_of(receiver)
    if policy is None:
        for channel in receiver.channels:
            for recipient in receiver.to:
                add(channel, recipient, {})
        return result
    if alert.resolved:
        # A resolved message goes to those the escalation may have reached (the notifier,
        # which knows from the ledger who was reached, should narrow this to them).
        seen: list[tuple[str, str]] = []
        for configured in policy.steps:
            for channel in configured.channels:
                for recipient in configured.to:
                    if (channel, recipient) not in seen:
                        seen.append((channel, recipient))
        for channel, recipient in seen:
            add(channel, recipient, {"escalation": policy.name})
        return result
    for step in plan(policy, at):
        # a step's own fallback, if it names one, is what its deliveries fall over to
        alternatives = policy.steps[step.index].fallback
        who = receiver if alternatives is None else replace(receiver, fallback=alternatives)
        for channel in step.channels:
            for recipient in step.to:
                add(
                    channel,
                    recipient,
                    {
                        "escalation": policy.name,
                        "step": step.index,
                        "loop": step.loop,
                        "after": (step.due - at).total_seconds(),
                        "due": step.due.isoformat(),
                    },
                    who,
                )
    return result


def render_tree(routing: RoutingConfig) -> str:
    """The route tree as text, each receiver with what it sends (``notifykit routes tree``)."""
    described = {}
    for name, receiver in routing.receivers.items():
        if receiver.escalation:
            described[name] = f"escalation {receiver.escalation}"
        else:
            described[name] = f"{', '.join(receiver.channels)} -> {', '.join(receiver.to)}"
    return routing.tree.render(described)
