"""Loading the routing sections of ``notifykit.yaml``: ``receivers:``, ``route:``,
``inhibit_rules:``, ``time_intervals:`` and ``escalations:``.

:func:`load_routing` reads them from YAML nodes with :mod:`notifykit.config.schema`, so every
problem carries the file, line and key path, unknown keys get a "did you mean", and every reference
is checked once all sections are read: a route naming an unknown receiver or time interval, a
receiver naming an unknown escalation, and (through what the caller passes in) unknown channels and
recipients. :meth:`RoutingConfig.from_events` builds the implicit tree of a config that has only
``events:``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from notifykit.config.schema import (
    INVALID,
    NAME,
    Boolean,
    Checker,
    Choice,
    Duration,
    Field,
    Integer,
    ListOf,
    PhoneNumber,
    String,
    Struct,
    Type,
    describe,
    did_you_mean,
    join,
    named_items,
)
from notifykit.routing.alert import ALL_LABELS
from notifykit.routing.escalation import EscalationPolicy, EscalationStep, Receiver
from notifykit.routing.inhibit import InhibitRule
from notifykit.routing.lifecycle import DEFAULT_RESOLVE_TIMEOUT
from notifykit.routing.matchers import Matcher, MatcherError, parse_matchers
from notifykit.routing.model import PRIORITIES, ROUTING_SECTIONS, RoutingConfig
from notifykit.routing.timeintervals import (
    TimeInterval,
    TimeIntervalEntry,
    TimeIntervalError,
    parse_days_of_month,
    parse_location,
    parse_months,
    parse_time_range,
    parse_weekdays,
    parse_years,
)
from notifykit.routing.tree import Route, RouteTree

__all__ = ["PRIORITIES", "ROUTING_SECTIONS", "RoutingConfig", "load_routing"]

_LABEL = String(r"[A-Za-z_][A-Za-z0-9_]*", "a label name (letters, digits and _)")
_GROUP_LABEL = String(r"[A-Za-z_][A-Za-z0-9_]*|\.\.\.", "a label name, or '...' for every label")


# -- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    kind: str
    name: str
    line: int | None
    path: str


def load_routing(
    nodes: Mapping[str, yaml.Node],
    ctx: Checker,
    *,
    channels: Collection[str],
    check_target: Callable[[str], bool],
    target_names: Iterable[str] = (),
) -> RoutingConfig | None:
    """Validate the routing sections among ``nodes`` (top-level section name -> YAML node).

    :param ctx: where problems are recorded (with file, line and key path).
    :param channels: the configured channel names (``receivers`` and escalation steps use them).
    :param check_target: whether a ``to:`` name (not a phone number) is a configured recipient
        or group.
    :param target_names: the recipient and group names, for "did you mean" hints.
    :returns: the routing config; ``None`` when there is no ``route:`` section (use
        :meth:`RoutingConfig.from_events`) or when problems were recorded in ``ctx``.
    """
    present = [name for name in ROUTING_SECTIONS if name in nodes]
    if not present:
        return None
    before = len(ctx.problems)
    loader = _RoutingLoader(ctx, set(channels), check_target, set(target_names))
    if "route" not in nodes:
        first = present[0]
        ctx.problem(
            nodes[first],
            first,
            "needs a route: section to be used; add route: {receiver: NAME} "
            "(the root route every alert enters)",
        )
        return None
    config = loader.load(nodes)
    if config is None or len(ctx.problems) > before:
        return None
    return config


class _Reference(Type):
    """A name checked once everything is read (receivers, escalations, time intervals)."""

    def __init__(self, kind: str, refs: list[_Ref]) -> None:
        self.kind = kind
        self.refs = refs
        self.description = f"the name of a {kind}"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = NAME.check(node, path, ctx)
        if value is INVALID:
            return INVALID
        self.refs.append(_Ref(self.kind, value, ctx.line(node), path))
        return value


class _Channel(Type):
    description = "a channel name"

    def __init__(self, channels: set[str]) -> None:
        self.channels = channels

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, "a channel name")
        if value is INVALID:
            return INVALID
        if value not in self.channels:
            hint = did_you_mean(value, self.channels)
            known = ", ".join(sorted(self.channels)) or "none"
            return ctx.problem(
                node, path, f"no channel named {value!r} in channels{hint}; configured: {known}"
            )
        return value


class _Target(Type):
    """A ``to:`` entry: a recipient or group name (checked by the caller's callback) or a phone
    number."""

    description = "a recipient, a group or a phone number"

    def __init__(self, check_target: Callable[[str], bool], names: set[str]) -> None:
        self.check_target = check_target
        self.names = names

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = ctx.text(node, path, "a recipient, group or phone number")
        if value is INVALID:
            return INVALID
        if value and (value[0] == "+" or value[0].isdigit()):
            return PhoneNumber().check(node, path, ctx)
        if NAME.check(node, path, ctx) is INVALID:
            return INVALID
        if not self.check_target(value):
            hint = did_you_mean(value, self.names)
            return ctx.problem(
                node, path, f"no recipient or group named {value!r} in recipients or groups{hint}"
            )
        return value


class _Matchers(Type):
    """A ``matchers:`` list; each item one or more matchers (``a="x"`` or ``{a="x", b="y"}``)."""

    description = 'a list of matchers such as severity="critical"'

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        items = ListOf(String(), allow_scalar=True, unique=False).check(node, path, ctx)
        if items is INVALID:
            return INVALID
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        result: list[Matcher] = []
        ok = True
        for index, (item, item_node) in enumerate(zip(items, nodes, strict=True)):
            try:
                result.extend(parse_matchers(item))
            except MatcherError as err:
                item_path = f"{path}[{index}]" if isinstance(node, yaml.SequenceNode) else path
                ctx.problem(item_node, item_path, str(err))
                ok = False
        return tuple(result) if ok else INVALID


class _Parsed(Type):
    """A string read by one of the time interval parsers; their errors become problems."""

    def __init__(self, parse: Callable[[str], Any], description: str) -> None:
        self.parse = parse
        self.description = description

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        text = ctx.text(node, path, self.description)
        if text is INVALID:
            return INVALID
        try:
            return self.parse(str(text))
        except TimeIntervalError as err:
            return ctx.problem(node, path, str(err))


_TIMES_FIELDS = {
    "start_time": Field(String(), required=True, help="HH:MM, inclusive"),
    "end_time": Field(String(), required=True, help="HH:MM (24:00 allowed), exclusive"),
}


class _TimeRangeType(Type):
    description = "{start_time: 'HH:MM', end_time: 'HH:MM'}"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        value = Struct(_TIMES_FIELDS).check(node, path, ctx)
        if value is INVALID:
            return INVALID
        try:
            return parse_time_range(value["start_time"], value["end_time"])
        except TimeIntervalError as err:
            return ctx.problem(node, path, str(err))


_ENTRY = Struct(
    {
        "times": Field(ListOf(_TimeRangeType(), unique=False), default=[]),
        "weekdays": Field(
            ListOf(_Parsed(parse_weekdays, "a weekday or range (monday:friday)"), unique=False),
            default=[],
        ),
        "days_of_month": Field(
            ListOf(
                _Parsed(parse_days_of_month, "a day of the month or range (1:7, -1)"), unique=False
            ),
            default=[],
        ),
        "months": Field(
            ListOf(_Parsed(parse_months, "a month or range (january:march, 1:3)"), unique=False),
            default=[],
        ),
        "years": Field(
            ListOf(_Parsed(parse_years, "a year or range (2026:2027)"), unique=False), default=[]
        ),
        "location": Field(_Parsed(parse_location, "an IANA time zone (Asia/Kolkata)")),
    }
)


class _RoutingLoader:
    def __init__(
        self,
        ctx: Checker,
        channels: set[str],
        check_target: Callable[[str], bool],
        target_names: set[str],
    ) -> None:
        self.ctx = ctx
        self.refs: list[_Ref] = []
        channel_list = ListOf(_Channel(channels), allow_scalar=True, min_items=1)
        targets = ListOf(_Target(check_target, target_names), allow_scalar=True, min_items=1)
        self.receiver_schema = Struct(
            {
                "channels": Field(channel_list, help="the channels it sends through"),
                "to": Field(targets, help="recipients, groups or phone numbers"),
                "template": Field(String(), help="overrides the event's template"),
                "priority": Field(Choice(PRIORITIES), help="the SMS priority"),
                "escalation": Field(_Reference("escalation", self.refs)),
            }
        )
        self.step_schema = Struct(
            {
                "after": Field(Duration(), required=True, help="from the start of the escalation"),
                "channels": Field(channel_list, required=True),
                "to": Field(targets, required=True),
            }
        )
        self.policy_schema = Struct(
            {
                "steps": Field(ListOf(self.step_schema, min_items=1, unique=False), required=True),
                "repeat": Field(Integer(0, 100), default=0),
                "repeat_every": Field(Duration(minimum=1.0)),
                "ack_on_answer": Field(Boolean(), default=False),
            }
        )
        self.inhibit_schema = Struct(
            {
                "source_matchers": Field(_Matchers(), required=True),
                "target_matchers": Field(_Matchers(), required=True),
                "equal": Field(ListOf(_LABEL), default=[]),
            }
        )
        intervals = ListOf(_Reference("time interval", self.refs))
        self.route_fields: dict[str, Field] = {
            "receiver": Field(_Reference("receiver", self.refs)),
            "group_by": Field(ListOf(_GROUP_LABEL, min_items=1)),
            "group_wait": Field(Duration(0.0, 86400.0)),
            "group_interval": Field(Duration(1.0, 7 * 86400.0)),
            # 0s is an extension: every alert is sent (no dedup); Alertmanager refuses 0.
            "repeat_interval": Field(Duration(0.0, 365 * 86400.0)),
            "continue": Field(Boolean(), default=False),
            "matchers": Field(_Matchers(), default=()),
            "routes": Field(_RouteList(self), default=[]),
            "mute_time_intervals": Field(intervals, default=[]),
            "active_time_intervals": Field(intervals, default=[]),
            "send_resolved": Field(Boolean()),
            "priority": Field(Choice(PRIORITIES)),
            # Alertmanager's global resolve_timeout: the root route only (it applies to all)
            "resolve_timeout": Field(Duration(1.0, 30 * 86400.0)),
        }

    # -- sections -------------------------------------------------------------------------

    def load(self, nodes: Mapping[str, yaml.Node]) -> RoutingConfig | None:
        ctx = self.ctx
        intervals = self._time_intervals(nodes.get("time_intervals"))
        escalations = self._escalations(nodes.get("escalations"))
        receivers = self._receivers(nodes.get("receivers"))
        root = self._root(nodes["route"])
        rules = self._inhibit_rules(nodes.get("inhibit_rules"))
        defined = {
            "receiver": set(receivers) | self.receiver_names,
            "escalation": set(escalations) | self.escalation_names,
            "time interval": set(intervals) | self.interval_names,
        }
        section = {
            "receiver": "receivers",
            "escalation": "escalations",
            "time interval": "time_intervals",
        }
        for ref in self.refs:
            names = defined[ref.kind]
            if ref.name in names:
                continue
            known = ", ".join(sorted(names)) or "none"
            ctx.problems.append(
                _problem(
                    ctx,
                    ref.line,
                    ref.path,
                    f"no {ref.kind} named {ref.name!r} in {section[ref.kind]}"
                    f"{did_you_mean(ref.name, names)}; defined: {known}",
                )
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
            entries = ListOf(_ENTRY, min_items=1, unique=False).check(value, path, self.ctx)
            if entries is INVALID:
                continue
            for n, entry in enumerate(entries):
                if not entry["location"]:
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
                        times=tuple(e["times"]),
                        weekdays=tuple(e["weekdays"]),
                        days_of_month=tuple(e["days_of_month"]),
                        months=tuple(e["months"]),
                        years=tuple(e["years"]),
                        **({"location": e["location"]} if e["location"] else {}),
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
            value = self.policy_schema.check(value_node, path, self.ctx)
            if value is INVALID:
                continue
            steps = tuple(
                EscalationStep(s["after"], tuple(s["channels"]), tuple(s["to"]))
                for s in value["steps"]
            )
            try:
                result[name] = EscalationPolicy(
                    name,
                    steps,
                    repeat=value["repeat"],
                    repeat_every=value["repeat_every"],
                    ack_on_answer=value["ack_on_answer"],
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
            value = self.receiver_schema.check(value_node, path, self.ctx)
            if value is INVALID:
                continue
            direct = value["channels"] is not None or value["to"] is not None
            if value["escalation"] is not None and direct:
                self.ctx.problem(
                    value_node,
                    path,
                    "a receiver sends either through channels: and to:, or through an "
                    "escalation: (whose steps name their channels), not both; remove one",
                )
                continue
            if value["escalation"] is None and (value["channels"] is None or value["to"] is None):
                missing = "to:" if value["channels"] is not None else "channels:"
                if not direct:
                    message = "a receiver needs channels: and to:, or escalation: NAME"
                else:
                    message = (
                        f"missing {missing}: a receiver with channels needs to: and vice versa"
                    )
                self.ctx.problem(value_node, path, message)
                continue
            result[name] = Receiver(
                name,
                tuple(value["channels"] or ()),
                tuple(value["to"] or ()),
                template=value["template"],
                priority=value["priority"],
                escalation=value["escalation"],
                path=path,
                line=self.ctx.line(key_node),
            )
        return result

    def _inhibit_rules(self, node: yaml.Node | None) -> tuple[InhibitRule, ...] | None:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            return ()
        rules = ListOf(self.inhibit_schema, unique=False).check(node, "inhibit_rules", self.ctx)
        if rules is INVALID:
            return None
        return tuple(
            InhibitRule(
                tuple(r["source_matchers"]),
                tuple(r["target_matchers"]),
                tuple(r["equal"]),
                path=f"inhibit_rules[{i}]",
            )
            for i, r in enumerate(rules)
        )

    # -- routes ---------------------------------------------------------------------------

    def _root(self, node: yaml.Node) -> Route | None:
        ctx = self.ctx
        root = self.route(node, "route", root=True)
        if root is None:
            return None
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

    def route(self, node: yaml.Node, path: str, *, root: bool = False) -> Route | None:
        ctx = self.ctx
        ignore = set()
        if isinstance(node, yaml.MappingNode):
            for key_node, _value in node.value:
                key = getattr(key_node, "value", None)
                if key in ("match", "match_re"):
                    ignore.add(key)
                    ctx.problem(
                        key_node,
                        join(path, key),
                        f"{key}: is Alertmanager's deprecated form: write matchers: "
                        "['label=\"value\"'] (or 'label=~\"regex\"')",
                    )
        value = Struct(self.route_fields).check_with(node, path, ctx, ignore=frozenset(ignore))
        if value is INVALID or ignore:
            return None
        if not root and value["resolve_timeout"] is not None:
            ctx.problem(
                _value_node(node, "resolve_timeout") or node,
                join(path, "resolve_timeout"),
                "resolve_timeout applies to every alert: set it on the root route",
            )
            return None
        group_by = value["group_by"]
        if group_by is not None and ALL_LABELS in group_by and len(group_by) > 1:
            ctx.problem(
                _value_node(node, "group_by"),
                join(path, "group_by"),
                "'...' means every label and must be alone: group_by: ['...']",
            )
            return None
        return Route(
            receiver=value["receiver"],
            matchers=tuple(value["matchers"]),
            routes=tuple(value["routes"]),
            continue_=value["continue"],
            group_by=tuple(group_by) if group_by is not None else None,
            group_wait=value["group_wait"],
            group_interval=value["group_interval"],
            repeat_interval=value["repeat_interval"],
            send_resolved=value["send_resolved"],
            priority=value["priority"],
            mute_time_intervals=tuple(value["mute_time_intervals"]),
            active_time_intervals=tuple(value["active_time_intervals"]),
            resolve_timeout=value["resolve_timeout"],
            path=path,
        )


class _RouteList(Type):
    """``routes:``: child routes, read by the same loader (the tree is recursive)."""

    description = "a list of routes"

    def __init__(self, loader: _RoutingLoader) -> None:
        self.loader = loader

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            return ctx.problem(node, path, f"expected a list of routes, got {describe(node)}")
        result = []
        ok = True
        for index, item in enumerate(node.value):
            route = self.loader.route(item, f"{path}[{index}]")
            if route is None:
                ok = False
            else:
                result.append(route)
        return result if ok else INVALID


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


def _problem(ctx: Checker, line: int | None, path: str, message: str) -> Any:
    from notifykit.errors import ConfigProblem

    return ConfigProblem(ctx.file, line, path, message)
