"""Explaining: what the pipeline would do with an alert at a moment, sending nothing
(``notifykit routes test``, ``kit.explain()``). The walk is :func:`notifykit.routing.explain.explain`
(pure); this stage gives it the firing alerts (for inhibition), the silences in force and
each channel's own description of its deliveries (its ``describe``: sender and priority, in its
terms)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from notifykit.errors import NotificationError, NotifykitError
from notifykit.routing.alert import Alert

if TYPE_CHECKING:
    from notifykit.channels.base import Channel, Recipient
    from notifykit.oncall import OnCall
    from notifykit.routing.escalation import Receiver
    from notifykit.routing.explain import Explanation
    from notifykit.routing.model import RoutingConfig
    from notifykit.routing.silences import Silence

__all__ = ["Explainer", "describe_channel"]


class Explainer:
    """``explain(event, ...)``: the routes, receivers and deliveries an alert would reach."""

    def __init__(
        self,
        *,
        routing: RoutingConfig,
        channels: Mapping[str, Channel],
        resolve_recipients: Callable[[Sequence[str]], list[Recipient]],
        firing: Callable[[float], Sequence[Alert]] | None,
        default_severity: Callable[[str], str],
        clock: Callable[[], float],
        on_call: Callable[[str, float], OnCall] | None = None,
        silences: Callable[[float], Sequence[Silence]] | None = None,
        fallbacks: Callable[[str, Sequence[str] | None], Sequence[str]] | None = None,
    ) -> None:
        self._routing = routing
        self._fallbacks = fallbacks or (lambda channel, instead: ())
        self._channels = channels
        self._resolve = resolve_recipients
        self._firing = firing
        self._silences = silences
        self._default_severity = default_severity
        self._clock = clock
        self._on_call = on_call

    def __call__(
        self,
        event: str,
        *,
        severity: str | None = None,
        labels: Mapping[str, str] | None = None,
        at: datetime | None = None,
        resolved: bool = False,
    ) -> Explanation:
        from notifykit.routing.explain import explain

        try:
            alert = Alert(
                event, severity or self._default_severity(event), labels or {}, resolved=resolved
            )
        except ValueError as err:
            raise NotificationError(str(err)) from None
        when = at or datetime.fromtimestamp(self._clock(), timezone.utc)
        if when.tzinfo is None:
            raise NotificationError("at= must be an aware datetime (with a time zone)")
        firing: Sequence[Alert] = ()
        if self._routing.inhibit_rules and self._firing is not None:
            firing = self._firing(when.timestamp())
        silences = self._silences(when.timestamp()) if self._silences is not None else ()
        found = explain(
            self._routing,
            alert,
            when,
            firing=firing,
            describe_delivery=self.describe_delivery,
            silences=silences,
        )
        if self._on_call is None or not any(_schedule(d["to"]) for d in found.deliveries):
            return found
        deliveries = tuple(self._who(d, when) for d in found.deliveries)
        return dataclasses.replace(found, deliveries=deliveries)

    def _who(self, delivery: Mapping[str, Any], when: datetime) -> Mapping[str, Any]:
        """A delivery to ``schedule:NAME`` with who is on call when it would go out (a step's
        due time, else ``when``): ``oncall: {"who", "layer", "override"}`` and their
        address."""
        name = _schedule(delivery["to"])
        if name is None or self._on_call is None:
            return delivery
        due = delivery.get("due")
        moment = datetime.fromisoformat(due) if isinstance(due, str) else when
        try:
            answer = self._on_call(name, moment.timestamp())
        except NotifykitError as err:
            return {**delivery, "oncall": {"error": str(err)}}
        address = None
        if answer.who is not None:
            try:
                people = self._resolve([answer.who])
            except NotifykitError:
                people = []
            address = people[0].phone if people else None
        oncall = {"who": answer.who, "layer": answer.layer, "override": answer.override}
        return {**delivery, "address": address, "oncall": oncall}

    def describe_delivery(
        self, receiver: Receiver, channel: str, recipient: str, severity: str
    ) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        """What ``channel`` would use for ``severity``: its sender (``from``) and priority, per
        person when ``recipient`` is a group."""
        instance = self._channels.get(channel)
        described = (
            describe_channel(instance, severity)
            if instance is not None
            else {"from": None, "priority": None}
        )
        if receiver.priority:
            described = {**described, "priority": receiver.priority}
        chain = self._fallbacks(channel, receiver.fallback)
        if chain:  # docs/failover.md: where it goes if this channel certainly cannot send it
            described = {**described, "fallback": list(chain)}
        if _schedule(recipient) is not None:
            return described  # who it reaches depends on when: see _who
        try:
            people = self._resolve([recipient])
        except NotifykitError:
            return described
        if len(people) == 1 and people[0].label == recipient:
            return {**described, "address": people[0].phone}
        return [{**described, "to": p.label, "address": p.phone, "via": recipient} for p in people]


def _schedule(target: str) -> str | None:
    """The schedule a ``schedule:NAME`` target names (``None``: another kind of target)."""
    prefix = "schedule:"
    return target[len(prefix) :] if target.startswith(prefix) else None


def describe_channel(channel: Channel, severity: str) -> dict[str, Any]:
    """What ``channel`` says a delivery of ``severity`` would use, through its optional
    :class:`~notifykit.channels.Describer` capability: ``from`` and ``priority`` (``None`` when
    it has none, or no ``describe``), then whatever else it shows. The core guesses no
    provider's option or setting names."""
    from notifykit.channels.base import Describer, Message

    if not isinstance(channel, Describer):
        return {"from": None, "priority": None}
    message = Message(event="routes.test", severity=severity, text="routes test")
    found = dict(channel.describe(message))
    return {"from": found.pop("from", None), "priority": found.pop("priority", None), **found}
