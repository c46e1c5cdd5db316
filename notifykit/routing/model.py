"""The validated routing sections (:class:`RoutingConfig`) and the implicit tree of an
``events:``-only config (:meth:`RoutingConfig.from_events`).

Kept apart from the loader (:mod:`notifykit.routing.config`), which needs YAML, the converter, time
intervals and inhibition: an ``events:``-only config builds its routes from this module, the tree
and the receivers alone, so a first ``notify()`` does not import what it never uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, get_args

from notifykit.routing.matchers import Matcher
from notifykit.routing.receiver import Receiver
from notifykit.routing.tree import DEFAULT_SETTINGS, Route, RouteMatch, RouteSettings, RouteTree

if TYPE_CHECKING:
    from notifykit.routing.alert import Alert
    from notifykit.routing.escalation import EscalationPolicy
    from notifykit.routing.inhibit import Inhibition, InhibitRule
    from notifykit.routing.timeintervals import TimeInterval

__all__ = ["PRIORITIES", "ROUTING_SECTIONS", "Priority", "RoutingConfig"]

#: the top-level sections :func:`load_routing` reads (the config loader must accept them)
ROUTING_SECTIONS: tuple[str, ...] = (
    "receivers",
    "route",
    "inhibit_rules",
    "time_intervals",
    "escalations",
)
#: a receiver's or route's ``priority``: the SMS priority channels send with
Priority = Literal["normal", "high"]
PRIORITIES: tuple[str, ...] = get_args(Priority)


@dataclass(frozen=True)
class RoutingConfig:
    """The validated routing sections. Build with :func:`load_routing` or :meth:`from_events`."""

    tree: RouteTree
    receivers: Mapping[str, Receiver]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    escalations: Mapping[str, EscalationPolicy] = field(default_factory=dict)
    #: ``True`` when built from an ``events:``-only config
    implicit: bool = False
    #: how long an alert that is not raised again stays firing (Alertmanager's resolve_timeout)
    resolve_timeout: float = 300.0

    @property
    def time_intervals(self) -> Mapping[str, TimeInterval]:
        return self.tree.time_intervals

    def route(self, alert: Alert) -> list[RouteMatch]:
        """The routes that receive ``alert``, in order."""
        return self.tree.route(alert)

    def inhibition(self, alert: Alert, firing: Iterable[Alert]) -> Inhibition | None:
        """The rule and firing alert that mute ``alert``, or ``None``."""
        if not self.inhibit_rules:
            return None  # an events:-only config has none: inhibition is not even imported
        from notifykit.routing.inhibit import inhibited_by

        return inhibited_by(self.inhibit_rules, alert, firing)

    def receiver(self, name: str) -> Receiver:
        return self.receivers[name]

    def escalation_of(self, receiver: Receiver) -> EscalationPolicy | None:
        return self.escalations[receiver.escalation] if receiver.escalation else None

    def named_events(self) -> set[str]:
        """Events named by an ``event="..."`` matcher: with ``events:``, what tells the loader
        an event is known (``config check --strict-events``)."""
        names = set()
        for node in self.tree.walk():
            for matcher in node.matchers:
                if matcher.name == "event" and matcher.op == "=":
                    names.add(matcher.value)
        return names

    def names_event(self, event: str) -> bool:
        """Whether some route names ``event`` with a positive ``event`` matcher (``=`` or
        ``=~``) that it passes: with the ``events:`` section, what makes an event "known" for
        the report and ``config check --strict-events``."""
        return any(
            matcher.name == "event"
            and matcher.op in ("=", "=~")
            and matcher.matches({"event": event})
            for node in self.tree.walk()
            for matcher in node.matchers
        )

    @classmethod
    def from_events(
        cls,
        events: Mapping[str, EventLike],
        defaults: DefaultsLike,
        *,
        settings: RouteSettings = DEFAULT_SETTINGS,
    ) -> RoutingConfig:
        """The implicit tree of an ``events:``-only config.

        The root's receiver (``defaults``) is the ``defaults:`` channels and recipients; each
        event with its own ``channels`` or ``to`` gets a receiver ``events.<name>`` (what it
        leaves unset comes from the defaults, as before) and a route matching ``event="<name>"``.
        Events that only set a template or severity route to the defaults. ``settings`` gives
        the root's timers (the in-app defaults unless the caller says otherwise).
        """
        receivers: dict[str, Receiver] = {
            "defaults": Receiver(
                "defaults", tuple(defaults.channels), tuple(defaults.to), path="defaults"
            )
        }
        routes: list[Route] = []
        for name, event in events.items():
            if event.channels is None and event.to is None:
                continue
            receiver = f"events.{name}"
            receivers[receiver] = Receiver(
                receiver,
                tuple(event.channels if event.channels is not None else defaults.channels),
                tuple(event.to if event.to is not None else defaults.to),
                template=event.template,
                path=f"events.{name}",
            )
            routes.append(
                Route(
                    receiver=receiver,
                    matchers=(Matcher("event", "=", name),),
                    path=f"route.routes[{len(routes)}]",
                )
            )
        root = Route(receiver="defaults", routes=tuple(routes))
        tree = RouteTree(root, defaults=_root_defaults(settings))
        return cls(tree=tree, receivers=receivers, implicit=True)


def _root_defaults(settings: RouteSettings) -> RouteSettings:
    return (
        settings
        if settings.receiver
        else RouteSettings(
            receiver="defaults",
            group_by=settings.group_by,
            group_wait=settings.group_wait,
            group_interval=settings.group_interval,
            repeat_interval=settings.repeat_interval,
            send_resolved=settings.send_resolved,
            priority=settings.priority,
        )
    )


class EventLike(Protocol):
    """What :meth:`RoutingConfig.from_events` reads of an ``events:`` entry."""

    @property
    def channels(self) -> tuple[str, ...] | None: ...
    @property
    def to(self) -> tuple[str, ...] | None: ...
    @property
    def template(self) -> str | None: ...


class DefaultsLike(Protocol):
    """What :meth:`RoutingConfig.from_events` reads of the ``defaults:`` section."""

    @property
    def channels(self) -> tuple[str, ...]: ...
    @property
    def to(self) -> tuple[str, ...]: ...
