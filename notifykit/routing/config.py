"""Loading the routing sections of ``notifykit.yaml``: ``receivers:``, ``route:``,
``inhibit_rules:``, ``time_intervals:`` and ``escalations:``.

:func:`load_routing` reads them with the one converter (:mod:`notifykit.config.convert`) into
the settings classes declared here (:class:`RouteConfig`, :class:`ReceiverConfig`...), so every
problem carries the file, line and key path, unknown keys get a "did you mean", and every reference
is checked once all sections are read: a route naming an unknown receiver or time interval, a
receiver naming an unknown escalation, and (through what the caller passes in) unknown channels and
recipients. :meth:`RoutingConfig.from_events` builds the implicit tree of a config that has only
``events:``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import ClassVar

import yaml

from notifykit.config.convert import convert, named_items
from notifykit.config.schema import INVALID, Checker, did_you_mean, join
from notifykit.config.settings import NAME_PATTERN, Duration, Settings, Target, setting
from notifykit.errors import ConfigProblem
from notifykit.routing.alert import ALL_LABELS
from notifykit.routing.escalation import EscalationPolicy, EscalationStep, Keys, Receiver
from notifykit.routing.inhibit import InhibitRule
from notifykit.routing.lifecycle import DEFAULT_RESOLVE_TIMEOUT
from notifykit.routing.matchers import Matcher, parse_matchers
from notifykit.routing.model import PRIORITIES, ROUTING_SECTIONS, Priority, RoutingConfig
from notifykit.routing.timeintervals import (
    DayRange,
    TimeInterval,
    TimeIntervalEntry,
    parse_days_of_month,
    parse_location,
    parse_months,
    parse_time_range,
    parse_weekdays,
    parse_years,
)
from notifykit.routing.tree import Route, RouteTree

__all__ = [
    "PRIORITIES",
    "ROUTING_SECTIONS",
    "EscalationConfig",
    "InhibitRuleConfig",
    "ReceiverConfig",
    "RouteConfig",
    "RoutingConfig",
    "StepConfig",
    "TimeIntervalEntryConfig",
    "TimeRangeConfig",
    "load_routing",
]

_LABEL = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME = "a name (letters, digits, _ . -, starting with a letter or _)"
_MATCHER = 'a matcher such as severity="critical" (or several: {a="x", b="y"})'


def _matchers(text: str) -> tuple[Matcher, ...]:
    """One ``matchers:`` item: one matcher, or several in braces (``{a="x", b="y"}``)."""
    return tuple(parse_matchers(text))


def _flat(items: Iterable[tuple[Matcher, ...]]) -> tuple[Matcher, ...]:
    return tuple(matcher for item in items for matcher in item)


def _group_by_alone(labels: tuple[str, ...]) -> list[str]:
    if ALL_LABELS in labels and len(labels) > 1:
        return ["'...' means every label and must be alone: group_by: ['...']"]
    return []


# -- the sections, declared ----------------------------------------------------------------------


def _fallback_override() -> tuple[str, ...] | None:
    """A receiver's or a step's ``fallback``: the channels its deliveries fall over to, instead
    of each channel's own (a new setting each time it is declared)."""
    found: tuple[str, ...] | None = setting(
        default=None,
        ref="channel",
        one_or_many=True,
        doc="where its deliveries fall over to, instead of each channel's own fallback "
        "(failover.md); [] for none",
    )
    return found


class ReceiverConfig(Settings):
    """A ``receivers:`` entry: ``channels`` and ``to``, or an ``escalation``."""

    channels: tuple[str, ...] | None = setting(
        default=None,
        ref="channel",
        one_or_many=True,
        min_items=1,
        doc="the channels it sends through",
    )
    to: tuple[Target, ...] | None = setting(
        default=None, one_or_many=True, min_items=1, doc="recipients, groups or phone numbers"
    )
    template: str | None = setting(default=None, doc="overrides the event's template")
    priority: Priority | None = setting(default=None, doc="the SMS priority")
    escalation: str | None = setting(
        default=None,
        ref="escalation",
        pattern=NAME_PATTERN,
        expected=_NAME,
        doc="an escalation (whose steps name their channels) instead of channels and to",
    )
    fallback: tuple[str, ...] | None = _fallback_override()

    def __post_init__(self) -> None:
        direct = self.channels is not None or self.to is not None
        if self.escalation is not None and direct:
            raise ValueError(
                "a receiver sends either through channels: and to:, or through an "
                "escalation: (whose steps name their channels), not both; remove one"
            )
        if self.escalation is None and (self.channels is None or self.to is None):
            if not direct:
                raise ValueError("a receiver needs channels: and to:, or escalation: NAME")
            missing = "to:" if self.channels is not None else "channels:"
            raise ValueError(
                f"missing {missing}: a receiver with channels needs to: and vice versa"
            )


class StepConfig(Settings):
    """One step of an escalation."""

    after: Duration = setting(doc="from the start of the escalation")
    channels: tuple[str, ...] = setting(
        ref="channel", one_or_many=True, min_items=1, doc="the channels it sends through"
    )
    to: tuple[Target, ...] = setting(
        one_or_many=True, min_items=1, doc="recipients, groups or phone numbers"
    )
    fallback: tuple[str, ...] | None = _fallback_override()


_KEY = r"[0-9*#]"
_ONE_KEY = "one key: 0-9, * or #"


class KeysConfig(Settings):
    """An escalation's ``keys:``: what a paged person presses on a call that takes keys."""

    ack: str | None = setting(
        default="1", pattern=_KEY, expected=_ONE_KEY, doc="acknowledges (null: no key does)"
    )
    escalate: str | None = setting(
        default="2",
        pattern=_KEY,
        expected=_ONE_KEY,
        doc="sends the page to the next step now (null: no key does)",
    )
    resolve: str | None = setting(
        default="3", pattern=_KEY, expected=_ONE_KEY, doc="resolves the alert (null: no key does)"
    )
    snooze: str | None = setting(
        default=None,
        pattern=_KEY,
        expected=_ONE_KEY,
        doc="pauses the escalation for snooze_for, as ack --snooze (default: no key does)",
    )
    snooze_for: Duration = setting(
        default=30 * 60.0,
        min=1.0,
        max=7 * 86400.0,
        doc="how long the snooze key pauses the escalation",
    )
    instructions: str | None = setting(
        default=None,
        doc='what the call says after the alert (default: "Press 1 to acknowledge, 2 to send '
        'it to the next person, 3 to resolve.", from the keys)',
    )

    def __post_init__(self) -> None:
        given = [k for k in (self.ack, self.escalate, self.resolve, self.snooze) if k is not None]
        if len(set(given)) != len(given):
            raise ValueError("two actions have the same key: give each its own")


class EscalationConfig(Settings):
    """An ``escalations:`` entry."""

    steps: tuple[StepConfig, ...] = setting(
        min_items=1, unique=False, doc="the steps, in order of after"
    )
    repeat: int = setting(
        default=0, min=0, max=100, doc="run the steps again this many times (0: once)"
    )
    repeat_every: Duration | None = setting(
        default=None, min=1.0, doc="each round starts this long after the one before"
    )
    ack_on_answer: bool = setting(
        default=False,
        doc="an answered call counts as acknowledgement (weaker than keys: voicemail answers "
        "too); not when keys is set",
    )
    keys: KeysConfig | None = setting(
        default=None,
        doc="keys pressed on a paging call that takes them (a provider's flow): ack, escalate, "
        "resolve, snooze; set, an answered call alone does not acknowledge",
    )
    ack_timeout: Duration | None = setting(
        default=None, min=1.0, doc="an acknowledged alert not resolved by then re-opens"
    )


class InhibitRuleConfig(Settings):
    """An ``inhibit_rules:`` entry."""

    source_matchers: tuple[tuple[Matcher, ...], ...] = setting(
        parse=_matchers,
        expected=_MATCHER,
        one_or_many=True,
        unique=False,
        doc="the alerts that inhibit",
    )
    target_matchers: tuple[tuple[Matcher, ...], ...] = setting(
        parse=_matchers,
        expected=_MATCHER,
        one_or_many=True,
        unique=False,
        doc="the alerts they inhibit",
    )
    equal: tuple[str, ...] = setting(
        default=(),
        pattern=_LABEL,
        expected="a label name (letters, digits and _)",
        doc="labels both must have the same value of",
    )


class TimeRangeConfig(Settings):
    """An entry of a time interval's ``times:``."""

    start_time: str = setting(doc="HH:MM, inclusive")
    end_time: str = setting(doc="HH:MM (24:00 allowed), exclusive")

    def __post_init__(self) -> None:
        parse_time_range(self.start_time, self.end_time)  # its TimeIntervalError is the problem


class TimeIntervalEntryConfig(Settings):
    """An entry of a ``time_intervals:`` list (Alertmanager's format)."""

    times: tuple[TimeRangeConfig, ...] = setting(default=(), unique=False, doc="times of day")
    weekdays: tuple[DayRange, ...] = setting(
        default=(),
        parse=parse_weekdays,
        expected="a weekday or range (monday:friday)",
        unique=False,
        doc="days of the week",
    )
    days_of_month: tuple[DayRange, ...] = setting(
        default=(),
        parse=parse_days_of_month,
        expected="a day of the month or range (1:7, -1)",
        unique=False,
        doc="days of the month (negative: from the end)",
    )
    months: tuple[DayRange, ...] = setting(
        default=(),
        parse=parse_months,
        expected="a month or range (january:march, 1:3)",
        unique=False,
        doc="months",
    )
    years: tuple[DayRange, ...] = setting(
        default=(),
        parse=parse_years,
        expected="a year or range (2026:2027)",
        unique=False,
        doc="years",
    )
    location: str | None = setting(
        default=None,
        parse=parse_location,
        expected="an IANA time zone (Asia/Kolkata)",
        doc="the time zone of the times (default Asia/Kolkata)",
    )


def _deprecated(key: str) -> str:
    return (
        f"{key}: is Alertmanager's deprecated form: write matchers: "
        "['label=\"value\"'] (or 'label=~\"regex\"')"
    )


class RouteConfig(Settings):
    """``route:``, the root route every alert enters, and each of its ``routes:``. What a route
    leaves unset it takes from its parent."""

    receiver: str | None = setting(
        default=None,
        ref="receiver",
        pattern=NAME_PATTERN,
        expected=_NAME,
        doc="who gets the alerts it takes (the root route must name one)",
    )
    group_by: tuple[str, ...] | None = setting(
        default=None,
        pattern=r"[A-Za-z_][A-Za-z0-9_]*|\.\.\.",
        expected="a label name, or '...' for every label",
        min_items=1,
        check=_group_by_alone,
        doc="the labels that make an alert's group",
    )
    group_wait: Duration | None = setting(
        default=None, max=86400.0, doc="how long a new group waits for more alerts"
    )
    group_interval: Duration | None = setting(
        default=None, min=1.0, max=7 * 86400.0, doc="how long a changed group waits"
    )
    # 0s is an extension: every alert is sent (no dedup); Alertmanager refuses 0.
    repeat_interval: Duration | None = setting(
        default=None, max=365 * 86400.0, doc="when an unchanged group is sent again (0s: always)"
    )
    continue_: bool = setting(
        default=False, doc="go on to the next sibling route after this one matched"
    )
    matchers: tuple[tuple[Matcher, ...], ...] = setting(
        default=(),
        parse=_matchers,
        expected=_MATCHER,
        one_or_many=True,
        unique=False,
        doc="what an alert must match (a child route only)",
    )
    routes: tuple[RouteConfig, ...] = setting(default=(), unique=False, doc="child routes")
    mute_time_intervals: tuple[str, ...] = setting(
        default=(),
        ref="time interval",
        pattern=NAME_PATTERN,
        expected=_NAME,
        doc="time intervals it sends nothing in",
    )
    active_time_intervals: tuple[str, ...] = setting(
        default=(),
        ref="time interval",
        pattern=NAME_PATTERN,
        expected=_NAME,
        doc="time intervals it only sends in",
    )
    send_resolved: bool | None = setting(default=None, doc="send a message when it resolves")
    priority: Priority | None = setting(default=None, doc="the SMS priority (over the receiver's)")
    # Alertmanager's global resolve_timeout: the root route only (it applies to all)
    resolve_timeout: Duration | None = setting(
        default=None,
        min=1.0,
        max=30 * 86400.0,
        doc="the root route only: an alert not sent again by then is resolved",
    )

    refused_keys: ClassVar[Mapping[str, str]] = {
        "match": _deprecated("match"),
        "match_re": _deprecated("match_re"),
    }


# -- loading -----------------------------------------------------------------------------------


def load_routing(
    nodes: Mapping[str, yaml.Node],
    ctx: Checker,
    *,
    channels: Collection[str],
    check_target: Callable[[str], bool],
    target_names: Iterable[str] = (),
    schedules: Collection[str] = (),
) -> RoutingConfig | None:
    """Validate the routing sections among ``nodes`` (top-level section name -> YAML node).

    :param ctx: where problems are recorded (with file, line and key path).
    :param channels: the configured channel names (``receivers`` and escalation steps use them).
    :param check_target: whether a ``to:`` name (not a phone number) is a configured recipient
        or group.
    :param target_names: the recipient and group names, for "did you mean" hints.
    :param schedules: the ``schedules:`` names (a ``to:`` may name ``schedule:NAME``).
    :returns: the routing config; ``None`` when there is no ``route:`` section (use
        :meth:`RoutingConfig.from_events`) or when problems were recorded in ``ctx``.
    """
    present = [name for name in ROUTING_SECTIONS if name in nodes]
    if not present:
        return None
    before = len(ctx.problems)
    if "route" not in nodes:
        first = present[0]
        ctx.problem(
            nodes[first],
            first,
            "needs a route: section to be used; add route: {receiver: NAME} "
            "(the root route every alert enters)",
        )
        return None
    loader = _RoutingLoader(ctx, set(channels), check_target, set(target_names), set(schedules))
    config = loader.load(nodes)
    if config is None or len(ctx.problems) > before:
        return None
    return config


class _RoutingLoader:
    def __init__(
        self,
        ctx: Checker,
        channels: set[str],
        check_target: Callable[[str], bool],
        target_names: set[str],
        schedules: set[str],
    ) -> None:
        self.ctx = ctx
        self.schedules = schedules
        self.channels = channels
        self.check_target = check_target
        self.target_names = target_names

    def load(self, nodes: Mapping[str, yaml.Node]) -> RoutingConfig | None:
        ctx = self.ctx
        first_ref = len(ctx.references)
        intervals = self._time_intervals(nodes.get("time_intervals"))
        escalations = self._escalations(nodes.get("escalations"))
        receivers = self._receivers(nodes.get("receivers"))
        root = self._root(nodes["route"])
        rules = self._inhibit_rules(nodes.get("inhibit_rules"))
        self._check_references(
            first_ref,
            {
                "receiver": self.receiver_names,
                "escalation": self.escalation_names,
                "time interval": self.interval_names,
                "schedule": self.schedules,
            },
        )
        if root is None or rules is None:
            return None
        try:
            tree = RouteTree(root, time_intervals=intervals)
        except ValueError as err:  # already reported above, in the config's own terms
            if not ctx.problems:
                ctx.problem(nodes["route"], "route", str(err))
            return None
        return RoutingConfig(
            tree=tree,
            receivers=receivers,
            inhibit_rules=rules,
            escalations=escalations,
            resolve_timeout=root.resolve_timeout or DEFAULT_RESOLVE_TIMEOUT,
        )

    def _check_references(self, first: int, defined: Mapping[str, set[str]]) -> None:
        """The names the routing sections referred to (since reference ``first``): receivers,
        escalations and time intervals among their own, channels and recipients among the
        caller's. They are the routing sections' own: taken off the config's references."""
        ctx = self.ctx
        section = {
            "receiver": "receivers",
            "escalation": "escalations",
            "time interval": "time_intervals",
            "schedule": "schedules",
        }
        for ref in ctx.references[first:]:
            if ref.kind == "channel":
                if ref.name in self.channels:
                    continue
                known = ", ".join(sorted(self.channels)) or "none"
                message = (
                    f"no channel named {ref.name!r} in channels"
                    f"{did_you_mean(ref.name, self.channels)}; configured: {known}"
                )
            elif ref.kind == "recipient or group":
                if self.check_target(ref.name):
                    continue
                hint = did_you_mean(ref.name, self.target_names)
                message = f"no recipient or group named {ref.name!r} in recipients or groups{hint}"
            else:
                names = defined[ref.kind]
                if ref.name in names:
                    continue
                known = ", ".join(sorted(names)) or "none"
                message = (
                    f"no {ref.kind} named {ref.name!r} in {section[ref.kind]}"
                    f"{did_you_mean(ref.name, names)}; defined: {known}"
                )
            ctx.problems.append(ConfigProblem(ctx.file, ref.line, ref.path, message))
        del ctx.references[first:]

    def _named(
        self, node: yaml.Node | None, section: str
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        return named_items(node, section, self.ctx)

    def _time_intervals(self, node: yaml.Node | None) -> dict[str, TimeInterval]:
        result: dict[str, TimeInterval] = {}
        self.interval_names: set[str] = set()
        for name, _key, value in self._named(node, "time_intervals"):
            self.interval_names.add(name)
            path = join("time_intervals", name)
            entries = convert(
                value,
                tuple[TimeIntervalEntryConfig, ...],
                path,
                self.ctx,
                min_items=1,
                unique=False,
            )
            if entries is INVALID:
                continue
            for n, entry in enumerate(entries):
                if not entry.location:
                    # A deliberate difference from Alertmanager (UTC): say which zone applies.
                    self.ctx.warn(
                        _item_node(value, n),
                        f"{path}[{n}]",
                        "no location: its times are Asia/Kolkata's (Alertmanager reads them as "
                        "UTC); write location: Asia/Kolkata (or the zone you mean) to say so",
                    )
            result[name] = TimeInterval(
                name,
                tuple(
                    TimeIntervalEntry(
                        times=tuple(parse_time_range(t.start_time, t.end_time) for t in e.times),
                        weekdays=e.weekdays,
                        days_of_month=e.days_of_month,
                        months=e.months,
                        years=e.years,
                        **({"location": e.location} if e.location else {}),
                    )
                    for e in entries
                ),
            )
        return result

    def _escalations(self, node: yaml.Node | None) -> dict[str, EscalationPolicy]:
        result: dict[str, EscalationPolicy] = {}
        self.escalation_names: set[str] = set()
        for name, _key, value_node in self._named(node, "escalations"):
            self.escalation_names.add(name)
            path = join("escalations", name)
            value = convert(value_node, EscalationConfig, path, self.ctx)
            if value is INVALID:
                continue
            steps = tuple(
                EscalationStep(s.after, s.channels, s.to, s.fallback) for s in value.steps
            )
            try:
                result[name] = EscalationPolicy(
                    name,
                    steps,
                    repeat=value.repeat,
                    repeat_every=value.repeat_every,
                    ack_on_answer=value.ack_on_answer,
                    keys=None
                    if value.keys is None
                    else Keys(
                        value.keys.ack,
                        value.keys.escalate,
                        value.keys.resolve,
                        value.keys.instructions,
                        snooze=value.keys.snooze,
                        snooze_for=value.keys.snooze_for,
                    ),
                    ack_timeout=value.ack_timeout,
                )
            except ValueError as err:
                self.ctx.problem(value_node, path, str(err).split(": ", 1)[-1])
        return result

    def _receivers(self, node: yaml.Node | None) -> dict[str, Receiver]:
        result: dict[str, Receiver] = {}
        self.receiver_names: set[str] = set()
        for name, key_node, value_node in self._named(node, "receivers"):
            self.receiver_names.add(name)
            path = join("receivers", name)
            value = convert(value_node, ReceiverConfig, path, self.ctx)
            if value is INVALID:
                continue
            result[name] = Receiver(
                name,
                value.channels or (),
                value.to or (),
                template=value.template,
                priority=value.priority,
                escalation=value.escalation,
                path=path,
                line=self.ctx.line(key_node),
                fallback=value.fallback,
            )
        return result

    def _inhibit_rules(self, node: yaml.Node | None) -> tuple[InhibitRule, ...] | None:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            return ()
        rules = convert(
            node, tuple[InhibitRuleConfig, ...], "inhibit_rules", self.ctx, unique=False
        )
        if rules is INVALID:
            return None
        return tuple(
            InhibitRule(
                _flat(r.source_matchers),
                _flat(r.target_matchers),
                r.equal,
                path=f"inhibit_rules[{i}]",
            )
            for i, r in enumerate(rules)
        )

    # -- routes ---------------------------------------------------------------------------

    def _root(self, node: yaml.Node) -> Route | None:
        ctx = self.ctx
        value = convert(node, RouteConfig, "route", ctx)
        if value is INVALID or not self._children_ok(value, node, "route"):
            return None
        root = _route(value, "route")
        problems = []
        if root.receiver is None:
            problems.append(
                (
                    "receiver",
                    "the root route must name a receiver (what alerts no child route "
                    "takes get): add receiver: NAME",
                )
            )
        if root.matchers:
            problems.append(
                (
                    "matchers",
                    "the root route matches every alert and takes no matchers: move "
                    "them to a child route under routes:",
                )
            )
        if root.continue_:
            problems.append(("continue", "the root route cannot have continue: remove it"))
        for key in ("mute_time_intervals", "active_time_intervals"):
            if getattr(root, key):
                problems.append((key, f"the root route cannot have {key}: put it on a child route"))
        for key, message in problems:
            ctx.problem(_value_node(node, key) or node, join("route", key), message)
        return None if problems else root

    def _children_ok(self, route: RouteConfig, node: yaml.Node, path: str) -> bool:
        """What only the root route may have (``resolve_timeout``), child routes do not."""
        ok = True
        items = _value_node(node, "routes")
        for index, child in enumerate(route.routes):
            child_node = _item_node(items, index) if items is not None else node
            child_path = f"{path}.routes[{index}]"
            assert child_node is not None
            if child.resolve_timeout is not None:
                self.ctx.problem(
                    _value_node(child_node, "resolve_timeout") or child_node,
                    join(child_path, "resolve_timeout"),
                    "resolve_timeout applies to every alert: set it on the root route",
                )
                ok = False
            ok = self._children_ok(child, child_node, child_path) and ok
        return ok


def _route(value: RouteConfig, path: str) -> Route:
    """The route tree's node of a route read from the config (its children too)."""
    return Route(
        receiver=value.receiver,
        matchers=_flat(value.matchers),
        routes=tuple(_route(child, f"{path}.routes[{i}]") for i, child in enumerate(value.routes)),
        continue_=value.continue_,
        group_by=value.group_by,
        group_wait=value.group_wait,
        group_interval=value.group_interval,
        repeat_interval=value.repeat_interval,
        send_resolved=value.send_resolved,
        priority=value.priority,
        mute_time_intervals=value.mute_time_intervals,
        active_time_intervals=value.active_time_intervals,
        resolve_timeout=value.resolve_timeout,
        path=path,
    )


def _item_node(node: yaml.Node, index: int) -> yaml.Node | None:
    """The ``index``-th item of a sequence node (for a line number)."""
    if isinstance(node, yaml.SequenceNode) and index < len(node.value):
        item: yaml.Node = node.value[index]
        return item
    return node


def _value_node(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                return value_node  # type: ignore[no-any-return]
    return None
